# medcam: two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.medcam-installed

.PHONY: demo test lint bench samples train clean audit-demo ohif

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# CPU-only torch first (a local wheel here); never let a dependency pull a CUDA build.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[service,audit,batch,dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/medcam explain sample_dicoms/ct --out out/demo --model demo-ct3d --method gradcam
	$(BIN)/medcam explain sample_dicoms/dx --out out/demo-dx --model demo-dx2d --method gradcam
	@echo "demo outputs: out/demo/summary.json, out/demo/preview.png, out/demo-dx/preview.png"

audit-demo: $(STAMP)
	$(BIN)/medcam audit sample_dicoms/audit --model demo-ct3d --methods gradcam,layercam,hirescam,gradcam++,recipro --target lesion --out out/audit

lint: $(STAMP)
	$(BIN)/ruff check medcam service tests bench scripts sample_dicoms
	$(BIN)/mypy medcam service

# the prebuilt OHIF viewer for tests/viewer, cached outside the repository
ohif:
	scripts/fetch_ohif.sh

test: $(STAMP) lint
	@command -v npm >/dev/null && scripts/fetch_ohif.sh >/dev/null || echo "OHIF not fetched (needs nodejs npm): tests/viewer skip outside CI"
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --durations=25

bench: $(STAMP)
	$(BIN)/python bench/cam_speed.py
	$(BIN)/python bench/cam_methods.py
	$(BIN)/python bench/batch_throughput.py
	$(BIN)/python bench/result_set.py

samples: $(STAMP)
	$(BIN)/python sample_dicoms/make_samples.py
	$(BIN)/python sample_dicoms/make_audit_samples.py

train: $(STAMP)
	$(BIN)/python scripts/train_demo_models.py ct3d
	$(BIN)/python scripts/train_demo_models.py dx2d

clean:
	rm -rf out .pytest_cache .ruff_cache
