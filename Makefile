# The two commands README.md promises, and a few more for developers.
VENV   ?= .venv
PYTHON ?= python3
STAMP  := $(VENV)/.bootstrapped

.PHONY: demo test test-long bench clean

demo: $(STAMP)
	$(VENV)/bin/gatebook demo

test: $(STAMP)
	$(VENV)/bin/python -m pytest

test-long: $(STAMP)
	$(VENV)/bin/python -m pytest --run-long

bench: $(STAMP)
	$(VENV)/bin/gatebook bench

$(STAMP): pyproject.toml scripts/bootstrap scripts/system-packages.txt
	PYTHON=$(PYTHON) VENV=$(VENV) scripts/bootstrap
	touch $@

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
