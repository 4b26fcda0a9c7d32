# Two commands set everything up (see README):
#   make serve   install what is missing, then start the app on http://127.0.0.1:7860
#   make test    install what is missing (with the test extras), then run the test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The CPU build on CPU-only machines; installed before the project so nothing pulls CUDA packages.
TORCH  := torch==2.13.0

.PHONY: serve test install install-test
serve: install
	$(BIN)/latentlab serve $(ARGS)

test: install-test
	$(BIN)/python -m pytest $(ARGS)

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.torch: | $(BIN)/python
	$(BIN)/pip install -q $(TORCH)
	touch $@

$(VENV)/.installed: pyproject.toml $(VENV)/.torch
	bash scripts/system-deps.sh
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.torch
	bash scripts/system-deps.sh --test
	$(BIN)/pip install -q -e ".[test]"
	touch $(VENV)/.installed $@
