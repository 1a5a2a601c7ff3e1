#!/usr/bin/env bash
# Install what `make test` / `make demo` need on a fresh machine, idempotently:
# Debian packages (only when missing), then a check that Go can build the pinned Kubernetes.
set -euo pipefail
# etcd for the control plane; FFmpeg for the workers; nginx-rtmp and srt-tools as real peers in tests.
# lua5.4 runs the Argo CD health checks (docs/gitops/argocd/health/*.lua) in the chart tests.
# The local nodes (devtools/devtools/cluster/node.py): containerd + runc run the worker Pods; the CNI bridge,
# host-local, portmap and loopback plugins give them the pod network; iptables + conntrack serve kube-proxy and the
# nodes' egress rule (all inside the cluster's own network namespaces, devtools/devtools/cluster/network.py);
# debootstrap builds the images' root filesystems, gcc + a static libc the pause binary.
# nasm, pkg-config and the -dev packages: hack/build-ffmpeg.sh builds the workers' FFmpeg against
# Debian's libx264, libsrt, libopus, dav1d and GnuTLS (Debian's ffmpeg stays: the tests' publishers and probes use it).
# chromium: the browser tier (tests/browser) plays the player page headless and measures glass-to-glass latency;
# Debian's build plays H.264 + AAC through Media Source Extensions (devtools/devtools/media/browser.py).
# janus: the reference WebRTC server of the fan-out benchmark (bench/webrtc_fanout.py runs its own, from a private
# config, in a network namespace of its own: devtools/devtools/media/janus.py); its system service is never started.
# libnginx-mod-http-lua (LuaJIT, lua-resty-core): the edge tier (operator/streamops/media/edge), run on the host by the
# media tests (devtools/devtools/media/edge.py); nghttp2-client: h2load, the edge's token-check benchmark.
# coturn: the TURN relay the browser tier plays through (tests/browser/test_webrtc_ingest.py; 127.0.0.1 only, in the
# test's network namespace, no configuration file: devtools/devtools/media/turn_server.py); its service never starts.
# prometheus: promtool checks and unit-tests the chart's alerts (tests/chart/test_prometheus_rules.py); its service
# never starts (policy-rc.d below).
# nftables: `nft` reads the NetworkPolicy engine's table in each node's namespace (tests/multinode/test_network_policy.py).
# GStreamer's RTSP server through PyGObject (gir1.2-gst-rtsp-server-1.0, python3-gi for the system python3): the IP
# camera of the RTSP pull tests (devtools/devtools/media/rtsp_camera.py); x264enc (ugly), rtph264pay and rtpmp4gpay
# (good), videotestsrc/audiotestsrc (base), avenc_aac (libav: cameras send AAC). Nothing of it is a service.
packages=(etcd-server openssl ca-certificates ffmpeg nginx-light libnginx-mod-rtmp srt-tools curl lua5.4
          containerd runc containernetworking-plugins debootstrap gcc libc6-dev iptables conntrack chromium
          make nasm pkg-config libx264-dev libsrt-gnutls-dev libgnutls28-dev zlib1g-dev xz-utils libopus-dev libdav1d-dev janus
          coturn libnginx-mod-http-lua nghttp2-client prometheus nftables
          gir1.2-gst-rtsp-server-1.0 python3-gi gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
          gstreamer1.0-plugins-ugly gstreamer1.0-libav)
# Two goals of one `make -j` (FFmpeg's and the image layers') may run this at once: the second
# waits, then finds nothing missing (two apt-gets at once: one fails on dpkg's lock).
cache="${STREAMOPS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/streamops}"
mkdir -p "$cache"
exec 9>"$cache/.deps.lock"
flock 9
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}" >&2
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  # Packages like nginx, etcd and janus would start system services listening beyond loopback: forbid
  # service starts while installing (policy-rc.d exit 101), unless a policy is already in place.
  policy=/usr/sbin/policy-rc.d
  own_policy=false
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo_cmd[@]}" tee "$policy" >/dev/null
    "${sudo_cmd[@]}" chmod +x "$policy"
    own_policy=true
  fi
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if $own_policy; then "${sudo_cmd[@]}" rm -f "$policy"; fi
fi
command -v go >/dev/null || { echo "Go (>= 1.24) is needed to build Kubernetes from its modules" >&2; exit 1; }
