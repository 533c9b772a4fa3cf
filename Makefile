# Two commands on a fresh clone: `make sweep` and `make test`.
# Both create .venv and install the project with its dependencies when missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
ARGS   ?=

.PHONY: venv sweep question test bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,dask]'
	touch $(STAMP)

venv: $(STAMP)

## the default sweep: results/default/ (extra options: make sweep ARGS="--jobs 1 --set epochs=5")
sweep: $(STAMP)
	$(BIN)/python -m experiments sweep $(ARGS)

## the question's network and its ablations: results/question/
question: $(STAMP)
	$(BIN)/python -m experiments sweep --config question $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m benchmarks.bench $(ARGS)

clean:
	rm -rf results/*/ .pytest_cache build *.egg-info
	find . -name __pycache__ -type d -prune -not -path './$(VENV)/*' -exec rm -rf {} +
