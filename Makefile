# Two commands do all set-up on a fresh machine:
#   make demo   -> creates .venv, installs midivae, runs the demo
#   make test   -> creates .venv, installs midivae[dev], runs the tests
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo studio test bench clean

$(VENV)/.installed: pyproject.toml scripts/setup-venv.sh
	bash scripts/setup-venv.sh studio
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	bash scripts/setup-venv.sh dev
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/midivae demo

studio: $(VENV)/.installed
	$(VENV)/bin/midivae studio

test: $(VENV)/.installed-dev
	$(PY) -m pytest -q

bench: $(VENV)/.installed-dev
	$(PY) benchmarks/quantize.py

clean:
	rm -rf $(VENV) build *.egg-info
