#!/bin/bash
# Train and test one QM9 config on each of the 12 targets in turn (the papers' protocol: one model per
# target), each in runs/qm9/<config>/<target>; a killed sequence resumes where it stopped
# (finished targets are skipped, an interrupted one continues from its last checkpoint).
#
#   scripts/qm9_all_targets.sh configs/qm9/lieconv_t3_aug_paper.yaml [extra lieformer arguments...]
#   TARGETS="homo lumo gap" scripts/qm9_all_targets.sh configs/qm9/lieconv_t3_cpu.yaml --trainer.max_steps 2000
#
# Test MAE per target (papers' units) ends up in runs/qm9/<config>/<target>/logs_test/version_0/metrics.csv
# and is collected in runs/qm9/<config>/summary.csv.
set -euo pipefail
config=${1:?usage: $0 CONFIG [lieformer arguments...]}
shift
LIEFORMER=${LIEFORMER:-lieformer}
TARGETS=${TARGETS:-"alpha gap homo lumo mu Cv G H U U0 r2 zpve"}
root=runs/qm9/$(basename "$config" .yaml)
mkdir -p "$root"
for target in $TARGETS; do
  dir=$root/$target
  if [ -f "$dir/done" ]; then echo "== $target: done already ($dir)"; continue; fi
  echo "== $target: training in $dir"
  $LIEFORMER fit --config "$config" --data.targets "[$target]" --trainer.default_root_dir "$dir" --ckpt_path last "$@"
  $LIEFORMER test --config "$config" --data.targets "[$target]" --trainer.default_root_dir "$dir" --ckpt_path last \
    --data.n_valid null "$@"
  touch "$dir/done"
done
python3 - "$root" $TARGETS <<'PY'
import csv, sys
from pathlib import Path
root, targets = Path(sys.argv[1]), sys.argv[2:]
rows = []
for t in targets:
    found = sorted((root / t).glob("logs_test/version_*/metrics.csv"))
    if not found:
        continue
    last = list(csv.DictReader(open(found[-1])))[-1]
    rows.append({"target": t, "valid_mae": last.get(f"test/valid/mae_{t}", ""), "test_mae": last.get(f"test/test/mae_{t}", "")})
with open(root / "summary.csv", "w", newline="") as f:
    w = csv.DictWriter(f, ["target", "valid_mae", "test_mae"]); w.writeheader(); w.writerows(rows)
for r in rows:
    print(f"{r['target']:>6}  valid {r['valid_mae']}  test {r['test_mae']}")
PY
