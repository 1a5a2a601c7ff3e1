# Pinned versions and the cache they are built into (sourced by hack/*.sh and the Makefile).
KUBE_VERSION="${KUBE_VERSION:-v1.33.13}"
STREAMOPS_CACHE="${STREAMOPS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/streamops}"
KUBE_BIN_DIR="$STREAMOPS_CACHE/kube-$KUBE_VERSION/bin"
# The Go compiler and linker of every build (hack/go-tool.sh, hack/build-component.sh, the Makefile's
# go vet) without garbage collection until a process's heap reaches 3 GiB: helm with an empty build
# cache 45.5 s instead of 59–60 s, a quarter less CPU (docs/design/local-cluster.md, "A first run").
# Only the build tools get it: a program built, or a test binary run, keeps Go's defaults.
GO_BUILD_GC="GOGC=off GOMEMLIMIT=3GiB"
# The Go toolchain hack/deps.sh installs (as the module golang.org/toolchain, what GOTOOLCHAIN fetches)
# when the `go` found is older than the newest `go` line of GO_TOOLS and components/*/go.mod: Debian
# 12's golang-go is 1.19, Debian 13's 1.24. The version the project's builds and measurements ran on.
GO_TOOLCHAIN="${GO_TOOLCHAIN:-go1.26.8}"
# uv, the installer of the repo's venv (hack/install-uv.sh; `make venv`), from its PyPI wheel into the cache.
UV_VERSION="${UV_VERSION:-0.9.5}"
UV_BIN="$STREAMOPS_CACHE/uv-$UV_VERSION/bin/uv"
# Helm, built from its Go module (hack/build-helm.sh) into the same cache.
HELM_VERSION="${HELM_VERSION:-v3.22.0}"
HELM_BIN="$STREAMOPS_CACHE/helm-$HELM_VERSION/bin/helm"
# kind (Kubernetes in Docker) for `make kind-up` / `make kind-e2e`, built from its Go module, and
# the node image published for that kind release (pinned by digest, as kind's release notes ask).
KIND_VERSION="${KIND_VERSION:-v0.33.0}"
KIND_BIN="$STREAMOPS_CACHE/kind-$KIND_VERSION/bin/kind"
KIND_NODE_IMAGE="${KIND_NODE_IMAGE:-kindest/node:v1.34.11@sha256:44e222ee2132dab25ff87301682f89eb82c7880ea3a1bf543bfe9708fd08d67d}"
# Cluster add-ons of the pod-network cluster (devtools.cluster.local_cluster), built from their Go modules
# into the same cache: CoreDNS (hack/build-coredns.sh), Traefik (hack/build-traefik.sh), and the
# Gateway API CRDs of the version Traefik's go.mod requires (hack/fetch-gateway-api.sh).
COREDNS_VERSION="${COREDNS_VERSION:-v1.15.0}"
COREDNS_BIN="$STREAMOPS_CACHE/coredns-$COREDNS_VERSION/bin/coredns"
TRAEFIK_VERSION="${TRAEFIK_VERSION:-v3.7.13}"
TRAEFIK_BIN="$STREAMOPS_CACHE/traefik-$TRAEFIK_VERSION-nodns/bin/traefik"  # -nodns: hack/build-traefik.sh
GATEWAY_API_VERSION="${GATEWAY_API_VERSION:-v1.6.1}"
GATEWAY_API_CRDS="$STREAMOPS_CACHE/gateway-api-$GATEWAY_API_VERSION/standard"
# Prometheus for the multinode tier's monitoring test, built from its Go module with Kubernetes service
# discovery only (hack/build-prometheus.sh; Debian's package has no Kubernetes discovery). The module's
# v0.316.0 is Prometheus 3.16.0.
PROMETHEUS_VERSION="${PROMETHEUS_VERSION:-v0.316.0}"
PROMETHEUS_BIN="$STREAMOPS_CACHE/prometheus-$PROMETHEUS_VERSION/bin/prometheus"
# The Prometheus Operator's ServiceMonitor, PodMonitor and PrometheusRule CRDs, from its Go module
# (hack/fetch-prometheus-operator-crds.sh): what the multinode tier's Prometheus reads the chart's
# monitoring objects against (devtools/devtools/cluster/prometheus.py).
PROMETHEUS_OPERATOR_VERSION="${PROMETHEUS_OPERATOR_VERSION:-v0.85.0}"
PROMETHEUS_OPERATOR_CRDS="$STREAMOPS_CACHE/prometheus-operator-$PROMETHEUS_OPERATOR_VERSION/crds"
# The same module's other CRDs (Prometheus, Alertmanager, ...: the operator's own, for the multinode
# tier's real Prometheus Operator) and upstream's ClusterRoles (example/rbac), by the same script.
PROMETHEUS_OPERATOR_ALL_CRDS="$STREAMOPS_CACHE/prometheus-operator-$PROMETHEUS_OPERATOR_VERSION/crds-all"
PROMETHEUS_OPERATOR_RBAC="$STREAMOPS_CACHE/prometheus-operator-$PROMETHEUS_OPERATOR_VERSION/rbac"
# The S3-compatible server of the tests and the demo (versitygw, posix backend), built from its Go
# module (hack/build-versitygw.sh) into the same cache.
VERSITYGW_VERSION="${VERSITYGW_VERSION:-v1.8.0}"
VERSITYGW_BIN="$STREAMOPS_CACHE/versitygw-$VERSITYGW_VERSION/bin/versitygw"
# The workers' FFmpeg: Debian 13's FFmpeg 7.1 source package (Enhanced FLV: HEVC, AV1 and VP9 over
# RTMP; issue 40), built with only what the workers use (hack/build-ffmpeg.sh) into the same cache,
# keyed by the Debian version and the configuration's hash.
FFMPEG_DEBIAN_VERSION="${FFMPEG_DEBIAN_VERSION:-7.1.3-0+deb13u1}"
FFMPEG_UPSTREAM_VERSION="${FFMPEG_DEBIAN_VERSION%%-*}"
FFMPEG_ORIG_SHA256="f0bf043299db9e3caacb435a712fc541fbb07df613c4b893e8b77e67baf3adbe"
FFMPEG_DEBIAN_SHA256="4176ad8aa4bfc3321f6603af72900ae5115ae21b2d2e8e6f918d643125ce0172"
FFMPEG_POOL="${FFMPEG_POOL:-http://deb.debian.org/debian/pool/main/f/ffmpeg}"
# The multi-node tier's NetworkPolicy engine: SIG Network's kube-network-policies, built from its Go
# module (hack/build-kube-network-policies.sh) into the same cache; one process per node
# (devtools/devtools/cluster/node.py), nftables + NFQUEUE in the node's network namespace.
KUBE_NETWORK_POLICIES_VERSION="${KUBE_NETWORK_POLICIES_VERSION:-v0.8.0}"
KUBE_NETWORK_POLICIES_BIN="$STREAMOPS_CACHE/kube-network-policies-$KUBE_NETWORK_POLICIES_VERSION/bin/kube-network-policies"
# Publishing (devtools/devtools/publish.py, docs/design/publishing.md): go-containerregistry's crane,
# which pushes the OCI image layouts `make images` writes (hack/build-crane.sh), and CNCF
# Distribution, the OCI registry the tests push to on 127.0.0.1 (hack/build-registry.sh,
# devtools/devtools/registry.py), both built from their Go modules into the same cache.
CRANE_VERSION="${CRANE_VERSION:-v0.22.1}"
CRANE_BIN="$STREAMOPS_CACHE/crane-$CRANE_VERSION/bin/crane"
DISTRIBUTION_VERSION="${DISTRIBUTION_VERSION:-v3.1.2}"
# -fs: the build with the filesystem and inmemory drivers only (hack/build-registry.sh).
REGISTRY_BIN="$STREAMOPS_CACHE/distribution-$DISTRIBUTION_VERSION-fs/bin/registry"
# The multi-node tier's real add-ons (docs/design/local-cluster.md, "Add-ons"), each built from its Go
# module into the same cache (rows of GO_TOOLS below): metrics-server (hack/build-metrics-server.sh;
# v0.8.x is the line that supports Kubernetes 1.31+, the proxy's v0.9.0 wants 1.34+), cert-manager's
# controller, webhook and cainjector (hack/build-cert-manager.sh: the core module's packages behind
# mains of ours, its binaries' own modules are not published) and its Helm chart, and the Prometheus
# Operator with its config reloader (hack/build-prometheus-operator.sh), the version of the CRDs above.
METRICS_SERVER_VERSION="${METRICS_SERVER_VERSION:-v0.8.0}"
METRICS_SERVER_BIN="$STREAMOPS_CACHE/metrics-server-$METRICS_SERVER_VERSION/bin/metrics-server"
CERT_MANAGER_VERSION="${CERT_MANAGER_VERSION:-v1.21.2}"
CERT_MANAGER_DIR="$STREAMOPS_CACHE/cert-manager-$CERT_MANAGER_VERSION"
PROMETHEUS_OPERATOR_BIN_DIR="$STREAMOPS_CACHE/prometheus-operator-$PROMETHEUS_OPERATOR_VERSION/bin"

# The Go tools built from their modules into the cache, one row each: what hack/go-tool.sh's
# go_tool_build (the one locked, idempotent build; hack/build-<name>.sh and hack/kind.sh call it)
# reads. `how`: install = `go install MODULE/PACKAGE@VERSION` (a module without replace directives);
# module = upstream's go.mod renamed into a scratch module (<cache>/<name>-build-<version>) that
# requires the tool, so its replace directives hold, then `go build MODULE/PACKAGE` there ("." = a
# main package the wrapper writes there); source = a copy of the module's source that the wrapper
# patches, then `go build ./PACKAGE` (the binary is stamped with the wrapper's hash: editing the
# patches rebuilds). `{bin}` stands for each binary of a tool that builds several (kube). ldflags:
# stamped on top of -s -w (a wrapper adds what is known only at build time); tags: go build -tags.
GO_TOOLS="
# name                | how     | module                                  | package       | version                          | binary                         | go   | tags                                 | ldflags
helm                  | install | helm.sh/helm/v3                         | cmd/helm      | $HELM_VERSION                    | $HELM_BIN                      | 1.24 |                                      | -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION
crane                 | install | github.com/google/go-containerregistry  | cmd/crane     | $CRANE_VERSION                   | $CRANE_BIN                     | 1.25 |                                      | -X github.com/google/go-containerregistry/cmd/crane/cmd.Version=$CRANE_VERSION
registry              | module  | github.com/distribution/distribution/v3 | .             | $DISTRIBUTION_VERSION            | $REGISTRY_BIN                  | 1.26 |                                      | -X github.com/distribution/distribution/v3/version.version=$DISTRIBUTION_VERSION -X github.com/distribution/distribution/v3/version.mainpkg=github.com/distribution/distribution/v3
versitygw             | install | github.com/versity/versitygw            | cmd/versitygw | $VERSITYGW_VERSION               | $VERSITYGW_BIN                 | 1.25 |                                      | -X main.Version=$VERSITYGW_VERSION
kind                  | install | sigs.k8s.io/kind                        | .             | $KIND_VERSION                    | $KIND_BIN                      | 1.24 |                                      |
coredns               | module  | github.com/coredns/coredns              | .             | $COREDNS_VERSION                 | $COREDNS_BIN                   | 1.25 |                                      | -X github.com/coredns/coredns/coremain.GitCommit=$COREDNS_VERSION
traefik               | module  | github.com/traefik/traefik/v3           | cmd/traefik   | $TRAEFIK_VERSION                 | $TRAEFIK_BIN                   | 1.26 |                                      | -X github.com/traefik/traefik/v3/pkg/version.Version=$TRAEFIK_VERSION -X github.com/traefik/traefik/v3/pkg/version.Codename=streamops
prometheus            | module  | github.com/prometheus/prometheus        | cmd/prometheus| $PROMETHEUS_VERSION              | $PROMETHEUS_BIN                | 1.26 | remove_all_sd,enable_kubernetes_sd   | -X github.com/prometheus/common/version.Version=$PROMETHEUS_VERSION -X github.com/prometheus/common/version.Branch=streamops
kube                  | module  | k8s.io/kubernetes                       | cmd/{bin}     | $KUBE_VERSION                    | $KUBE_BIN_DIR/{bin}            | 1.24 |                                      | -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1
metrics-server        | module  | sigs.k8s.io/metrics-server              | cmd/metrics-server | $METRICS_SERVER_VERSION     | $METRICS_SERVER_BIN            | 1.24 |                                      | -X k8s.io/client-go/pkg/version.gitVersion=$METRICS_SERVER_VERSION -X k8s.io/client-go/pkg/version.gitTreeState=clean
cert-manager          | source  | github.com/cert-manager/cert-manager    | streamops/{bin} | $CERT_MANAGER_VERSION          | $CERT_MANAGER_DIR/bin/{bin}    | 1.26 |                                      | -X github.com/cert-manager/cert-manager/pkg/util.AppVersion=$CERT_MANAGER_VERSION -X github.com/cert-manager/cert-manager/pkg/util.AppGitState=clean
prometheus-operator   | module  | github.com/prometheus-operator/prometheus-operator | cmd/{bin} | $PROMETHEUS_OPERATOR_VERSION | $PROMETHEUS_OPERATOR_BIN_DIR/{bin} | 1.24 |                             | -X github.com/prometheus/common/version.Version=${PROMETHEUS_OPERATOR_VERSION#v} -X github.com/prometheus/common/version.Branch=streamops
kube-network-policies | source  | sigs.k8s.io/kube-network-policies       | cmd           | $KUBE_NETWORK_POLICIES_VERSION   | $KUBE_NETWORK_POLICIES_BIN     | 1.23 |                                      |
"
