"""Encrypted HLS (spec.playback.encryption, docs/design/protection.md) from a real ingest with real
FFmpeg: the playlists name AES-128 keys behind the playback gate, ffmpeg plays the signed stream
with them, a key without the viewer's token is refused, segments and parts on the public path are
not the bytes on disk and decrypt to them, another ingest of the stream (a handover's successor)
answers the same key under the same id, the DVR files are clear, the feed recordings are made
from is clear, and a clip of the encrypted stream (the clipper reads the public playlist like a
player) is clear media in S3. A public stream (random keys) handed over: the successor answers
every key the predecessor listed, with the same bytes, and the same ciphertext, so a player (or a
cache) holding the predecessor's playlist plays on from the successor."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from devtools.http_client import http_request
from devtools.media.clipper import ClipperWorker, probe
from devtools.media.peers import Publisher, TcpForwarder
from devtools.media.playback_keys import write_playback_keys
from devtools.media.reconnecting_publisher import Backoff, ReconnectingPublisher
from devtools.media.s3_server import S3Server
from devtools.media.workers import WORKER_AUTH
from devtools.waits import wait_for
from streamops.contract.ingest import HANDOVER_FOLLOW_PATH, HANDOVER_RELEASE_PATH, HANDOVER_STATE_PATH
from streamops.contract.playback_token import sign
from streamops.media.aes_cbc import aes_128_cbc

from tests.media.test_handover import handover, post

HLS = {"segmentSeconds": 1, "latencyMode": "low", "cmaf": True, "mpegts": True}
KEY = re.compile(r'#EXT-X-KEY:METHOD=AES-128,URI="([^"]+)",IV=0x([0-9a-f]{32})')
SEGMENT = re.compile(r"^(seg-\d+\.(?:m4s|ts))$", re.M)
PART = re.compile(r'#EXT-X-PART:DURATION=[\d.]+,URI="(part-\d+\.m4s)"')


def get(url: str) -> tuple[int, dict[str, str], bytes]:
    return http_request("GET", url, timeout=15)


def playlist(url: str) -> str:
    def ready() -> str | None:
        code, _, body = get(url)
        text = body.decode()
        return text if code == 200 and len(SEGMENT.findall(text)) >= 2 and KEY.search(text) else None

    return wait_for(ready, timeout=30, what=f"{url} with two keyed segments")


def key_of(text: str, uri: str) -> tuple[str, bytes]:
    """The key URI and IV in force for `uri` in the playlist `text` (the last EXT-X-KEY before it)."""
    found = KEY.findall(text[: text.index(uri)])
    assert found, f"no key before {uri}"
    return found[-1][0], bytes.fromhex(found[-1][1])


def on_disk(media: Path, name: str) -> bytes:
    matches = [p for p in media.rglob(name) if p.is_file()]
    assert matches, f"{name} is not under {media}"
    return matches[0].read_bytes()


def test_encrypted_hls_plays_through_the_gate_and_files_and_clips_stay_clear(ingest_factory, tmp_path: Path):
    signing = os.urandom(32)
    keys = write_playback_keys(tmp_path / "keys" / "playback-keys", signing, None)
    playback: dict[str, Any] = {"namespace": "media", "access": "signed", "keysDir": str(keys)}
    encryption = {"method": "AES-128", "rotateSeconds": 10}
    dvr = {"enabled": True, "durationSeconds": 30}
    ingest = ingest_factory(hls=HLS, playback=playback, encryption=encryption, dvr=dvr)
    successor = ingest_factory("successor", hls=HLS, playback=playback, encryption=encryption, dvr=dvr)
    token = sign(signing, "media/cam", int(time.time()) + 600)
    base, signed = ingest.http, f"{ingest.http}/t/{token}"
    with Publisher(ingest.rtmp_url(), size="320x180", rate=25, gop_seconds=1):
        ingest.wait_live()
        for variant, clear_start in (("ts", b"\x47"), ("cmaf", None)):
            text = playlist(f"{signed}/hls/{variant}/index.m3u8")
            # Init segments stay clear: the key is switched off before each EXT-X-MAP.
            if variant == "cmaf":
                assert text.index("#EXT-X-MAP") < text.index("#EXT-X-KEY")
                init = re.search(r'#EXT-X-MAP:URI="([^"]+)"', text)
                assert init is not None and get(f"{signed}/hls/cmaf/{init.group(1)}")[2][4:8] == b"ftyp"
            name = SEGMENT.findall(text)[-1]
            key_uri, iv = key_of(text, name)
            assert key_uri.startswith("../../key/")
            kid = key_uri.removeprefix("../../key/")

            # The key: through the gate (no token 401, a forged one 403), never cacheable.
            assert get(f"{base}/key/{kid}")[0] == 401
            forged = sign(os.urandom(32), "media/cam", int(time.time()) + 600)
            assert get(f"{base}/t/{forged}/key/{kid}")[0] == 403
            code, headers, key = get(f"{signed}/key/{kid}")
            assert code == 200 and len(key) == 16
            assert headers["Cache-Control"] == "private, no-store"
            assert get(f"{signed}/key/{kid[:-1]}9999")[0] == 404
            # Another ingest of the stream (a restart, a handover's successor): the same key under the same id.
            assert get(f"{successor.http}/t/{token}/key/{kid}")[2] == key

            # The segment on the public path is not the file; it decrypts to the file, which is clear.
            code, headers, served = get(f"{signed}/hls/{variant}/{name}")
            assert code == 200 and headers["Cache-Control"].startswith("private, max-age=")
            clear = on_disk(Path(ingest.config["mediaDir"]), name)
            assert served != clear and len(served) == (len(clear) // 16 + 1) * 16
            assert aes_128_cbc(served, key, iv, decrypt=True) == clear
            if clear_start is not None:
                assert clear[0:1] == clear[188:189] == clear_start  # MPEG-TS sync bytes: clear on disk
            else:
                assert clear[4:8] in (b"moof", b"styp"), clear[:16]

        # An LL-HLS part: encrypted on its own with its segment's key and IV (what hls.js expects).
        text = playlist(f"{signed}/hls/cmaf/index.m3u8")
        part = PART.findall(text)[-1]
        key_uri, iv = key_of(text, part)
        key = get(f"{signed}/key/{key_uri.removeprefix('../../key/')}")[2]
        code, _, served_part = get(f"{signed}/hls/cmaf/{part}")
        assert code == 200
        assert aes_128_cbc(served_part, key, iv, decrypt=True)[4:8] == b"moof"

        # ffmpeg plays both variants with the key fetched through the gate (its URI inside /t/<token>/).
        for variant in ("ts", "cmaf"):
            result = subprocess.run(
                ["ffmpeg", "-v", "error", "-i", f"{signed}/hls/{variant}/index.m3u8", "-t", "2", "-f", "null", "-"],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert result.returncode == 0 and "decrypt" not in result.stderr.lower(), result.stderr[-2000:]
            assert "Invalid data" not in result.stderr, result.stderr[-2000:]

        # What recorders, pushers and the warm recorder read: the internal feed, never encrypted.
        request = urllib.request.Request(ingest.feed_url, headers=WORKER_AUTH)
        with urllib.request.urlopen(request, timeout=15) as feed:
            head = feed.read(188 * 2000)
        assert len(head) == 188 * 2000 and all(head[i] == 0x47 for i in range(0, len(head), 188))
        (tmp_path / "feed.ts").write_bytes(head)
        assert {s["codec_type"] for s in probe(tmp_path / "feed.ts")["streams"]} >= {"video"}

        # A clip of the last seconds, uploaded to S3: the clipper decrypts what it reads (clear media,
        # like a recording), so the object and the file are MP4 that ffprobe reads, not ciphertext.
        with S3Server(tmp_path / "s3") as s3:
            s3.create_bucket("clips")
            upload = {
                "endpoint": s3.endpoint,
                "bucket": "clips",
                "keyPrefix": "media/cam/clips",
                "caFile": str(s3.ca_file),
                "stream": "cam",
                "recording": "clip",
            }
            env = {"AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": s3.secret_key}
            now = datetime.now(UTC)
            clipper = ClipperWorker(
                tmp_path / "clip",
                "clip",
                f"{base}/hls/ts/index.m3u8",
                now - timedelta(seconds=5),
                now - timedelta(seconds=1),
                playbackKeysDir=str(keys),
                playbackStream="media/cam",
                upload=upload,
                env=env,
            ).start()
            try:
                result = clipper.finished()
            finally:
                clipper.stop()
            assert result["state"] == "succeeded", (result, clipper.logs()[-2000:])
            url = result["video"]["url"]
            body = s3.client().get_object(Bucket="clips", Key=url.removeprefix("s3://clips/"))["Body"].read()
            local = tmp_path / "clip.mp4"
            local.write_bytes(body)
            info = probe(local)
            assert {s["codec_type"] for s in info["streams"]} == {"video", "audio"}, info
            assert float(info["format"]["duration"]) >= 3


def keyed_segments(text: str) -> dict[str, tuple[str, str]]:
    """Each segment of a playlist and the (key URI, IV) in force for it."""
    found: dict[str, tuple[str, str]] = {}
    in_force = ("", "")
    for line in text.split("\n"):
        if (key := KEY.match(line)) is not None:
            in_force = (key[1], key[2])
        elif line.startswith("#EXT-X-KEY:METHOD=NONE"):
            in_force = ("", "")
        elif SEGMENT.match(line):
            found[line] = in_force
    return found


def finished_copy(text: str, base: str, variant: str, path: Path) -> Path:
    """`text` (base/hls/<variant>/index.m3u8's) as a finished playlist file whose URIs all point at
    `base`: what a player that read it asks for next, whichever ingest answers."""
    text = text.replace('URI="../../key/', f'URI="{base}/key/').replace(
        'URI="init-', f'URI="{base}/hls/{variant}/init-'
    )
    text = SEGMENT.sub(lambda m: f"{base}/hls/{variant}/{m[1]}", text)
    path.write_text(text.rstrip("\n") + "\n#EXT-X-ENDLIST\n")
    return path


def plays(playlist: Path) -> None:
    result = subprocess.run(
        ["ffmpeg", "-v", "error", "-protocol_whitelist", "file,http,tcp,crypto", "-i", str(playlist),
         "-f", "null", "-"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    errors = result.stderr.lower()
    assert result.returncode == 0 and "decrypt" not in errors and "unable to open key" not in errors, errors[-2000:]
    assert "invalid data" not in errors, errors[-2000:]


def test_a_public_stream_s_keys_are_handed_over_with_its_window(ingest_factory, tmp_path: Path):
    began = time.monotonic()
    encryption, source = {"method": "AES-128", "rotateSeconds": 10}, {"push": {"protocols": ["rtmp"]}}
    dvr = {"enabled": True, "durationSeconds": 30}
    before = ingest_factory("predecessor", hls=HLS, dvr=dvr, source=source, encryption=encryption)
    after = ingest_factory("successor", hls=HLS, dvr=dvr, source=source, encryption=encryption)
    service = TcpForwarder(before.ports["rtmp"], tmp_path / "service").start()
    encoder = ReconnectingPublisher(
        lambda: Publisher(f"rtmp://127.0.0.1:{service.port}/live/{before.KEY}", size="320x180", rate=25, gop_seconds=1),
        Backoff(first=0.2, ceiling=1.0),
    ).start()
    try:
        before.wait_live(timeout=20)
        for variant in ("ts", "cmaf"):
            playlist(f"{before.http}/hls/{variant}/index.m3u8")
        assert (
            post(after.internal + HANDOVER_FOLLOW_PATH, {"predecessorUrl": before.internal, "predecessorPod": "a"})
            == 200
        )
        wait_for(lambda: handover(after).get("phase") == "caught-up", timeout=20)
        # The predecessor's last playlists, read before its release: once released it sends players
        # on to its successor (307) for the playlist.
        last = {v: get(f"{before.http}/hls/{v}/index.m3u8")[2].decode() for v in ("ts", "cmaf")}
        service.upstream = ("127.0.0.1", after.ports["rtmp"])
        assert post(before.internal + HANDOVER_RELEASE_PATH) == 202
        wait_for(lambda: handover(before).get("release") == "released", timeout=20)
        code, _, state = http_request("GET", before.internal + HANDOVER_STATE_PATH, None, WORKER_AUTH)
        assert code == 200, state
        held = {k["kid"] for k in json.loads(state).get("keys") or []}

        def continued(variant: str) -> str | None:
            text = get(f"{after.http}/hls/{variant}/index.m3u8")[2].decode()
            return text if SEGMENT.search(text.partition("#EXT-X-DISCONTINUITY\n")[2]) else None

        wait_for(lambda: handover(after).get("phase") == "on-air", timeout=30, what="the successor's own media")
        texts = {v: wait_for(lambda v=v: continued(v), timeout=30, what=f"{v} continued") for v in ("ts", "cmaf")}
        for variant, text in last.items():
            theirs, ours = keyed_segments(text), keyed_segments(texts[variant])
            kids = {uri.removeprefix("../../key/") for uri, _ in theirs.values()}
            assert theirs and "" not in kids, text
            for kid in kids:  # every key the predecessor listed: 200 from the successor, the same 16 bytes
                code, _, key = get(f"{after.http}/key/{kid}")
                assert code == 200 and key == get(f"{before.http}/key/{kid}")[2] and len(key) == 16, kid
            for name, keyed in theirs.items():  # listed under the same key and IV, the same ciphertext
                assert ours.get(name, keyed) == keyed, (name, text, texts[variant])
                assert get(f"{after.http}/hls/{variant}/{name}")[2] == get(f"{before.http}/hls/{variant}/{name}")[2]
            # Segments the predecessor listed after `last` was read carry its keys too: its state names them.
            new = {uri.removeprefix("../../key/") for n, (uri, _) in ours.items() if n not in theirs} - kids - held
            assert all(get(f"{before.http}/key/{kid}")[0] == 404 for kid in new), "new keys: ids of the successor's own"
        # A player holding the predecessor's last playlist gets every segment and key from the
        # successor and decrypts them; one reading the successor's plays across the discontinuity.
        plays(finished_copy(last["ts"], after.http, "ts", tmp_path / "before.m3u8"))
        plays(finished_copy(texts["ts"], after.http, "ts", tmp_path / "after.m3u8"))
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"MEASURED encrypted handover test: {time.monotonic() - began:.1f} s (load {load})")
    finally:
        encoder.stop()
        service.stop()
