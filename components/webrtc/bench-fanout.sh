#!/usr/bin/env bash
# Fan-out cost of streamops-webrtc, on 127.0.0.1 only: FFmpeg sends one 720p30 ≈2.5 Mbit/s H.264
# stream (+ Opus) as RTP to the component's input ports (the RTMP/SRT -> WHEP path), then whep-load
# opens 1, 10, 50 viewers (one process, receive + decrypt, no decode). For each count: the
# component's CPU (% of one core, from /proc/PID/stat over the window) and RSS, and what the viewers
# got. Every run is bounded (each ≤ ≈30 s, FFmpeg and the component killed at the end).
#   components/webrtc/bench-fanout.sh [viewer counts...]   (default: 1 10 50)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
counts=("$@")
[ $# -gt 0 ] || counts=(1 10 50)
"$here/../../hack/build-webrtc.sh"
bin=$("$here/../../hack/build-webrtc.sh" --print-path)
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
(cd "$here" && go build -o "$work/whep-load" ./cmd/whep-load)
# 10 s of 720p30 at 2.5 Mbit/s, a keyframe every 2 s, no B-frames (WebRTC players take none).
ffmpeg -hide_banner -loglevel error -nostdin -f lavfi -i testsrc2=size=1280x720:rate=30 \
  -f lavfi -i sine=frequency=440:sample_rate=48000 -t 10 \
  -c:v libx264 -preset veryfast -profile:v main -pix_fmt yuv420p -b:v 2500k -maxrate 2500k -bufsize 2500k -g 60 -bf 0 \
  -c:a libopus -b:a 64k "$work/src.ts"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
control=$(port); ice=$(port); vport=$(( 20000 + RANDOM % 20000 * 2 )); aport=$(( vport + 2 ))
"$bin" --control "127.0.0.1:$control" --ice-udp "127.0.0.1:$ice" --ice-tcp "" --ice-allow-ip 127.0.0.0/8 \
  --rtp-in-video-port "$vport" --rtp-in-audio-port "$aport" --log-level error &
comp=$!; pids+=("$comp")
# MPEG-TS keeps x264's SPS/PPS in band before every keyframe: viewers get no other way to see them.
timeout 300 ffmpeg -hide_banner -loglevel error -nostdin -re -stream_loop -1 -i "$work/src.ts" \
  -map 0:v -c:v copy -f rtp "rtp://127.0.0.1:$vport" \
  -map 0:a -c:a copy -f rtp "rtp://127.0.0.1:$aport" > /dev/null &
pids+=("$!")
status() { curl -fsS "http://127.0.0.1:$control/status"; }
for _ in $(seq 50); do status 2>/dev/null | grep -q '"live":true' && break; sleep 0.1; done
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }  # utime + stime, clock ticks
tck=$(getconf CLK_TCK)
measure() {  # seconds pid... -> % of one core of each pid
  local s=$1; shift
  local a=() b=() i
  for p in "$@"; do a+=("$(cpu "$p")"); done
  sleep "$s"
  for p in "$@"; do b+=("$(cpu "$p")"); done
  for i in "${!a[@]}"; do python3 -c "print(round((${b[$i]} - ${a[$i]}) / $tck / $s * 100, 1))"; done | paste -sd' '
}
echo "uptime: $(uptime)"
echo "viewers=0 cpu%=$(measure 5 "$comp") rssKiB=$(awk '/VmRSS/{print $2}' "/proc/$comp/status")"
for n in "${counts[@]}"; do
  "$work/whep-load" --url "http://127.0.0.1:$control" --viewers "$n" --window 12s > "$work/load.json" &
  load=$!
  for _ in $(seq 200); do status | grep -q "\"viewers\":$n," && break; sleep 0.1; done
  sleep 2
  read -r c lc < <(measure 10 "$comp" "$load")
  wait "$load"
  echo "viewers=$n cpu%=$c loadClientCpu%=$lc rssKiB=$(awk '/VmRSS/{print $2}' "/proc/$comp/status") load=$(cat "$work/load.json") uptime=\"$(uptime)\""
  sleep 1
done
status; echo
