# streamops — `make help` lists every target.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      := .venv
PY        := $(VENV)/bin/python
CLUSTER   := .cluster
KUBE_BIN  := $(shell source hack/versions.sh && echo $$KUBE_BIN_DIR)
HELM_DIR  := $(shell source hack/versions.sh && dirname $$HELM_BIN)
KUBECTL   := $(KUBE_BIN)/kubectl --kubeconfig $(CLUSTER)/kubeconfig
PYTEST_ARGS ?=
# Three pytest-xdist workers: the media and multinode tiers mostly wait on real time
# (devtools/devtools/test_scopes.py says how tests are grouped). Fresh clone, warm, 2026-11-27:
# two workers ran pytest in 30:36 (ci13, 35:18 in all), three in 23:26 with every test passing
# (ci17, 25:20 in all; load average 7.8, 14 % idle). With three, the host scope (the multi-node
# cluster's tests, 19.4 min) is the floor. A fourth worker (2026-11-30: ci60, ci62) took 1.5-2 min off a
# quiet run but brought timing failures in every run; on s11's faster tree (ci72) it took nothing off and
# cost 19 % more CPU: docs/design/test-harness.md, "A fourth worker", "The run after s12's changes".
PARALLEL  ?= -n 3 --dist loadscope

.PHONY: help deps venv kube crds crds-check docs docs-check lint format check test test-unit test-publish test-media test-cluster \
        cluster-up cluster-up-nodes cluster-up-plane cluster-down operator demo demo-down test-e2e bench-media bench-ingest-cycles bench-relay-cycles bench-workers bench-e2e bench-latency bench-operator bench-playback bench-density bench-edge bench-kubectl bench-overlays bench-webhooks bench-clips clean
.PHONY: bytecode image-layers test-images hooks helm chart chart-check images push-images chart-package push-chart registry-login kind-up kind-e2e kind-down test-cluster-chart-rbac

help: ## list the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

deps: ## install what the tests and demo need on Debian: its packages (only the missing ones), Node.js and npm, Go (the pinned toolchain when the Go found is older than the builds need)
	@bash hack/deps.sh

# uv (hack/install-uv.sh, pinned, cached outside the repo) installs the venv: 8 s warm where pip took
# 27, on the serial path of a fresh clone's `make test`. --native-tls: the system's trust store, as pip
# is configured here; --seed: pip in the venv as before, for whoever uses it; --compile-bytecode: as
# pip does (without it every process compiled pydantic, aiohttp, boto3…: a worker started in 1.3 s).
UV := $(shell source hack/versions.sh && echo $$UV_BIN)
# Under a lock of its own (uv locks .venv/.lock itself while installing): `make image-layers` makes
# the venv too (see there), maybe beside another goal.
$(VENV)/.installed: operator/pyproject.toml devtools/pyproject.toml hack/install-uv.sh
	@bash hack/install-uv.sh
	@mkdir -p $(VENV)
	flock $(VENV)/.make.lock $(UV) venv -q --native-tls --seed --allow-existing --python python3 $(VENV)
	VIRTUAL_ENV=$(CURDIR)/$(VENV) flock $(VENV)/.make.lock $(UV) pip install -q --native-tls --compile-bytecode -e 'operator[test]' -e devtools
	touch $@

venv: $(VENV)/.installed ## create the Python venv with the operator, the test harness (devtools) and test tools (pinned)

# The build targets' own `deps` (for `make kube` and the like). The demo's and test's side-by-side
# builds pass DEPS= so that make starts their goals in the order given, the longest chain first. A
# goal whose prerequisite is still running is put off by GNU make until the other goals have
# started: with `deps` shared by all, Kubernetes' build began 333 s into a cold demo; FFmpeg waiting
# for `deps` began after every Go build of a cold `make test`. So there FFmpeg's recipe runs
# hack/deps.sh itself (the one step that needs Debian's packages, and the images after it), and the
# Go builds start while apt installs.
DEPS ?= deps

# The components' go vet and go test with the flags of their builds (hack/build-component.sh): a first
# run then compiles pion and gortmplib once, not again for the checks (webrtc's vet and test compiles
# after its build: 36 s → 12 s with an empty Go cache). hlsload's -race test needs cgo: its own.
GO_CHECK := CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false -trimpath"
# go vet's compiles without garbage collection, as the builds (hack/versions.sh); go test keeps Go's
# defaults: its test binaries run with the environment it has.
GO_VET := $(shell source hack/versions.sh && echo $$GO_BUILD_GC) $(GO_CHECK) go vet

kube: $(DEPS) ## build kube-apiserver, kube-controller-manager, kubectl, kubelet, kube-scheduler, kube-proxy from Go modules (cached by version)
	@bash hack/build-kube.sh kube-apiserver kube-controller-manager kubectl kubelet kube-scheduler kube-proxy

crds: venv ## regenerate crds/ from the pydantic models
	$(VENV)/bin/streamops crds --out crds

crds-check: venv ## fail when crds/ is stale
	$(VENV)/bin/streamops crds --out crds --check

lint: venv ## ruff lint + format check + mypy (strict on the streamops package, default on the devtools harness) + the docs' generated blocks (docs-check) + import rules of operator/streamops and bench (no cycle, no bare sibling import; the layers api <- contract <- control, media <- CLIs; no kind importing another kind, no media worker folder importing another worker's, no contract or worker module importing the custom resources' specs, statuses and kinds; the common control folders in order, shared <- workers <- runtime <- storage; no specs, plan, status, decide or observation module reaching the Kubernetes API; observe reading through kube.reads) + gofmt and go vet of components/webrtc, components/hlsload, components/rtmp, components/relay and components/readers
	$(VENV)/bin/ruff check operator devtools tests bench
	$(VENV)/bin/ruff format --check operator devtools tests bench
	cd operator && ../$(VENV)/bin/mypy streamops
	cd devtools && ../$(VENV)/bin/mypy devtools
	$(PY) -m devtools.import_rules operator/streamops
	$(PY) -m devtools.import_rules bench
	@$(PY) -m devtools.doc_facts check
	@unformatted=$$(gofmt -l components/webrtc components/hlsload components/rtmp components/relay components/readers); [ -z "$$unformatted" ] || { echo "gofmt: $$unformatted" >&2; exit 1; }
	cd components/webrtc && $(GO_VET) ./...
	cd components/hlsload && $(GO_VET) ./...
	cd components/rtmp && $(GO_VET) ./...
	cd components/relay && $(GO_VET) ./...
	cd components/readers && $(GO_VET) ./...

# The facts of README.md, CONTRIBUTING.md and the chart's README that the code states (kubectl get's
# columns, the kinds, webhook events, CLI verbs, worker roles, make targets, the Kubernetes range, the
# refused defaults): generated into their marked blocks, checked by lint (devtools/doc_facts).
docs: venv ## rewrite the generated blocks of the Markdown docs (between generated:NAME markers) from the code
	$(PY) -m devtools.doc_facts write

docs-check: venv ## fail when a generated block of the Markdown docs is stale or missing where it is required
	$(PY) -m devtools.doc_facts check

hooks: ## use the repository's git hooks (hack/hooks: commit-msg checks the subject is at most 72 characters)
	git config core.hooksPath hack/hooks

format: venv ## ruff format + autofix
	$(VENV)/bin/ruff format operator devtools tests bench
	$(VENV)/bin/ruff check --fix operator devtools tests bench

# A first run builds side by side, as the demo does: Kubernetes' and Traefik's Go builds beside the
# images' debootstrap and FFmpeg's C build (-j3: one job's downloads overlap another's compiling).
# Only what those builds start with is installed first (hack/deps.sh tools: Go, python3-venv, npm);
# FFmpeg's and the image layers' recipes install the rest beside them. Then what the tests need (the
# images, the bytecode) and the Go components' tests (real FFmpeg peers: timed, so before pytest, not
# beside it; all at once: they mostly wait, 28 CPU-s in 86 s of wall); the checks that only compute (lint, the generated files, the fuzz targets) run at nice 19
# beside pytest, on the CPU its waits leave idle; pytest and the checks each in a session of its own, pytest's
# weighing a machine (hack/beside.sh, docs/design/test-harness.md, "One weight for all of pytest").
test: ## everything: lint, the WebRTC component's go tests, unit, publish (images and chart to a real registry), media (real FFmpeg + peers), cluster (real API server), e2e (real node) and multinode (pod-network cluster, chart installed, real add-ons) tests
	@bash hack/deps.sh tools
	@$(MAKE) --no-print-directory -j3 DEPS= kube image-layers test-images helm s3server webrtc rtmp relay readers hlsload kube-network-policies crane registry addons venv
	@$(MAKE) --no-print-directory -j7 --output-sync=target DEPS= bytecode test-readers test-hlsload test-rtmp test-relay test-webrtc images
	@bash hack/beside.sh "$(MAKE) --no-print-directory -j2 --output-sync=target DEPS= lint crds-check chart-check fuzz" -- $(PY) -m pytest tests $(PARALLEL) $(PYTEST_ARGS)

# A first run's image layers that need no compiled binary (debootstrap, apt, pip: mostly downloads),
# beside the compiles rather than after them. Like FFmpeg's, its recipe runs hack/deps.sh (debootstrap);
# it makes the venv itself: with `venv` as a prerequisite, running for another goal, GNU make put the
# goal off until every other goal had started (the cold run cold2: it had not started at 13 min).
image-layers: $(DEPS) ## build the image layers that need no compiled binary (base and edge root filesystems, Python dependencies, Chromium) into the cache
	@$(if $(DEPS),,bash hack/deps.sh)
	@$(MAKE) --no-print-directory venv
	@$(PY) -m devtools.cluster.images layers >/dev/null

test-images: venv ffmpeg webrtc rtmp relay readers coredns traefik prometheus player metrics-server cert-manager prometheus-operator ## the images the multi-node tests run (pause, worker, operator, CoreDNS, Traefik, Prometheus), from a root filesystem into the cache, and the add-ons' binaries (their images are made by the tests that install them)
	@$(PY) -m devtools.cluster.images build >/dev/null

# This machine (and its CI) sets PYTHONDONTWRITEBYTECODE=1: no process writes a .pyc, so each one of a
# run (≈650 workers, CLIs and helpers, and each pytest worker) compiled the repo's modules again, and
# each pytest worker rewrote the asserts of all 270 test modules (12 s of CPU each, 3 at once).
bytecode: venv ## compile the repo's Python (operator, devtools, bench) and the tests' assert-rewritten modules once, for every process of a run to read (a worker starts in 0.61 s instead of 0.73, a pytest worker collects in 5 s instead of 15)
	@$(PY) -m compileall -q -j0 operator/streamops devtools/devtools bench >/dev/null
	@bash hack/collect-tests.sh $(PY)

check: venv helm player ## the inner loop, no image, FFmpeg or cluster builds: lint, crds-check, chart-check, the unit and chart tests (≈1 min warm; helm is built once and cached, the player scripts fetched once: a chart test checks the worker image needs them)
	@$(MAKE) --no-print-directory lint crds-check chart-check
	$(PY) -m pytest tests/unit tests/chart $(PARALLEL) $(PYTEST_ARGS)

test-unit: venv ## unit tests only (no cluster)
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

test-publish: deps venv crane registry images ## publish tests only: the images and the chart pushed to CNCF Distribution on 127.0.0.1 and read back with crane and helm, the refused pushes
	$(PY) -m pytest tests/publish $(PYTEST_ARGS)

test-media: deps venv ffmpeg relay readers player ## media tests only (real FFmpeg workers, nginx-rtmp, srt-live-transmit on 127.0.0.1)
	$(PY) -m pytest tests/media $(PARALLEL) $(PYTEST_ARGS)

test-cluster: deps venv kube ffmpeg ## cluster tests only (real etcd + kube-apiserver + controller-manager)
	$(PY) -m pytest tests/cluster $(PYTEST_ARGS)

# A running `make demo` holds $(CLUSTER)/demo.lock (devtools/devtools/demo_lock.py): a cluster started
# or stopped under it would remove its etcd data.
DEMO_FREE = @if [ -f $(CLUSTER)/demo.lock ] && ! flock -n $(CLUSTER)/demo.lock true; then \
  echo "make $@: a make demo is running in $(CLUSTER) (pid $$(cat $(CLUSTER)/demo.lock)); wait for it or run make demo-down" >&2; exit 1; fi

cluster-up: deps venv kube helm ## start a local cluster in .cluster/ with the CRDs: NODES=2 a multi-node cluster with a pod network (kube-proxy, CoreDNS); NODE=1 one host-network node; neither: control plane only
	$(DEMO_FREE)
	@if [ -n "$(NODES)" ]; then $(MAKE) --no-print-directory cluster-up-nodes; else $(MAKE) --no-print-directory cluster-up-plane; fi

cluster-up-nodes: coredns traefik kube-network-policies ffmpeg player registry crane
	@$(PY) -m devtools.cluster.local_cluster up --dir $(CLUSTER) --nodes $(NODES) >/dev/null
	@$(KUBECTL) apply -f crds >/dev/null
	@$(PY) -m devtools.cluster.kubectl established --kubeconfig $(CLUSTER)/kubeconfig -l app.kubernetes.io/part-of=streamops
	@$(PY) -m devtools.cluster.hand_install --dir $(CLUSTER) >/dev/null
	@echo "cluster up: $(NODES) nodes with a pod network in $(CLUSTER)/ (the API server is reached through a loopback portal); use it with:"
	@echo "  export KUBECONFIG=$(CURDIR)/$(CLUSTER)/kubeconfig PATH=$(KUBE_BIN):$(HELM_DIR):\$$PATH"
	@echo "  source $(CLUSTER)/registry.env   # REGISTRY: the cluster's registry (streamops' images and chart pushed there)"
	@echo "  helm install streamops oci://\$$REGISTRY/streamops --version \$$CHART_VERSION --plain-http -n streamops-system --create-namespace -f $(CLUSTER)/values.yaml"
	@echo "  kubectl apply -f $(CLUSTER)/recordings-volume.yaml   # namespace default's recordings, on node-1"
	@echo "  Ingress/HTTPRoute playback: Traefik on any node's address, port 30080 (README: Try the chart by hand)"
	@echo "  make cluster-down"

cluster-up-plane:
	@if [ -n "$(NODE)" ]; then $(MAKE) -s --no-print-directory ffmpeg player; fi
	@$(PY) -m devtools.cluster.controlplane up --dir $(CLUSTER) >/dev/null
	@$(KUBECTL) apply -f crds >/dev/null
	@$(PY) -m devtools.cluster.kubectl established --kubeconfig $(CLUSTER)/kubeconfig -l app.kubernetes.io/part-of=streamops
	@if [ -n "$(NODE)" ]; then $(PY) -m devtools.cluster.node up --dir $(CLUSTER) > $(CLUSTER)/operator.env && \
	  echo "node localhost Ready; make operator runs workers on it (settings in $(CLUSTER)/operator.env)"; fi
	@echo "control plane up$(if $(NODE), with node localhost (hostNetwork Pods only: no pod network)); use it with:"
	@echo "  export KUBECONFIG=$(CURDIR)/$(CLUSTER)/kubeconfig PATH=$(KUBE_BIN):\$$PATH"
	@echo "  make operator    # run the operator against it (foreground)"

cluster-down: ## stop the local cluster (and a demo operator) started from .cluster/, whichever kind it is
	$(DEMO_FREE)
	@if [ -f $(CLUSTER)/operator.pid ]; then kill -TERM -- -$$(cat $(CLUSTER)/operator.pid) 2>/dev/null || true; \
	  rm -f $(CLUSTER)/operator.pid; fi
	@if [ -d $(CLUSTER)/nodes ]; then $(PY) -m devtools.cluster.local_cluster down --dir $(CLUSTER); fi
	@if [ -f $(CLUSTER)/node/pids.json ] || [ -d $(CLUSTER)/node/containerd/state ]; then $(PY) -m devtools.cluster.node down --dir $(CLUSTER); fi
	@$(PY) -m devtools.cluster.controlplane down --dir $(CLUSTER)
	@rm -f $(CLUSTER)/operator.env

operator: venv ## run the operator in the foreground against .cluster/ (after make cluster-up)
	@if [ -f $(CLUSTER)/operator.env ]; then source $(CLUSTER)/operator.env; fi; \
	  KUBECONFIG=$(CLUSTER)/kubeconfig $(VENV)/bin/streamops operator --liveness http://127.0.0.1:8081/healthz \
	    --metrics-address 127.0.0.1 --metrics-port 8080

# What the demo needs is built side by side on a first run: Kubernetes' Go build beside the images'
# debootstrap and FFmpeg's C build (-j3: one job's downloads overlap another's compiling). A run
# that is torn down at its end goes without the overlay renderer and the NetworkPolicy engine, which
# its flow does not use (KEEP=1 builds and runs both). First what the builds start with, as `make test`.
demo: ## the whole flow on a 2-node pod-network cluster with the chart installed: examples applied, a push from the LAN, 20 s recording, restream, status (KEEP=1 keeps it up, with the overlay renderer and NetworkPolicies enforced)
	@bash hack/deps.sh tools
	@$(MAKE) --no-print-directory -j3 DEPS= kube demo-images helm s3server registry crane $(if $(KEEP),kube-network-policies)
	$(PY) -m devtools.demo --dir $(CLUSTER) $(if $(KEEP),--keep)

demo-images: venv ffmpeg webrtc rtmp relay readers coredns player ## the images the demo's cluster runs (pause, worker, operator, CoreDNS; the overlay renderer with KEEP=1; no Traefik or edge: the demo plays through NodePorts), from a root filesystem into the cache, and the OCI layouts it pushes to its registry
	@$(PY) -m devtools.cluster.images build pause worker operator coredns $(if $(KEEP),overlay) >/dev/null
	@$(PY) -m devtools.publish layouts operator worker $(if $(KEEP),overlay)

demo-down: ## remove everything a demo left, however it ended (its processes by PID, the cluster, the S3 data, logs); fine twice or with nothing up
	@$(PY) -m devtools.demo --dir $(CLUSTER) --down
	@$(MAKE) --no-print-directory cluster-down

test-e2e: deps venv kube ffmpeg player ## end-to-end tests on a real local node (containerd + kubelet; needs root)
	$(PY) -m pytest tests/e2e/node $(PYTEST_ARGS)

bench-media: deps venv s3server ffmpeg relay player ## media workers vs nginx-rtmp on this machine (startup, recorder start, push hop, CPU/RSS; S3 upload vs curl, stop -> downloadable) -> bench/results/media.md; WebRTC fan-out, the ingest worker and streamops-webrtc vs Janus at 1/50/200 viewers -> bench/results/webrtc-fanout.md (FANOUT_ONLY=1: only that row; FANOUT_ARGS)
	$(if $(FANOUT_ONLY),,$(PY) -m bench.media $(BENCH_ARGS))
	$(PY) -m bench.webrtc_fanout $(FANOUT_ARGS)

bench-ingest-cycles: deps venv ffmpeg rtmp ## where a passthrough ingest's CPU goes: per process (Python, the RTMP front, FFmpeg) and per FFmpeg output beside nginx-rtmp, wakes and preemptions a second, and HLS muxing in Go (components/hlsmux-proto, a measurement prototype) against FFmpeg's; BENCH_ARGS="--before REV --window 30" -> bench/results/ingest-cycles.md
	$(PY) -m bench.ingest_cycles $(BENCH_ARGS)

bench-relay-cycles: deps venv ffmpeg rtmp relay ## where the shared pusher's CPU goes with N Restreams of one stream (bench/media.py's restream setup alone): the relay's and the Python supervisor's CPU, wakes and preemptions per second of media carried (robust to a starved publisher), the ingest's CPU; printed. BENCH_ARGS="--targets 50 --window 20 --windows 3 --perf FILE --strace"; STREAMOPS_RELAY=<a build> to compare
	$(PY) -m bench.relay_cycles $(BENCH_ARGS)

bench-workers: venv ffmpeg rtmp ## each `streamops worker <role>` Python supervisor at rest (RSS/PSS, smaps_rollup), its start-up CPU and its import chain (-X importtime, heavy modules), this tree vs BEFORE (a checkout of the commit to compare with: git worktree add /tmp/before <commit>) in the same run -> bench/results/workers-rss.md
	$(if $(BEFORE),,$(error BEFORE=<a checkout of the commit to compare with> is needed))
	$(PY) -m bench.worker_rss --before $(BEFORE) $(BENCH_ARGS)

bench-e2e: deps venv kube helm coredns traefik s3server ffmpeg player ## end to end on the host-network node and on the 2-node pod-network cluster (start, apply -> Running, publish -> live, first segment, recording start) -> bench/results/e2e.md
	$(PY) -m bench.e2e $(BENCH_ARGS)

bench-latency: deps venv ffmpeg player ## glass-to-glass latency in headless Chromium: standard HLS, LL-HLS, DASH, LL-DASH vs nginx-rtmp HLS; WHIP/RTMP -> WHEP, WHIP -> LL-HLS and WHEP joins, through the component and the ingest worker (median, p95; BENCH_ARGS="--rows hls|webrtc|ingest-webrtc") -> bench/results/latency.md
	$(PY) -m bench.latency $(BENCH_ARGS)

bench-playback: deps venv kube helm ffmpeg hlsload test-images ## viewers of one 720p30 stream on one ingest (LL-HLS, HLS) until p99 lag passes 2 parts / 1 segment, vs nginx serving the same HLS statically: ingest CPU/RSS per viewer, recorder and pusher rates, the load client's cost; BENCH_ARGS="--rows edge|cluster|all": 1,000 LL-HLS viewers through the edge on 127.0.0.1 / on the 2-node cluster -> bench/results/playback.md
	$(PY) -m bench.playback $(BENCH_ARGS)

bench-density: deps venv kube helm ffmpeg test-images ## streams the 2-node pod-network cluster holds, each live from the LAN with a Recording and a Restream to the LAN, N raised until a stream's HLS falls below speed 0.98 or misses a segment, vs nginx-rtmp (record all, hls, push) on one node in the same run: N, CPU and PSS per stream by role, Pods per stream (BENCH_ARGS="--steps doubling|1,2 --window 60 --most 128") -> bench/results/density.md
	$(PY) -m bench.density $(BENCH_ARGS)

bench-edge: deps venv ffmpeg ## the edge's CPU per request by kind (segment, part, playlist, blocking reload; with and without a token; with and without playback rules) vs nginx serving the same files, with h2load -> bench/results/edge-cpu.md, edge-token.md, edge-rules.md
	$(PY) -m bench.edge_cpu $(BENCH_ARGS)
	$(PY) -m bench.edge_token
	$(PY) -m bench.edge_rules

bench-operator: deps venv kube ## operator vs a real API server at 1/100/500 LiveStreams, each with a Restream and a Recording (Pod, Ready p50/p99, RSS, CPU; BENCH_ARGS="--children restream|recording --before REV") -> bench/results/operator.md
	$(PY) -m bench.operator $(BENCH_ARGS)

bench-kubectl: deps venv kube ## `kubectl streamops status -A` over 1,000 LiveStreams with full statuses, end to end (median, p95; target 2 s) vs `kubectl get lst -A`, and its LIST alone -> bench/results/kubectl.md
	$(PY) -m bench.kubectl_status $(BENCH_ARGS)

bench-clips: deps venv s3server ffmpeg ## a 60 s clip from a live stream's DVR -> downloadable: keyframe copy to the claim and to a bucket, exact (re-encoded) to the claim; wall and CPU seconds -> bench/results/clips.md
	$(PY) -m bench.clips $(BENCH_ARGS)

bench-rtmp-flood: deps venv ffmpeg rtmp ## a key-less client floods the RTMP port from the encoder's address (past connect and bare, as fast as it can) while FFmpeg with the key retries every 1 s: connections/s the front absorbs and per CPU second, start -> live (target 5 s); BENCH_ARGS="--before PATH" adds another streamops-rtmp build's rows -> bench/results/rtmp-flood.md
	$(PY) -m bench.rtmp_flood $(BENCH_ARGS)

bench-overlays: deps venv ffmpeg ## an HTML overlay's cost (CPU and memory of the ingest with and without it, of the renderer's Chromium) at 720p30 and 1080p30, and page change -> first frame in the HLS output (decoded) -> bench/results/overlays.md
	$(PY) -m bench.overlays $(BENCH_ARGS)

bench-webhooks: deps venv kube ffmpeg ## StreamWebhook delivery latency (status change -> receiver, p50/p99; target p99 2 s) with real ingests, the Kubernetes Event as the peer; the operator's CPU, RSS and API writes at 500 streams without / with a webhook (idle, subscribe, status churn) -> bench/results/webhooks.md
	$(PY) -m bench.webhooks $(BENCH_ARGS)

clean: ## remove the venv and local cluster state (not the Kubernetes build cache)
	-@$(PY) -m devtools.cluster.node down --dir $(CLUSTER) --purge 2>/dev/null
	-@$(PY) -m devtools.cluster.controlplane down --dir $(CLUSTER) 2>/dev/null
	rm -rf $(VENV) $(CLUSTER)

helm: $(DEPS) ## build helm from its Go module (pinned, cached by version like the Kubernetes binaries)
	@bash hack/build-helm.sh

.PHONY: coredns traefik prometheus kube-network-policies crane registry s3server ffmpeg webrtc test-webrtc rtmp test-rtmp relay test-relay readers test-readers hlsload test-hlsload
.PHONY: addons metrics-server cert-manager prometheus-operator
ffmpeg: $(DEPS) ## build the workers' FFmpeg from Debian's FFmpeg 7.1 source with only what the workers use (pinned, cached by version and configuration; hack/ffmpeg/configure-flags)
	@$(if $(DEPS),,bash hack/deps.sh)
	@bash hack/build-ffmpeg.sh

coredns: $(DEPS) ## build CoreDNS from its Go module (pinned, cached by version; only the plugins the local cluster's DNS uses, no forward)
	@bash hack/build-coredns.sh

crane: ## build crane (go-containerregistry: pushes the images of `make images` to a registry) from its Go module (pinned, cached by version)
	@bash hack/build-crane.sh

registry: ## build CNCF Distribution's registry (the OCI registry the publishing tests push to on 127.0.0.1) from its Go module (pinned, cached by version)
	@bash hack/build-registry.sh

kube-network-policies: ## build SIG Network's kube-network-policies (the multi-node cluster's NetworkPolicy engine, one process per node) from its Go module (pinned, cached by version)
	@bash hack/build-kube-network-policies.sh

s3server: $(DEPS) ## build versitygw, the S3-compatible server of the tests and the demo, from its Go module (pinned, cached by version)
	@bash hack/build-versitygw.sh

webrtc: ## build streamops-webrtc (components/webrtc: WHIP ingest and WHEP fan-out on pion, pinned in go.sum) into the cache, keyed by its sources
	@bash hack/build-webrtc.sh

test-webrtc: $(DEPS) ## the WebRTC component's go tests: real pion peers and real FFmpeg, on 127.0.0.1 only
	cd components/webrtc && $(GO_CHECK) go test -count=1 ./...

# Each fuzz target runs its FUZZ_EXECS executions on top of the tests (the seed corpus runs with the
# tests anyway): about 10 s each on an idle machine. Counts, not a -fuzztime duration: Go 1.26's
# coordinator may report "context deadline exceeded" as a failure when a duration ends while a
# worker is mid-execution (golang/go#75804, fixed in Go 1.27); it failed FuzzFLV so on 2026-11-27,
# no input written. New-coverage inputs are minimized for 50 runs only: the default 60 s per input
# stalled the runs.
FUZZ_EXECS ?= FuzzFLV=100000 FuzzPreauth=60000 FuzzMux=5000 FuzzCommand=50000 FuzzFeed=10000 FuzzSRTHandshake=50000 FuzzStreamID=50000 FuzzToken=50000 FuzzRTSPRequest=30000
# $(call fuzz_each,COMPONENT): each fuzz target of components/COMPONENT for its FUZZ_EXECS executions.
define fuzz_each
	cd components/$(1) && export $(GO_CHECK) && for target in $$(go test -list '^Fuzz' . | grep '^Fuzz'); do \
	  execs=$$(for kv in $(FUZZ_EXECS); do [ "$${kv%%=*}" = "$$target" ] && echo "$${kv#*=}"; done); \
	  [ -n "$$execs" ] || { echo "FUZZ_EXECS has no count for $$target" >&2; exit 1; }; \
	  go test -run '^$$' -fuzz "^$$target$$" -fuzztime "$${execs}x" -fuzzminimizetime 50x -parallel 1 . || exit 1; done
endef
rtmp: ## build streamops-rtmp (components/rtmp: the ingest's RTMP/RTMPS front, the stream key checked before FFmpeg, gortmplib pinned in go.sum) into the cache, keyed by its sources
	@bash hack/build-rtmp.sh

test-rtmp: $(DEPS) ## the RTMP front's go tests (real FFmpeg publishers, TLS, FIFOs; 127.0.0.1 only)
	cd components/rtmp && $(GO_CHECK) go test -count=1 ./...

fuzz-rtmp: $(DEPS) ## the RTMP front's fuzz targets, each for its FUZZ_EXECS executions (≈10 s each)
	$(call fuzz_each,rtmp)

relay: ## build streamops-relay (components/relay: the shared pusher's media relay, one feed read once and written to every RTMP/RTMPS target; gortmplib and mediacommon pinned in go.sum) into the cache, keyed by its sources
	@bash hack/build-relay.sh

test-relay: $(DEPS) ## the relay's go tests (a real FFmpeg-made feed over HTTP, RTMP targets in the test; 127.0.0.1 only)
	cd components/relay && $(GO_CHECK) go test -count=1 ./...

fuzz-relay: $(DEPS) ## the relay's fuzz targets, each for its FUZZ_EXECS executions
	$(call fuzz_each,relay)

readers: ## build streamops-readers (components/readers: the live stream for SRT callers and RTSP/RTSPS clients, playback tokens checked; gosrt, gortsplib and mediacommon pinned in go.sum) into the cache, keyed by its sources
	@bash hack/build-readers.sh

test-readers: $(DEPS) ## the readers component's go tests (a real FFmpeg-made feed over HTTP, ffprobe and ffmpeg reading over SRT and RTSP; 127.0.0.1 only)
	cd components/readers && $(GO_CHECK) go test -count=1 ./...

fuzz-readers: $(DEPS) ## the readers component's fuzz targets, each for its FUZZ_EXECS executions
	$(call fuzz_each,readers)

fuzz: fuzz-rtmp fuzz-relay fuzz-readers ## every Go component's fuzz targets, each for its FUZZ_EXECS executions

hlsload: ## build hlsload (components/hlsload: the LL-HLS/HLS load client of bench-playback, Go stdlib only) into the cache, keyed by its sources
	@bash hack/build-hlsload.sh

test-hlsload: ## the load client's go tests, against an LL-HLS origin in the test process (httptest, 127.0.0.1)
	cd components/hlsload && go test -count=1 -race ./...

traefik: $(DEPS) ## build Traefik from its Go module (pinned, cached by version) and fetch the Gateway API CRDs it speaks
	@bash hack/build-traefik.sh
	@bash hack/fetch-gateway-api.sh

prometheus: ## build Prometheus from its Go module (pinned, cached by version; Kubernetes service discovery only) and fetch the Prometheus Operator's monitoring CRDs (the multinode tier's monitoring test)
	@bash hack/build-prometheus.sh
	@bash hack/fetch-prometheus-operator-crds.sh

# The multi-node tier's real add-ons (docs/design/local-cluster.md, "Add-ons"): built here, their images
# made and imported into the nodes by the tests that install them (`make test-images` builds the
# binaries, not their images).
addons: metrics-server cert-manager prometheus-operator prometheus ## build the multi-node tier's real add-ons from their Go modules: metrics-server, cert-manager, the Prometheus Operator (and the Prometheus it runs)

metrics-server: ## build metrics-server (the resource metrics API the edge's HorizontalPodAutoscaler reads) from its Go module (pinned, cached by version)
	@bash hack/build-metrics-server.sh

cert-manager: ## build cert-manager's controller, webhook and cainjector from its core Go module, and copy the module's Helm chart (pinned, cached by version)
	@bash hack/build-cert-manager.sh

prometheus-operator: ## build the Prometheus Operator and its config reloader from their Go module (pinned: the version of the monitoring CRDs) and fetch all its CRDs
	@bash hack/build-prometheus-operator.sh
	@bash hack/fetch-prometheus-operator-crds.sh

# The player page's libraries, served by the ingest (no CDN): minified builds and their licences,
# gzipped beside them (aiohttp sends the .gz to browsers that accept it). Redone when the lock changes.
# three.module.js's import of ./three.core.js gets ?v=<its content hash>, as the page versions every asset.
PLAYER_ASSETS := operator/streamops/media/ingest/player/assets
.PHONY: player
player: $(PLAYER_ASSETS)/VERSIONS ## fetch hls.js, dash.js and three.js (pinned, npm ci) into the worker's package

$(PLAYER_ASSETS)/VERSIONS: player/package-lock.json player/package.json
	@command -v npm >/dev/null || { echo "make player needs node and npm (Debian: apt-get install npm)" >&2; exit 1; }
	cd player && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	rm -rf $(PLAYER_ASSETS) && mkdir -p $(PLAYER_ASSETS)
	cp player/node_modules/hls.js/dist/hls.min.js $(PLAYER_ASSETS)/hls.min.js
	cp player/node_modules/hls.js/LICENSE $(PLAYER_ASSETS)/hls.js.LICENSE
	cp player/node_modules/dashjs/dist/modern/umd/dash.all.min.js $(PLAYER_ASSETS)/dash.all.min.js
	cp player/node_modules/dashjs/dist/modern/umd/dash.all.min.js.LICENSE.txt $(PLAYER_ASSETS)/dash.all.min.js.LICENSE.txt
	cp player/node_modules/dashjs/LICENSE.md $(PLAYER_ASSETS)/dashjs.LICENSE.md
	cp player/node_modules/three/build/three.core.js $(PLAYER_ASSETS)/three.core.js
	cp player/node_modules/three/LICENSE $(PLAYER_ASSETS)/three.js.LICENSE
	sed "s#from './three.core.js'#from './three.core.js?v=$$(sha256sum $(PLAYER_ASSETS)/three.core.js | cut -c1-12)'#" \
		player/node_modules/three/build/three.module.js > $(PLAYER_ASSETS)/three.module.js
	gzip -9 -k -n $(PLAYER_ASSETS)/hls.min.js $(PLAYER_ASSETS)/dash.all.min.js $(PLAYER_ASSETS)/three.module.js $(PLAYER_ASSETS)/three.core.js
	cd player && node -e 'for (const p of ["hls.js", "dashjs", "three"]) console.log(p, JSON.parse(require("fs").readFileSync(`node_modules/$${p}/package.json`)).version)' > ../$(PLAYER_ASSETS)/VERSIONS.tmp
	mv $(PLAYER_ASSETS)/VERSIONS.tmp $@

chart: venv helm ## regenerate the chart's CRD templates and RBAC rules, deploy/streamops.yaml, the Argo CD ConfigMap
	$(PY) -m devtools.chart

chart-check: venv helm ## fail when a generated chart file, deploy/ or the Argo CD ConfigMap is stale
	$(PY) -m devtools.chart --check

test-cluster-chart-rbac: deps venv kube helm ## the cluster suite with the operator under the chart's ServiceAccount/ClusterRole
	$(PY) -m pytest -p devtools.chart_rbac_plugin tests/cluster $(PYTEST_ARGS)

# The images a cluster runs from the chart, built as test-images are (no Docker engine), then written
# as OCI image layouts for registries: docs/design/publishing.md.
images: venv player ffmpeg webrtc rtmp relay readers ## build the operator, worker, overlay-renderer and edge images without Docker, as OCI image layouts tagged with the chart's appVersion and their content hash; prints each one's directory (list in dist/images.json)
	@$(PY) -m devtools.publish images

# Publishing to any OCI registry (docs/design/publishing.md): REGISTRY=host[:port][/prefix] gets
# <REGISTRY>/streamops-<image>:<appVersion and content hash> and the chart as oci://<REGISTRY>/streamops.
# Plain HTTP only to a registry on 127.0.0.0/8, or with INSECURE_REGISTRY=1; RELEASE_TAG=v<version>
# (the release workflow's tag) must match Chart.yaml. Refusals come before any build.
PUBLISH_ARGS = --registry '$(REGISTRY)' --insecure-registry '$(INSECURE_REGISTRY)' --release-tag '$(RELEASE_TAG)'
NEED_REGISTRY = @[ -n "$(REGISTRY)" ] || { echo "make $@: REGISTRY is required: host[:port][/prefix], e.g. REGISTRY=ghcr.io/streamops, or REGISTRY=127.0.0.1:5000/streamops for a registry on this machine" >&2; exit 2; }

push-images: ## push the images of `make images` (both tags) with crane to REGISTRY=host[:port][/prefix]; plain HTTP only to 127.0.0.0/8 or with INSECURE_REGISTRY=1
	$(NEED_REGISTRY)
	@$(MAKE) --no-print-directory venv
	@$(PY) -m devtools.publish check $(PUBLISH_ARGS)
	@$(MAKE) --no-print-directory images crane
	@$(PY) -m devtools.publish push-images $(PUBLISH_ARGS)

chart-package: venv helm ## helm package charts/streamops into dist/streamops-<Chart.yaml version>.tgz
	@$(PY) -m devtools.publish chart-package

push-chart: ## helm push the chart package to oci://REGISTRY (then: helm install streamops oci://REGISTRY/streamops --version <version>); plain HTTP as push-images
	$(NEED_REGISTRY)
	@$(MAKE) --no-print-directory venv helm
	@$(PY) -m devtools.publish push-chart $(PUBLISH_ARGS)

registry-login: ## log crane and helm in to REGISTRY as REGISTRY_USER, the password from the environment's REGISTRY_PASSWORD (never a command line)
	$(NEED_REGISTRY)
	@$(MAKE) --no-print-directory venv crane
	@$(PY) -m devtools.publish login $(PUBLISH_ARGS) --user '$(REGISTRY_USER)'

kind-up: deps ## UNTESTED (never run here: no Docker): create the kind cluster `streamops` (needs Docker; kind built from its Go module)
	@bash hack/kind.sh up

kind-e2e: deps venv images ## UNTESTED: kind cluster + images loaded + helm install + end-to-end tests (tests/e2e) against it
	@bash hack/kind.sh e2e

kind-down: ## delete the kind cluster
	@bash hack/kind.sh down
