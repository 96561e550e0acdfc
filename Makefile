# fastaudio-bench. Every target creates or reuses .venv and installs what it needs.
SHELL := /bin/bash
PY := .venv/bin/python
STAMP := .venv/.installed-$(shell cat pyproject.toml Makefile | sha1sum | cut -c1-12)
RUN_ID := $(shell date +%Y%m%d-%H%M%S)
SHARED := ../shared

.PHONY: install test test-slow bench lint clean

$(STAMP):
	@test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	# torch 2.13.0: a local CPU wheel on the project's machines (any torch >= 2.1 works)
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[litert,dev]'
	# aisfx 0.1.2 declares unsatisfiable pins (numpy==1.23.0, librosa==0.9.2): install its code only
	$(PY) -m pip install -q --no-deps aisfx==0.1.2
	@rm -f .venv/.installed-*; touch $@

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q -m "not slow and not gpu" -p no:randomly

test-slow: $(STAMP)
	$(PY) -m pytest -q -m "slow"

# Main job (until the benchmark runner lands): evaluate real ESC-50 CC-BY clips against CC0 clips (all 50 classes) when
# ../shared is present, else an embedded synthetic set generated on the fly.
bench: $(STAMP)
	@mkdir -p runs
	@if [ -f $(SHARED)/data/esc50-cc/manifest.csv ]; then \
	  $(PY) -m bench eval --gen $(SHARED)/data/esc50-cc/manifest.csv --gen-where license=CC-BY \
	    --ref $(SHARED)/data/esc50-cc/manifest.csv --ref-where license=CC0 --out runs/eval-esc50-$(RUN_ID); \
	else \
	  $(PY) -m bench demo-data --out runs/demo-data && \
	  $(PY) -m bench eval --gen runs/demo-data/gen.csv --ref runs/demo-data/ref.csv \
	    --out runs/eval-demo-$(RUN_ID); \
	fi

lint: $(STAMP)
	$(PY) -m ruff check bench metrics systems tests

clean:
	rm -rf .venv .pytest_cache
