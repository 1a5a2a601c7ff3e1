#!/usr/bin/env bash
# Fan-out cost of streamops-webrtc, superseded by the Python benchmark that also runs Janus on the
# same RTP in the same run (bench/webrtc_fanout.py, the fan-out row of `make bench-media`; results in
# bench/results/webrtc-fanout.md). Kept as a shortcut:
#   components/webrtc/bench-fanout.sh [viewer counts...]   (default: 1 50 200)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
counts=("$@")
[ $# -gt 0 ] || counts=(1 50 200)
cd "$root"
exec .venv/bin/python -m bench.webrtc_fanout --counts "$(IFS=,; echo "${counts[*]}")"
