# fastaudio-bench. Every target creates or reuses .venv and installs what it needs.
SHELL := /bin/bash
PY := .venv/bin/python
STAMP := .venv/.installed-$(shell cat pyproject.toml Makefile | sha1sum | cut -c1-12)
RUN_ID := $(shell date +%Y%m%d-%H%M%S)
SHARED := ../shared

.PHONY: bench test report reproduce

$(STAMP):
	@test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	# torch 2.13.0: a local CPU wheel on the project's machines (any torch >= 2.1 works)
	$(PY) -m pip install -q torch==2.13.0
	# diffusers: the released-model adapters' tests build tiny random pipelines offline
	$(PY) -m pip install -q -e '.[litert,dev,diffusers]'
	# aisfx 0.1.2 declares unsatisfiable pins (numpy==1.23.0, librosa==0.9.2): install its code only
	$(PY) -m pip install -q --no-deps aisfx==0.1.2
	@rm -f .venv/.installed-*; touch $@


test: $(STAMP)
	$(PY) -m pytest -q -m "not slow and not gpu" -p no:randomly

# Main job: train or reuse the tiny shared components, run the embedded sfx-mini protocol over
# every registered system, and write the leaderboard (Markdown, CSV, HTML) next to the run.
bench: $(STAMP)
	@mkdir -p runs
	$(PY) -m bench run sfx-mini --out runs/sfx-mini-$(RUN_ID)
	$(PY) -m bench report runs/sfx-mini-$(RUN_ID) --out runs/sfx-mini-$(RUN_ID)/report
	@ln -sfn sfx-mini-$(RUN_ID) runs/latest
	@echo "leaderboard: runs/sfx-mini-$(RUN_ID)/report/leaderboard.html"

# Leaderboard of the latest run (or RUNS="runs/a runs/b").
RUNS ?= runs/latest
report: $(STAMP)
	$(PY) -m bench report $(RUNS) --out runs/report-$(RUN_ID)

# Reproduction card of one paper (PAPER=audioturbo): runs the card's protocol (reusing trained
# systems and caches) and judges the paper's claims; report in runs/reproduce-PAPER-<time>/.
PAPER ?= audioturbo
reproduce: $(STAMP)
	@mkdir -p runs
	$(PY) -m bench reproduce $(PAPER) --out runs/reproduce-$(PAPER)-$(RUN_ID)
