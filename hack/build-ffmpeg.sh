#!/usr/bin/env bash
# Build the workers' FFmpeg (ffmpeg + ffprobe) from Debian 13's FFmpeg 7.1 source package (Enhanced
# FLV, RTSP; issue 40) — configured with only the protocols, formats, codecs and
# filters the workers use (hack/ffmpeg/configure-flags), libav* linked in statically, libx264, libsrt
# GnuTLS and dav1d from Debian, plus our patches (hack/ffmpeg/patches). Into the cache outside the repo,
# keyed by the Debian version, the flags and our patches; later runs are a no-op. Why: Debian's
# ffmpeg loads ≈214 shared libraries, ≈55 MiB of RSS in every FFmpeg of every worker
# (docs/design/lean-workers.md). ≈4 min on 2 cores the first time.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/versions.sh
source "$here/versions.sh"
flags_file="$here/ffmpeg/configure-flags"
mapfile -t flags < <(grep -v '^\s*#' "$flags_file" | grep -v '^\s*$')
shopt -s nullglob
patches=("$here"/ffmpeg/patches/*.patch)  # ours, after Debian's (each says why)
shopt -u nullglob
key=$(printf '%s\n' "$FFMPEG_DEBIAN_VERSION" "${flags[@]}" | cat - "${patches[@]}" | sha256sum | cut -c1-12)
out="$STREAMOPS_CACHE/ffmpeg-$FFMPEG_DEBIAN_VERSION-$key"
if [ "${1:-}" = "--print-dir" ]; then echo "$out"; exit 0; fi
[ -x "$out/bin/ffmpeg" ] && [ -x "$out/bin/ffprobe" ] && exit 0
mkdir -p "$STREAMOPS_CACHE"
exec 9>"$STREAMOPS_CACHE/.ffmpeg-build.lock"
flock 9  # `make ffmpeg` and a test session may start at once: the second waits, then finds it built
[ -x "$out/bin/ffmpeg" ] && [ -x "$out/bin/ffprobe" ] && exit 0
echo "building the workers' FFmpeg $FFMPEG_DEBIAN_VERSION (first run on this machine only)..." >&2
start=$(date +%s)
work=$(mktemp -d "$STREAMOPS_CACHE/.ffmpeg-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
fetch() {  # name sha256
  local file="$STREAMOPS_CACHE/downloads/$1"
  mkdir -p "$STREAMOPS_CACHE/downloads"
  if ! echo "$2  $file" | sha256sum -c --quiet >/dev/null 2>&1; then
    curl -fsSL --retry 3 -o "$file.tmp" "$FFMPEG_POOL/$1"
    echo "$2  $file.tmp" | sha256sum -c --quiet >&2
    mv "$file.tmp" "$file"
  fi
  echo "$file"
}
orig=$(fetch "ffmpeg_$FFMPEG_UPSTREAM_VERSION.orig.tar.xz" "$FFMPEG_ORIG_SHA256")
debian=$(fetch "ffmpeg_$FFMPEG_DEBIAN_VERSION.debian.tar.xz" "$FFMPEG_DEBIAN_SHA256")
tar -xf "$orig" -C "$work"
src="$work/ffmpeg-$FFMPEG_UPSTREAM_VERSION"
tar -xf "$debian" -C "$src"
if [ -f "$src/debian/patches/series" ]; then  # 7.1.3-0+deb13u1 has none; a later revision may
  while read -r patch; do  # Debian's patches, in its order (quilt's series file)
    case "$patch" in ''|'#'*) continue ;; esac
    patch -s -p1 -d "$src" < "$src/debian/patches/$patch"
  done < "$src/debian/patches/series"
fi
for patch in "${patches[@]}"; do
  patch -s -p1 -d "$src" < "$patch"
done
cd "$src"
./configure --prefix="$out" --extra-version="streamops-$key" --toolchain=hardened "${flags[@]}" > "$work/configure.log" \
  || { tail -30 "$work/configure.log" ffbuild/config.log >&2; exit 1; }
make -s -j"$(nproc)" ffmpeg ffprobe > "$work/make.log" 2>&1 || { tail -40 "$work/make.log" >&2; exit 1; }
mkdir -p "$out.tmp/bin"
install -m 0755 -s ffmpeg ffprobe "$out.tmp/bin/"
cp "$flags_file" "$out.tmp/configure-flags"
rm -rf "$out" && mv "$out.tmp" "$out"
echo "built the workers' FFmpeg in $(( $(date +%s) - start ))s: $out" >&2
