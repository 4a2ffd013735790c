# ftan-opencd: every target installs what it needs first (idempotent).
PYTHON ?= python3
DEMO_CFG := configs/demo/ftan-tiny_128x128_demo-cd_cpu.py
DEMO_DIR := work_dirs/demo
# bf16 autocast where the CPU runs it natively (the tools say which precision
# they use); `make demo DEMO_AMP=` trains in float32.
DEMO_AMP ?= --amp

.PHONY: install test demo benchmark test-modern

install:
	PYTHON=$(PYTHON) bash tools/install_deps.sh

test: install
	$(PYTHON) -m pytest tests -q

demo: install
	$(PYTHON) tools/make_demo_data.py --out data/demo-cd --seed 0
	$(PYTHON) tools/train.py $(DEMO_CFG) --work-dir $(DEMO_DIR) $(DEMO_AMP)
	$(PYTHON) tools/test.py $(DEMO_CFG) $$(cat $(DEMO_DIR)/last_checkpoint) \
		--work-dir $(DEMO_DIR) --show-dir $(DEMO_DIR)/predictions $(DEMO_AMP)
	@echo "prediction panels (t1 | t2 | errors): $(DEMO_DIR)/predictions"

benchmark: install
	$(PYTHON) tools/benchmark.py

test-modern:
	bash tools/test_modern.sh

# GPU run (README "GPU run (tools/gpu_check.sh)"). Here, with network to PyPI:
# `make gpu-check` fills the git-ignored $(GPU_WHEELS)/ for the GPU machine;
# there, offline: `make gpu-check GPU_OUT=$OUT` (= tools/gpu_check.sh --run).
GPU_WHEELS ?= gpu_wheels
.PHONY: gpu-check
gpu-check:
	@if [ -n "$(GPU_OUT)" ]; then \
		bash tools/gpu_check.sh --run $(GPU_WHEELS) $(GPU_OUT); \
	else \
		exclude=$$(git rev-parse --git-path info/exclude) && mkdir -p "$$(dirname "$$exclude")" && \
		{ grep -qxF '/$(GPU_WHEELS)/' "$$exclude" 2>/dev/null || echo '/$(GPU_WHEELS)/' >> "$$exclude"; } && \
		PYTHON=$(PYTHON) bash tools/gpu_check.sh --prepare $(GPU_WHEELS); \
	fi
