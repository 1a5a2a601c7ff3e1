"""`streamops worker expire`: one run on a Recording's claim (contract/expiry.py) that deletes the
originals it is given and marks them expired in their videos' sidecars, then exits: 0 when every
original is gone (one already gone counts), 1 when one could not be deleted (the operator tries
again at its next retention round). It serves nothing and reads no feed: no HTTP, no FFmpeg."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from streamops.contract.expiry import CONFIG_ENV, ExpiredOrigin, ExpiryConfig
from streamops.media.atomic_file import write_atomically
from streamops.media.worker_process import Worker, worker_main

log = logging.getLogger("streamops.expiry")


def mark_sidecar(sidecar: Path, origin: ExpiredOrigin) -> None:
    """The video's sidecar says its original expired (the claim stays self-describing)."""
    try:
        doc = json.loads(sidecar.read_text())
    except (OSError, ValueError) as e:
        log.warning("%s not updated: %s", origin.sidecar, e)
        return
    if isinstance(doc.get("origin"), dict):
        doc["origin"]["expiredAt"] = origin.expired_at
        write_atomically(sidecar, json.dumps(doc, indent=2) + "\n")


def expire(config: ExpiryConfig) -> int:
    """Delete each original (then mark its sidecar); the exit code."""
    root = Path(config.recordings_root)
    failed = 0
    for origin in config.origins:
        try:
            (root / origin.path).unlink()
            log.info("deleted %s", origin.path)
        except FileNotFoundError:
            log.info("%s: already gone", origin.path)
        except OSError as e:
            failed += 1
            log.error("%s not deleted: %s", origin.path, e.strerror or e)
            continue
        if origin.sidecar is not None:
            mark_sidecar(root / origin.sidecar, origin)
    return 1 if failed else 0


class OriginExpiry:
    """The run, as a Worker: over in a moment, so a stop has nothing to cut short."""

    def __init__(self, config: ExpiryConfig) -> None:
        self.config = config

    def stop(self) -> None:
        pass

    async def run(self) -> int:
        return expire(self.config)


def main(argv: list[str] | None = None) -> int:
    def start(config: ExpiryConfig) -> Worker:
        return OriginExpiry(config)

    return worker_main(argv, "expire", CONFIG_ENV, ExpiryConfig.model_validate_json, start, "Delete expired originals.")
