"""`python -m bench.import_rss [ROLE …]`: where a `streamops worker <role>`'s RSS goes, module by
module (docs/design/lean-workers.md, "Where a worker's MiB go"), printed, not written to a file.

Each role's command line is run as the image runs it, made and not run (devtools.worker_start_probe:
the probe of tests/unit/cli/test_worker_imports.py and `make bench-workers`), in a fresh interpreter
whose every loader's `exec_module` is wrapped to read /proc/self/statm before and after: each
module's RSS of its own and with what it imported, and who imported it first. Then the floors, each
in a fresh interpreter: nothing, asyncio without `ssl` (as cli/worker.py imports it), pydantic-core
alone, pydantic with a model, with OpenSSL's hashlib and without (cli/worker.py NO_OPENSSL_HASHES).

A module's own figure under ≈0.3 MiB is noise: pymalloc touches its arenas in steps, so a small
module can show the step another one started. A role's total carries the tracer's own imports
(importlib.abc, typing) and its made worker: a little over `make bench-workers`' imports column. No
worker is run; ≈1 CPU-second a role."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

from devtools.media.clipper import ClipperWorker
from devtools.media.workers import Ingest, Worker
from devtools.ports import free_port
from devtools.processes import child_env
from devtools.worker_start_probe import MADE_ONLY

MIB = 1024 * 1024
ROLES = ("ingest", "record-standby", "record-active", "push", "pushers", "clip", "overlay", "expire")

# Installed before anything else of the probe: every module a loader executes is timed in RSS.
# Loaders that are classes (built-in and frozen modules) are left alone: they are shared.
TRACER = """
import os, sys
import importlib.abc
_PAGE = os.sysconf("SC_PAGE_SIZE")
def _rss():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * _PAGE
_RECORDS, _STACK = [], []
class _Timed(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        spec = None
        for finder in sys.meta_path:
            if finder is not self and hasattr(finder, "find_spec"):
                spec = finder.find_spec(name, path, target)
                if spec is not None:
                    break
        loader = spec.loader if spec is not None else None
        if loader is None or isinstance(loader, type) or not hasattr(loader, "exec_module"):
            return spec
        run = loader.exec_module
        def exec_module(module, run=run, name=name):
            _STACK.append([name, _rss(), 0])
            try:
                run(module)
            finally:
                name_, start, children = _STACK.pop()
                total = _rss() - start
                _RECORDS.append((name_, total, total - children, _STACK[-1][0] if _STACK else None))
                if _STACK:
                    _STACK[-1][2] += total
        loader.exec_module = exec_module
        return spec
sys.meta_path.insert(0, _Timed())
"""
DUMP = 'print(json.dumps({"code": code, "rss": _rss(), "modules": _RECORDS}))\n'

# The floors: argv[1] says what is imported after the interpreter and asyncio without ssl.
FLOOR = """
import os, sys
def rss():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
what = sys.argv[1]
if what == "interpreter":
    print(rss())
    sys.exit()
sys.modules["ssl"] = None
import asyncio
del sys.modules["ssl"]
if "no-openssl" in what:
    sys.modules["_hashlib"] = None
if what.startswith("pydantic-core"):
    import pydantic_core
    from pydantic_core import core_schema as cs
    schema = cs.typed_dict_schema({"a": cs.typed_dict_field(cs.int_schema())})
    pydantic_core.SchemaValidator(schema).validate_json('{"a": 1}')
elif what.startswith("pydantic"):
    from pydantic import BaseModel
    class Model(BaseModel):
        a: int = 0
    Model.model_validate_json('{"a": 1}')
print(rss())
"""
FLOORS = {
    "interpreter": "the interpreter (its site, and a venv's editable finders)",
    "asyncio": "… asyncio without ssl",
    "pydantic-core": "… pydantic-core alone, a SchemaValidator used",
    "pydantic": "… pydantic and a model, used",
    "pydantic no-openssl": "… the same, `_hashlib` hidden",
}


def role_configs(workdir: Path) -> dict[str, tuple[str, Path]]:
    """role: (its worker kind, a valid configuration file), as bench.worker_rss configures them."""

    def folder(name: str) -> Path:
        path = workdir / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    closed = f"127.0.0.1:{free_port()}"  # nothing listens there: a feed or target not reachable yet
    here = {"httpHost": "127.0.0.1"}
    recording = {"recordingsRoot": str(folder("rec")), "directory": "rec", "title": "bench"}
    now = datetime.now(UTC)
    workers: dict[str, Worker] = {
        "ingest": Ingest(folder("ingest")),
        "record-standby": Worker(
            "record", {"standby": True, "recordingsRoot": str(folder("standby")), **here, "httpPort": free_port()},
            folder("standby"), 0,
        ),
        "record-active": Worker(
            "record", {"feedUrl": f"http://{closed}/feed", **recording, "reconnectWindowSeconds": 600,
                       "maxSegmentSeconds": 14400, "minDurationSeconds": 1, **here, "httpPort": free_port()},
            folder("rec"), 0,
        ),
        "push": Worker(
            "push", {"feedUrl": f"http://{closed}/feed", "uri": f"rtmp://{closed}/live/x", "noAudioMode": "drop",
                     **here, "httpPort": free_port()},
            folder("push"), 0,
        ),
        "pushers": Worker(
            "pushers", {"stream": "cam", "privateDir": str(folder("pushers") / "private"), **here,
                        "httpPort": free_port()},
            folder("pushers"), 0,
        ),
        "clip": ClipperWorker(folder("clip"), "c", f"http://{closed}/dvr.m3u8", now - timedelta(seconds=30), now),
    }  # fmt: skip
    found: dict[str, tuple[str, Path]] = {}
    for role, worker in workers.items():
        worker.write_config()
        found[role] = (worker.kind, worker.config_path)
    overlay = folder("overlay") / "overlay.json"
    overlay.write_text(json.dumps({"stream": "cam", "overlays": [], "directory": str(overlay.parent)}))
    expire = folder("expire") / "expire.json"
    origin = {"path": "rec/v1-origin.mp4", "expiredAt": "2026-01-01T00:00:00Z"}
    expire.write_text(json.dumps({"recordingsRoot": str(expire.parent), "origins": [origin]}))
    found |= {"overlay": ("overlay", overlay), "expire": ("expire", expire)}
    return found


Module = tuple[str, int, int, str | None]  # name, RSS with its imports, RSS of its own, who imported it


def traced(kind: str, config: Path) -> tuple[int, list[Module]]:
    """The probe's RSS at its end and its modules, in the order they finished."""
    out = subprocess.run(
        [sys.executable, "-c", TRACER + MADE_ONLY + DUMP, kind, str(config)],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=120,
        check=True,
    )
    found = json.loads(out.stdout.strip().splitlines()[-1])
    if found["code"] != 0:
        raise RuntimeError(f"streamops worker {kind} exited {found['code']}: {out.stderr[-2000:]}")
    return int(found["rss"]), [(str(n), int(total), int(own), by) for n, total, own, by in found["modules"]]


def floor(what: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", FLOOR, what], capture_output=True, text=True, env=child_env(), timeout=60, check=True
    )
    return int(out.stdout.split()[-1])


def report(role: str, rss: int, modules: list[Module], top: int) -> list[str]:
    first_importer = {name: importer for name, _, _, importer in modules}

    def chain(name: str) -> str:
        names = [name]
        while (importer := first_importer.get(names[-1])) is not None and len(names) < 8:
            names.append(importer)
        return " <- ".join(names[1:]) or "the probe"

    lines = [
        f"## {role}: {rss / MIB:.1f} MiB after its imports ({len(modules)} modules)",
        "   own   with  module (imported by)",
    ]
    for name, total, own, _ in sorted(modules, key=lambda m: -m[2])[:top]:
        lines.append(f"{own / MIB:6.2f} {total / MIB:6.2f}  {name} ({chain(name)})")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("roles", nargs="*", default=list(ROLES), choices=ROLES)
    parser.add_argument("--top", type=int, default=15, help="modules shown per role, by their own RSS")
    args = parser.parse_args(argv)
    print(f"# Import RSS by module, {datetime.now(UTC):%Y-%m-%d %H:%M UTC}, {sys.executable}\n")
    print("## Floors")
    for what, label in FLOORS.items():
        print(f"{floor(what) / MIB:6.1f} MiB  {label}")
    with TemporaryDirectory(prefix="import-rss-") as tmp:
        configs = role_configs(Path(tmp))
        for role in args.roles:
            kind, config = configs[role]
            print("\n" + "\n".join(report(role, *traced(kind, config), args.top)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
