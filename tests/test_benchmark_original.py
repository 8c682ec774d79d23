"""benchmarks/original.py without the original: its input images, its ratios and table rows, its
child processes (lieformer at a tiny configuration, a stand-in `lie_conv` package for the
original's side) and its errors for a --lieconv that is not a LieConv checkout."""

from __future__ import annotations

import importlib.util
import json
import os
import statistics
import sys
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SRC = Path(__file__).resolve().parents[1] / "src"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


original = _load("original")


def test_images_give_back_the_points_under_the_originals_crop():
    """ImgLieResnet.forward (lieConv.py) reads an image (B, c, h, w) at linspace(−h/2, h/2, h)²
    within radius 15, row-major: it must recover exactly the points and values lieformer gets."""
    data = original.batch("rotmnist")
    image = data["image"]
    assert image.shape == (25, 1, 28, 28)
    h, w = image.shape[-2:]
    i, j = torch.linspace(-h / 2.0, h / 2.0, h), torch.linspace(-w / 2.0, w / 2.0, w)
    coords = torch.stack(torch.meshgrid([i, j], indexing="ij"), dim=-1).float()
    centre = coords.norm(dim=-1) < 15.0
    torch.testing.assert_close(coords[centre].expand_as(data["coords"]), data["coords"], rtol=0, atol=0)
    torch.testing.assert_close(image.permute(0, 2, 3, 1)[:, centre, :], data["values"], rtol=0, atol=0)
    assert image[:, 0, ~centre].abs().sum() == 0


def test_summary_takes_medians_over_rounds_and_both_ratios():
    rounds = {"original": [{"seconds": 4.0, "peak_mb": 2000.0}, {"seconds": 6.0, "peak_mb": 2200.0},
                           {"seconds": 9.0, "peak_mb": 2100.0}],
              "lieformer": [{"seconds": 1.0, "peak_mb": 500.0}, {"seconds": 3.0, "peak_mb": 550.0},
                            {"seconds": 2.0, "peak_mb": 525.0}]}
    s = original.summarise(rounds)
    assert s["original"] == {"seconds": 6.0, "peak_mb": 2100.0}
    assert s["lieformer"] == {"seconds": 2.0, "peak_mb": 525.0}
    assert s["speedup"] == pytest.approx(3.0)  # original / lieformer time
    assert s["memory"] == pytest.approx(0.25)  # lieformer / original memory
    assert s["round_speedups"] == pytest.approx([4.0, 2.0, 4.5])
    row = original.table_row("cfg", s)
    assert row == "| cfg | 6.000 | 2100 | 2.000 | 525 | 3.00× | 0.25× | 4.00 / 2.00 / 4.50 |"


def test_a_failing_side_is_reported_in_its_row():
    rounds = {"original": [{"error": "RuntimeError: out of memory"}],
              "lieformer": [{"seconds": 1.5, "peak_mb": 800.0}]}
    row = original.table_row("rotmnist-T2", original.summarise(rounds))
    assert row.startswith("| rotmnist-T2 | failed: RuntimeError: out of memory |  | 1.500 | 800 | n/a | n/a |")


def test_rounds_alternate_which_side_runs_first():
    assert [original.round_order(r) for r in range(3)] == [
        ("original", "lieformer"), ("lieformer", "original"), ("original", "lieformer")]


@pytest.fixture()
def tiny_batch(tmp_path):
    gen = torch.Generator().manual_seed(0)
    data = {"coords": torch.randn(2, 10, 2, generator=gen), "values": torch.rand(2, 10, 1, generator=gen),
            "mask": torch.ones(2, 10, dtype=torch.bool), "outputs": 3}
    path = tmp_path / "batch.pt"
    torch.save(data, path)
    return str(path)


def test_lieformer_child_times_the_requested_steps(tiny_batch):
    spec = {"model": "LieResNet", "group": "T(2)", "lift_samples": 1,
            "kwargs": {"k": 8, "num_layers": 1, "nbhd": 4, "fill": 0.5}}
    result = original.run_side(sys.executable, str(SRC), "lieformer", spec, tiny_batch, repeats=3, threads=1)
    assert "error" not in result, result
    assert len(result["times"]) == 3  # the warm-up step is not among them
    assert result["seconds"] == statistics.median(result["times"])
    assert result["peak_mb"] > 50  # ru_maxrss (KiB on Linux) in MiB: a process with torch loaded
    assert Path(result["package"]).parent == SRC / "lieformer"


def test_a_child_that_imports_its_package_from_elsewhere_is_an_error(tmp_path, tiny_batch):
    """--lieformer-src names a tree without the package, and the child finds another one (here
    later on its path; an installed lieformer would do the same)."""
    (tmp_path / "src").mkdir()
    spec = {"model": "LieResNet", "group": "T(2)", "lift_samples": 1,
            "kwargs": {"k": 8, "num_layers": 1, "nbhd": 4, "fill": 0.5}}
    pythonpath = f"{tmp_path / 'src'}{os.pathsep}{SRC}"
    result = original.run_side(sys.executable, pythonpath, "lieformer", spec, tiny_batch, repeats=1, threads=1)
    assert result["error"].startswith("lieformer was imported from ")
    assert result["error"].endswith(f"not from {pythonpath}")


FAKE_LIE_CONV = {
    "__init__.py": "",
    "lieGroups.py": "class T:\n    def __init__(self, k):\n        self.spec = f'T({k})'\n"
                    "class SE3:\n    def __init__(self, alpha=0.2):\n        self.spec = f'SE3({alpha})'\n",
    "lieConv.py": """
import json, os, torch

class LieResNet(torch.nn.Module):  # records how it was built and what it was given
    def __init__(self, group, **kwargs):
        super().__init__()
        self.linear = torch.nn.Linear(kwargs['chin'], kwargs['num_outputs'])
        self.record = {'group': group.spec, **kwargs}

    def forward(self, x):
        coords, values, mask = x
        self.record.update(shapes=[list(t.shape) for t in x], calls=self.record.get('calls', 0) + 1)
        with open(os.environ['FAKE_RECORD'], 'w') as f:
            json.dump(self.record, f)
        return self.linear(values).mean(1)
""",
}


def _fake_checkout(root: Path, files: dict[str, str]) -> Path:
    (root / "lie_conv").mkdir(parents=True)
    for name, text in files.items():
        (root / "lie_conv" / name).write_text(text)
    return root


def test_original_child_builds_the_molecule_net_from_the_originals_package(tmp_path, monkeypatch):
    """The original's side gets train_molec.py's settings and the QM9 batch, imports lie_conv from
    --lieconv, and times warm-up + repeats steps."""
    checkout = _fake_checkout(tmp_path / "LieConv", FAKE_LIE_CONV)
    record = tmp_path / "record.json"
    monkeypatch.setenv("FAKE_RECORD", str(record))
    data = tmp_path / "qm9.pt"
    torch.save(original.batch("qm9"), data)
    spec = original.specs("qm9-SE3x4")["original"]
    result = original.run_side(sys.executable, str(checkout), "original", spec, str(data), repeats=2, threads=1)
    assert "error" not in result, result
    built = json.loads(record.read_text())
    assert built == {"group": "SE3(0.2)", "k": 1536, "num_layers": 6, "nbhd": 25, "fill": 0.5, "chin": 15,
                     "num_outputs": 1, "ds_frac": 1, "bn": True, "act": "swish", "mean": True, "liftsamples": 4,
                     "shapes": [[32, 18, 3], [32, 18, 15], [32, 18]], "calls": 3}


def test_original_child_refuses_a_package_that_imports_lieformer(tmp_path, monkeypatch, tiny_batch):
    files = {**FAKE_LIE_CONV, "lieGroups.py": "import lieformer\n" + FAKE_LIE_CONV["lieGroups.py"]}
    checkout = _fake_checkout(tmp_path / "LieConv", files)
    monkeypatch.setenv("FAKE_RECORD", str(tmp_path / "record.json"))
    # lieformer importable in the child, as when --python is lieformer's own environment
    pythonpath = f"{checkout}:{SRC}"
    spec = {"model": "LieResNet", "group": "T(2)", "kwargs": {"chin": 1, "num_outputs": 1}}
    result = original.run_side(sys.executable, pythonpath, "original", spec, tiny_batch, repeats=1, threads=1)
    assert result == {"error": "step_timer: the original's process imported lieformer"}


def test_lieconv_that_is_not_a_checkout_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        original.main(["--lieconv", str(tmp_path), "--python", sys.executable, "--only", "qm9-T3"])
    message = str(exit_info.value)
    assert f"--lieconv {tmp_path}: not a checkout of mfinzi/LieConv" in message
    assert "git clone https://github.com/mfinzi/LieConv" in message


def test_python_that_cannot_import_the_original_is_a_clear_error(tmp_path):
    checkout = _fake_checkout(tmp_path / "LieConv", {"__init__.py": "", "lieConv.py": "import olive_oil_missing\n"})
    with pytest.raises(SystemExit) as exit_info:
        original.main(["--lieconv", str(checkout), "--python", sys.executable, "--only", "qm9-T3"])
    message = str(exit_info.value)
    assert f"--python {sys.executable} cannot import the original from --lieconv {checkout}" in message
    assert "No module named 'olive_oil_missing'" in message
