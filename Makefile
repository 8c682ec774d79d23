# Quick start: `make demo` (train and compare two models on generated data) and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test test-slow bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m lieformer.demo

test: $(STAMP)
	$(PY) -m pytest

test-slow: $(STAMP)
	$(PY) -m pytest -m slow

bench: $(STAMP)   # every table of BENCHMARKS.md (about half an hour on 2 cores)
	$(PY) benchmarks/layers.py
	$(PY) benchmarks/attention_dense.py
	$(PY) benchmarks/scaling.py --points 1000 3000 10000 30000 100000
	$(PY) benchmarks/scaling.py --points 1000 3000 10000 30000 100000 --model LieTransformer
	$(PY) benchmarks/throughput.py
	$(PY) benchmarks/stages.py
	@# beside the original LieConv, only when a checkout is given: make bench LIECONV=../LieConv
	@# [LIECONV_PYTHON=../venv-original/bin/python] (any interpreter with torch and numpy; BENCHMARKS.md §1)
	@if [ -n "$(LIECONV)" ]; then $(PY) benchmarks/original.py --lieconv "$(LIECONV)" \
		--python "$(or $(LIECONV_PYTHON),$(PY))"; else echo "bench: LIECONV unset, original LieConv not run"; fi

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
