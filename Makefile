# The two front-door commands:
#   make run   -- set up .venv and open the visualizer on the default network
#                (renders into renders/ where there is no display)
#   make test  -- set up .venv (and the Xvfb/Mesa packages the GUI tests need) and run the suite
PY      := .venv/bin/python
STAMP   := .venv/.requirements-stamp
PYTEST_ARGS ?=

.PHONY: setup cpu-ops run test test-gpu gpu-report lint bench system-deps clean campaign gpu-slice gpu-adopt

setup: $(STAMP)

$(STAMP): requirements.txt
	python3 -m venv .venv
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

# Debian packages for a real window under Xvfb (GUI tests) and software OpenGL. Skipped when present
# or when we are not root (the GUI tests then skip with a message saying what is missing).
system-deps:
	@if ! command -v Xvfb >/dev/null 2>&1 || ! command -v xdotool >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      xvfb xauth xdotool libgl1 libegl1 libgl1-mesa-dri libosmesa6 >/dev/null; \
	  else echo "note: Xvfb/xdotool missing and cannot install them; GUI tests will skip"; fi; \
	fi

# The fused CPU filtered_lrelu (ops/cpu) is compiled once with ninja (1-2 min, then loaded from
# ~/.cache/aliasfree/cpu_ops in about a second); without a compiler the PyTorch path is used.
cpu-ops: setup
	$(PY) -m ops.cpu

run: setup cpu-ops
	$(PY) visualizer.py $(ARGS)

test: setup system-deps cpu-ops
	$(PY) -m pytest $(PYTEST_ARGS)

test-gpu: setup
	$(PY) -m pytest -m cuda $(PYTEST_ARGS)

# GPU report (benchmarks/gpu_report.py): on a CUDA machine <= 8 minutes, gpu-report.{json,md} into $OUT or
# renders/. ARGS="--nvlabs DIR" compares with a checkout of NVlabs/stylegan3; ARGS=--cpu-rehearsal rehearses it on
# the CPU. With PY=python3 (a machine whose own Python has torch) no .venv is set up.
gpu-report: $(if $(filter .venv/bin/python,$(PY)),setup)
	$(PY) -m benchmarks.gpu_report $(ARGS)

lint: setup
	.venv/bin/ruff check .

# The training campaign of the default networks (docs/training.md): one resumable slice of states/$(NET) in the
# background at low priority, for $(MINUTES) of wall clock (end it well before the session ends), then commit
# states/$(NET) and states/$(NET)-run. The dataset is rebuilt deterministically from the installed packages.
# ARGS adds train_slice options, e.g. ARGS="--glr 0.001 --dlr 0.001 --ema-kimg 10" for a late phase.
NET     ?= sg3t
MINUTES ?= 60
data/photos-64.zip: | setup
	$(PY) -m tools.dataset_tool --source builtin:photos --count 10000 --dest $@ --resolution 64x64 --seed 0

campaign: setup cpu-ops data/photos-64.zip
	@test -f states/$(NET)/state.json || { echo "error: no state in states/$(NET)"; exit 1; }
	@mkdir -p states/$(NET)-run
	@nohup nice -n 10 $(PY) -m tools.train_slice --state states/$(NET) --minutes $(MINUTES) --save-every 15 \
	    $(ARGS) > states/$(NET)-run/slice.out 2>&1 & echo "slice of states/$(NET) started, PID $$!, log states/$(NET)-run/log.txt"

# One slice on a lent GPU machine (docs/training.md, "On a GPU slot"), e.g.
#   make gpu-slice PY=python3 NET=sg3r MINUTES=7 [INIT="--init --cfg stylegan3-r ..."]
# builds the dataset if missing, trains $(STATES)/$(NET) into $$OUT/$(NET) (the committed state is only read) and
# keeps what a slot hands back (at most 8 files): the state, the logs and the newest grid of $$OUT/$(NET)-run.
# The ops take the PyTorch path (IMPL=torch): the CUDA kernels would spend a minute of the slot building, and have
# not yet passed the whole parity suite on a GPU (IMPL=auto uses them).
STATES ?= states
DATA   ?= data/photos-64.zip
IMPL   ?= torch
gpu-slice: $(if $(filter .venv/bin/python,$(PY)),setup)
	@test -n "$$OUT" || { echo "error: OUT is not set (the folder the slot hands back)"; exit 2; }
	@test -f $(DATA) || $(PY) -m tools.dataset_tool --source builtin:photos --count 10000 --dest $(DATA) \
	    --resolution 64x64 --seed 0
	ALIASFREE_OPS_IMPL=$(IMPL) $(PY) -m tools.train_slice --state $(STATES)/$(NET) --save-to "$$OUT/$(NET)" \
	    --minutes $(MINUTES) \
	    --save-every 2 --data $(DATA) $(INIT)
	@cd "$$OUT/$(NET)-run" && rm -f reals.png fakes_init.png && ls -t fakes*.png 2>/dev/null | tail -n +2 | xargs -r rm -f

# Back here: the state a slot handed back (in FROM, e.g. the reply's files folder) becomes $(STATES)/$(NET), which it
# must continue, and its logs are appended to $(STATES)/$(NET)-run.
gpu-adopt: $(if $(filter .venv/bin/python,$(PY)),setup)
	@test -n "$(FROM)" || { echo "error: FROM is not set (the folder holding the returned $(NET)/)"; exit 2; }
	$(PY) -m tools.train_slice --state $(STATES)/$(NET) --adopt $(FROM)/$(NET)

bench: setup
	$(PY) -m benchmarks.bench_ops
	$(PY) -m benchmarks.bench_generator

clean:
	rm -rf .venv .pytest_cache
