"""`streamops worker NAME …`: a media worker (the workers' images run it as their entry point)."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from types import ModuleType

WORKERS = {
    "ingest": "streamops.media.ingest.worker",
    "record": "streamops.media.recorder.process",
    "push": "streamops.media.pusher.worker",
    "pushers": "streamops.media.pusher.station",  # a stream's shared pusher: its targets over PUT /targets
    "overlay": "streamops.media.overlay.renderer",
    "clip": "streamops.media.clipper.process",
    "expire": "streamops.media.expiry.process",  # keepOrigin's originals on a claim, one run (no HTTP)
}

# One line per role: `streamops worker --help` lists them, and CONTRIBUTING.md's table of roles is
# generated from this parser (devtools/doc_facts).
ROLES = {
    "ingest": "takes one publisher (RTMP(S), SRT, WHIP) or pulls; serves HLS/DASH with the DVR window, "
    "screenshots, the live feed and WHEP",
    "record": "records a stream's live feed into crash-safe parts and finalises them as MP4 videos (a Recording)",
    "push": "forwards a stream's live feed as is to one RTMP(S)/SRT target (a Restream)",
    "pushers": "a stream's shared pusher: all its Restreams' targets in one process, RTMP(S) ones through one relay",
    "overlay": "renders a stream's HTML overlays in a confined headless Chromium, as images the ingest draws",
    "clip": "cuts one Clip from a stream's DVR window into a video",
    "expire": "deletes a Recording's originals (keepOrigin) past their retention, one run, then exits",
}

# Workers whose Python imports aiohttp yet opens no verified TLS connection: the ingest (its one
# client, the backup uplink, speaks plain HTTP to its primary inside the cluster). No other worker
# imports aiohttp (docs/design/lean-workers.md; tests/unit/cli/test_worker_imports.py): importing it
# for them would cost each ≈12 MiB (the pusher: bench-media, 2026-11-24, 54 → 63 MiB with FFmpeg).
NO_TLS_CLIENT = {"ingest"}

# Workers whose asyncio never speaks TLS, so it is imported without `ssl`: every one but the ingest
# (aiohttp). Their feeds, playlists and peers are plain HTTP inside the cluster (the contracts' http
# checks), their servers plain HTTP, RTMPS and S3 reads FFmpeg's; what does TLS in their Python
# imports `ssl` itself afterwards and keeps it (the recorder's and clipper's bucket client, boto3
# through urllib3; the clipper's urllib). tests/unit/cli/test_worker.py holds their code to it (no
# `ssl=`, no `start_tls`). OpenSSL (libssl, libcrypto and `ssl` itself) was 4–5 MiB of the standby
# recorder's 23 MiB of RSS at rest (issue 53: ≤ 20 MiB), `ssl` ≈1.2 MiB of the others' (libcrypto
# stays there: pydantic's imports load hashlib); docs/design/lean-workers.md.
NO_TLS = {"record", "push", "pushers", "clip", "overlay", "expire"}


# Roles whose Python hashes only a few short messages and speaks no TLS, so their modules are
# imported while `import _hashlib` fails: hashlib and hmac then use CPython's own hash functions
# (the same digests) and OpenSSL's libcrypto is never mapped. pydantic.types imports `secrets`,
# which imports hmac and hashlib: ≈3.5 MiB of RSS in each of them (docs/design/lean-workers.md).
# What they hash: the shared pusher its targets' file names (a SHA-256 of each id); the others
# nothing (the overlay renderer imports the switch tokens' HMAC with its contract; the ingest checks
# them). Not the recorder and clipper: they MD5 every part they upload (as fast either way) and
# botocore SHA-256s the payload it signs for a plain-HTTP endpoint, where CPython's is ≈5× slower
# than OpenSSL's (220 vs 1,107 MB/s measured); a TLS bucket maps OpenSSL anyway.
NO_OPENSSL_HASHES = {"push", "pushers", "overlay", "expire"}


def import_role(role: str) -> ModuleType:
    """The role's module (WORKERS), imported as the role runs: for a role in NO_OPENSSL_HASHES while
    `import _hashlib` fails, which hashlib and hmac allow (a Python built without OpenSSL): hashlib's
    constructors and `hashlib.new` are CPython's own for the life of the process, `_hashlib` itself
    stays importable. As usual when hashlib or hmac is in already (OpenSSL's then)."""
    name = WORKERS[role]
    if role not in NO_OPENSSL_HASHES or {"_hashlib", "hashlib", "hmac"} & sys.modules.keys():
        return importlib.import_module(name)
    sys.modules["_hashlib"] = None  # type: ignore[assignment]  # `import _hashlib` raises ImportError
    try:
        return importlib.import_module(name)
    finally:
        del sys.modules["_hashlib"]


def import_asyncio(role: str) -> None:
    """asyncio as `role` uses it: for a role in NO_TLS, imported while `import ssl` fails, which
    asyncio allows (a Python built without OpenSSL): its modules keep `ssl = None`, so a TLS
    connection in that process fails loudly ("stdlib ssl module not available") rather than work.
    `ssl` itself stays importable (prometheus-client's exposition imports it after a recorder
    starts). Nothing to do when asyncio or ssl is in already (then OpenSSL is mapped anyway)."""
    if role not in NO_TLS or "asyncio" in sys.modules or "ssl" in sys.modules:
        return
    sys.modules["ssl"] = None  # type: ignore[assignment]  # `import ssl` raises ImportError
    try:
        import asyncio  # noqa: F401
    finally:
        del sys.modules["ssl"]


def import_aiohttp_without_system_certificates() -> None:
    """aiohttp builds a verified TLS client context when it is imported, loading every CA
    certificate of the system: 2.0 MiB of RSS (smaps_rollup after `import aiohttp.web`, 36.2 →
    34.2 MiB, measured 2026-11-24) in a worker that never uses it. Imported with an empty trust
    store instead (a verification would fail, never pass); the environment is restored at once, so
    FFmpeg and everything after see the system's."""
    names = ("SSL_CERT_FILE", "SSL_CERT_DIR")
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update(dict.fromkeys(names, os.devnull))
    try:
        import aiohttp  # noqa: F401
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def add_worker_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    worker = sub.add_parser(
        "worker",
        help="run a media worker (the Pods' entry point; its roles: streamops worker --help)",
        description="roles:\n" + "\n".join(f"  {role:<9} {what}" for role, what in ROLES.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    worker.add_argument("worker", metavar="ROLE", choices=sorted(WORKERS), help=", ".join(sorted(WORKERS)))
    worker.add_argument("worker_args", nargs=argparse.REMAINDER, help="the worker's own options (--config ...)")
    worker.set_defaults(func=run_worker)


def worker_command(argv: list[str], prog: str, description: str) -> int:
    """`streamops worker …` (the workers' images' entry point) parsed without the other verbs: their
    parsers import their modules (the playback verb alone pulls in pydantic and CRD models), which
    made a waiting standby recorder 39 MiB instead of 22 (smaps_rollup, docs/design/lean-workers.md)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    add_worker_parser(parser.add_subparsers(dest="command", required=True))
    return run_worker(parser.parse_args(argv))


def run_worker(args: argparse.Namespace) -> int:
    import gc

    # The role's imports (aiohttp, pydantic's models, the contract: ≈58k tracked objects, all kept
    # for the process's life) with no cyclic collection: it ran ≈130 times during the ingest's,
    # walking the same live objects again and again (measured: ≈0.2 of its 0.8 CPU-s start). Frozen
    # after, so no later full collection walks them either. Not collected first: that one pass cost
    # 60 ms to free ≈2k objects of import-time garbage (no RSS difference: 52.3 MiB either way).
    gc.disable()
    try:
        import_asyncio(args.worker)
        if args.worker in NO_TLS_CLIENT:
            import_aiohttp_without_system_certificates()
        worker = import_role(args.worker)
        gc.freeze()
    finally:
        gc.enable()
    return int(worker.main(args.worker_args))
