# The two commands README.md promises, and a few more for developers.
VENV   ?= .venv
PYTHON ?= python3

.PHONY: demo test test-long bench clean

# scripts/bootstrap is cheap when nothing changed, so every target runs it.
demo:
	PYTHON=$(PYTHON) VENV=$(VENV) scripts/bootstrap && $(VENV)/bin/gatebook demo

test:
	PYTHON=$(PYTHON) VENV=$(VENV) scripts/bootstrap && $(VENV)/bin/python -m pytest -n 2

test-long:
	PYTHON=$(PYTHON) VENV=$(VENV) scripts/bootstrap && $(VENV)/bin/python -m pytest --run-long

bench:
	PYTHON=$(PYTHON) VENV=$(VENV) scripts/bootstrap && $(VENV)/bin/gatebook bench

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
