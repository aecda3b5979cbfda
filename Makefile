# Two commands do all set-up on a fresh machine:
#   make demo   -> creates .venv, installs midivae, runs the demo
#   make test   -> creates .venv, installs midivae[dev], runs the tests (make test-slow: the
#                  end-to-end subprocess runs; CI runs both)
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo studio test test-slow bench clean

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

# the suite on every core (pytest-xdist), each file's tests in one worker so that its
# fixtures are built once; the end-to-end subprocess runs marked slow are test-slow's
test: $(VENV)/.installed-dev
	$(PY) -m pytest -q -n auto --dist loadfile -m "not slow"

test-slow: $(VENV)/.installed-dev
	$(PY) -m pytest -q -n auto --dist loadfile -m slow

bench: $(VENV)/.installed-dev
	$(PY) benchmarks/quantize.py

clean:
	rm -rf $(VENV) build *.egg-info
