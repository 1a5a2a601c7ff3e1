"""Where things are: the repository, the build cache and the pinned binaries (one source: hack/versions.sh)."""

from __future__ import annotations

import functools
import os
import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VERSIONS_SH = REPO / "hack" / "versions.sh"


class VersionsError(RuntimeError):
    pass


def sourced(var: str) -> str:
    """A variable as hack/versions.sh sets it (with the environment's overrides)."""
    out = subprocess.run(
        ["bash", "-c", f"source {VERSIONS_SH} && echo ${var}"], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def cache_dir() -> Path:
    """$STREAMOPS_CACHE, else $XDG_CACHE_HOME/streamops, else ~/.cache/streamops."""
    if env := os.environ.get("STREAMOPS_CACHE"):
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "streamops"


def kube_version() -> str:
    """The pinned version, read from hack/versions.sh so it is written down in one place."""
    if env := os.environ.get("KUBE_VERSION"):
        return env
    m = re.search(r'KUBE_VERSION="\$\{KUBE_VERSION:-([^}"]+)\}"', VERSIONS_SH.read_text())
    if not m:
        raise VersionsError(f"cannot find the KUBE_VERSION default in {VERSIONS_SH}")
    return m.group(1)


def kube_bin_dir() -> Path:
    """Same rule as hack/versions.sh: $KUBE_BIN_DIR, else <cache>/kube-<version>/bin."""
    if env := os.environ.get("KUBE_BIN_DIR"):
        return Path(env)
    return cache_dir() / f"kube-{kube_version()}" / "bin"


def helm_bin() -> Path:
    """The pinned helm ($HELM overrides), built by hack/build-helm.sh (`make helm`)."""
    if env := os.environ.get("HELM"):
        return Path(env)
    return Path(sourced("HELM_BIN"))


def coredns_bin() -> Path:
    """The pinned CoreDNS, built by hack/build-coredns.sh (`make coredns`)."""
    return Path(sourced("COREDNS_BIN"))


def traefik_bin() -> Path:
    """The pinned Traefik, built by hack/build-traefik.sh (`make traefik`)."""
    return Path(sourced("TRAEFIK_BIN"))


def gateway_api_crds_dir() -> Path:
    """The pinned Gateway API standard-channel CRDs, copied by hack/fetch-gateway-api.sh."""
    return Path(sourced("GATEWAY_API_CRDS"))


def prometheus_bin() -> Path:
    """The pinned Prometheus (Kubernetes service discovery only), built by hack/build-prometheus.sh
    (`make prometheus`)."""
    return Path(sourced("PROMETHEUS_BIN"))


def prometheus_operator_crds_dir() -> Path:
    """The pinned Prometheus Operator's monitoring CRDs, copied by hack/fetch-prometheus-operator-crds.sh."""
    return Path(sourced("PROMETHEUS_OPERATOR_CRDS"))


def prometheus_operator_all_crds_dir() -> Path:
    """Every CRD of the pinned Prometheus Operator (Prometheus, Alertmanager, ... besides the three
    monitoring ones), copied by hack/fetch-prometheus-operator-crds.sh: what the operator itself needs."""
    return Path(sourced("PROMETHEUS_OPERATOR_ALL_CRDS"))


def prometheus_operator_rbac_dir() -> Path:
    """Upstream's ClusterRoles of the operator and of a Prometheus it runs (example/rbac in the module),
    copied by hack/fetch-prometheus-operator-crds.sh."""
    return Path(sourced("PROMETHEUS_OPERATOR_RBAC"))


def prometheus_operator_bin_dir() -> Path:
    """The pinned Prometheus Operator's `operator` and `prometheus-config-reloader`, built by
    hack/build-prometheus-operator.sh (`make prometheus-operator`)."""
    return Path(sourced("PROMETHEUS_OPERATOR_BIN_DIR"))


def metrics_server_bin() -> Path:
    """The pinned metrics-server, built by hack/build-metrics-server.sh (`make metrics-server`)."""
    return Path(sourced("METRICS_SERVER_BIN"))


def cert_manager_dir() -> Path:
    """The pinned cert-manager as hack/build-cert-manager.sh leaves it (`make cert-manager`): bin/controller,
    bin/webhook, bin/cainjector and chart/ (the module's Helm chart, versioned)."""
    return Path(sourced("CERT_MANAGER_DIR"))


def kube_network_policies_bin() -> Path:
    """The pinned kube-network-policies (SIG Network's NetworkPolicy engine, one process per node of
    the multi-node cluster), built by hack/build-kube-network-policies.sh (`make kube-network-policies`)."""
    return Path(sourced("KUBE_NETWORK_POLICIES_BIN"))


def versitygw_bin() -> Path:
    """The pinned versitygw (the S3 server of the tests and the demo), built by
    hack/build-versitygw.sh (`make s3server`)."""
    return Path(sourced("VERSITYGW_BIN"))


@functools.cache
def worker_ffmpeg_dir() -> Path:
    """The workers' FFmpeg as hack/build-ffmpeg.sh built it (bin/ffmpeg, bin/ffprobe): the cache
    directory keyed by the Debian version and the configuration's hash. Raises VersionsError when
    it is not built yet (`make ffmpeg`). $STREAMOPS_WORKER_FFMPEG_DIR names another build of the same
    layout instead: a benchmark comparing two releases (bench/README.md, "FFmpeg 5.1 → 7.1")."""
    if override := os.environ.get("STREAMOPS_WORKER_FFMPEG_DIR"):
        built = Path(override)
    else:
        out = subprocess.run(
            ["bash", str(REPO / "hack" / "build-ffmpeg.sh"), "--print-dir"], capture_output=True, text=True, check=True
        )
        built = Path(out.stdout.strip())
    if not all((built / "bin" / name).exists() for name in ("ffmpeg", "ffprobe")):
        raise VersionsError(f"the workers' FFmpeg is not built ({built}): run `make ffmpeg`")
    return built


def worker_ffmpeg_env() -> dict[str, str]:
    """STREAMOPS_FFMPEG/STREAMOPS_FFPROBE for a worker run as a local process: the FFmpeg its image
    ships (hack/build-ffmpeg.sh), not the host's Debian one, so tests and benchmarks measure it; and
    STREAMOPS_RTMP, the RTMP front its image ships (components/rtmp; $STREAMOPS_RTMP overrides), and
    STREAMOPS_RELAY, the shared pusher's media relay (components/relay; $STREAMOPS_RELAY overrides), and
    STREAMOPS_READERS, the SRT/RTSP readers' server (components/readers; $STREAMOPS_READERS overrides)."""
    bin_dir = worker_ffmpeg_dir() / "bin"
    return {
        "STREAMOPS_FFMPEG": str(bin_dir / "ffmpeg"),
        "STREAMOPS_FFPROBE": str(bin_dir / "ffprobe"),
        "STREAMOPS_RTMP": os.environ.get("STREAMOPS_RTMP") or str(rtmp_bin()),
        "STREAMOPS_RELAY": os.environ.get("STREAMOPS_RELAY") or str(relay_bin()),
        "STREAMOPS_READERS": os.environ.get("STREAMOPS_READERS") or str(readers_bin()),
    }


@functools.cache
def component_bin(name: str) -> Path:
    """A Go component (components/<name>) as hack/build-<name>.sh builds it: the cache path keyed by
    its sources, built here on first use (seconds to a minute cold; a no-op after)."""
    script = str(REPO / "hack" / f"build-{name}.sh")
    subprocess.run(["bash", script], check=True, stdout=subprocess.DEVNULL)
    out = subprocess.run(["bash", script, "--print-path"], capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def webrtc_bin() -> Path:
    """streamops-webrtc (components/webrtc): WHIP ingest and WHEP playback."""
    return component_bin("webrtc")


def rtmp_bin() -> Path:
    """streamops-rtmp (components/rtmp): the ingest's RTMP(S) front door."""
    return component_bin("rtmp")


def relay_bin() -> Path:
    """streamops-relay (components/relay): the shared pusher's media relay."""
    return component_bin("relay")


def readers_bin() -> Path:
    """streamops-readers (components/readers): the live stream for SRT callers and RTSP clients."""
    return component_bin("readers")


def hlsload_bin() -> Path:
    """hlsload (components/hlsload): the load client of `make bench-playback`."""
    return component_bin("hlsload")


def built(binary: Path, script: str) -> Path:
    """`binary`, built first by hack/`script` when it is not there yet (the scripts lock, so parallel
    sessions build it once; a no-op when it is)."""
    if not os.access(binary, os.X_OK):
        subprocess.run(["bash", str(REPO / "hack" / script)], check=True)
    return binary


def crane_bin() -> Path:
    """The pinned crane (go-containerregistry), built by hack/build-crane.sh (`make crane`)."""
    return Path(sourced("CRANE_BIN"))


def registry_bin() -> Path:
    """The pinned CNCF Distribution registry, built by hack/build-registry.sh (`make registry`)."""
    return Path(sourced("REGISTRY_BIN"))
