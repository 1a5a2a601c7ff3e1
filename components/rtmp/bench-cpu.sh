#!/usr/bin/env bash
# CPU and RSS of streamops-rtmp for one 2.5 Mbit/s publisher, and of the FFmpeg reading its FIFO,
# beside FFmpeg's own RTMP listener and nginx-rtmp taking the same publish (README.md: Measured).
# The publisher is Debian's FFmpeg sending a pre-encoded 720p30 x264 2.5 Mbit/s + AAC file with -re
# (the packets of a live encode without the encoder's CPU). Everything on 127.0.0.1.
#   components/rtmp/bench-cpu.sh [seconds]   (the steady window; default 20)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
window=${1:-20}
bash "$root/hack/build-rtmp.sh"
bin=$(bash "$root/hack/build-rtmp.sh" --print-path)
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
tck=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss() { awk '/^VmRSS/ {printf "%.1f MiB", $2 / 1024}' "/proc/$1/status"; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# cpu PID...: % of one core over the window, per PID
cpu() {
  local before=() after=() i
  for i in "$@"; do before+=("$(ticks "$i")"); done
  sleep "$window"
  for i in "$@"; do after+=("$(ticks "$i")"); done
  for i in "${!before[@]}"; do
    awk -v d=$(( ${after[$i]} - ${before[$i]} )) -v t="$tck" -v w="$window" 'BEGIN {printf "%.2f %%", 100 * d / t / w}'
    echo -n "  "
  done
  echo
}

echo "pre-encoding 30 s of 720p30 at 2.5 Mbit/s..." >&2
ffmpeg -hide_banner -loglevel error -f lavfi -i testsrc2=size=1280x720:rate=30 -f lavfi -i sine=sample_rate=48000 \
  -c:v libx264 -preset veryfast -b:v 2500k -maxrate 2500k -bufsize 5000k -g 60 -keyint_min 60 -sc_threshold 0 \
  -c:a aac -t 30 "$tmp/src.flv"
publish() { # URL: publish the file in a loop, in real time, for the whole run
  ffmpeg -hide_banner -loglevel error -nostdin -re -stream_loop -1 -i "$tmp/src.flv" -c copy -f flv "$1" &
  pids+=($!)
}

echo "== streamops-rtmp + FFmpeg reading the FIFO"
printf 'bench-key\n' > "$tmp/key"
mkfifo "$tmp/in.flv"
coproc FRONT { exec "$bin" --key-file "$tmp/key" --rtmp 127.0.0.1:0 2>"$tmp/front.log"; }
front=$FRONT_PID
pids+=("$front")
read -r line <&"${FRONT[0]}"
port=$(sed -n 's/.*"rtmp":"127.0.0.1:\([0-9]*\)".*/\1/p' <<<"$line")
sleep 1
echo "front RSS idle: $(rss "$front")"
ffmpeg -hide_banner -loglevel error -nostdin -f flv -i "$tmp/in.flv" -c copy -f null - &
reader=$!
pids+=("$reader")
publish "rtmp://127.0.0.1:$port/live/bench-key"
read -r line <&"${FRONT[0]}"
id=$(sed -n 's/.*"id":\([0-9]*\).*/\1/p' <<<"$line")
printf '{"type":"admit","id":%s,"fifo":"%s"}\n' "$id" "$tmp/in.flv" >&"${FRONT[1]}"
sleep 5
echo "CPU over ${window} s (front, FFmpeg reader): $(cpu "$front" "$reader")"
echo "front RSS with one publisher: $(rss "$front"); FFmpeg reader RSS: $(rss "$reader")"
kill "${pids[@]}" 2>/dev/null || true
wait 2>/dev/null || true
pids=()

echo "== FFmpeg's own RTMP listener (what the Python gate relayed to)"
port=$(free_port)
ffmpeg -hide_banner -loglevel error -nostdin -listen 1 -f flv -i "rtmp://127.0.0.1:$port/live/bench-key" -c copy -f null - &
listener=$!
pids+=("$listener")
sleep 1
publish "rtmp://127.0.0.1:$port/live/bench-key"
sleep 5
echo "CPU over ${window} s (FFmpeg listener): $(cpu "$listener")"
kill "${pids[@]}" 2>/dev/null || true
wait 2>/dev/null || true
pids=()

if [ -f /usr/lib/nginx/modules/ngx_rtmp_module.so ]; then
  echo "== nginx-rtmp (live on, nothing else)"
  port=$(free_port)
  mkdir -p "$tmp/nginx"
  cat > "$tmp/nginx/nginx.conf" <<EOF
load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
$( [ "$(id -u)" = 0 ] && echo "user root;" )
worker_processes 1;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log;
events { worker_connections 64; }
rtmp { server { listen 127.0.0.1:$port; application live { live on; } } }
EOF
  nginx -p "$tmp/nginx/" -c "$tmp/nginx/nginx.conf" -g "daemon off;" &
  master=$!
  pids+=("$master")
  sleep 1
  publish "rtmp://127.0.0.1:$port/live/bench-key"
  sleep 5
  worker=$(pgrep -P "$master" | head -1)
  echo "CPU over ${window} s (nginx master, worker): $(cpu "$master" "$worker")"
fi
