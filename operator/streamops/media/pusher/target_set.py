"""A shared pusher's set of targets, pure: what a new set changes in the running one (which targets
start, stop, restart, or only take a new key and version) and the single-target configuration a
target's supervisor runs with (docs/design/shared-pusher.md)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from streamops.contract.pusher import PusherConfig, PusherTarget, PusherTargets, SharedPusherConfig

KEYS_DIR = "keys"  # under the private directory: one 0600 file per target's key
CA_DIR = "ca"  # ... and per target's CA certificates


@dataclass(frozen=True)
class SetChange:
    """What a new set asks of the running one, target by target; a target in none of these is kept
    as it runs (same configuration, key and version)."""

    start: tuple[PusherTarget, ...] = ()  # new ids
    stop: tuple[str, ...] = ()  # ids no longer wanted
    restart: tuple[PusherTarget, ...] = ()  # the same id with another push configuration: its FFmpeg only
    update: tuple[PusherTarget, ...] = ()  # the same push configuration, another key or version: no reconnect

    @property
    def empty(self) -> bool:
        return not (self.start or self.stop or self.restart or self.update)


def set_change(running: Mapping[str, PusherTarget], wanted: PusherTargets) -> SetChange:
    """Level-based: the same set again changes nothing."""
    by_id = {t.id: t for t in wanted.targets}
    start, restart, update = [], [], []
    for target in wanted.targets:
        current = running.get(target.id)
        if current is None:
            start.append(target)
        elif current.push_config() != target.push_config():
            restart.append(target)
        elif current.stream_key != target.stream_key or current.version != target.version:
            update.append(target)
    stop = tuple(i for i in running if i not in by_id)
    return SetChange(tuple(start), stop, tuple(restart), tuple(update))


@dataclass(frozen=True)
class TargetFiles:
    """Where a target's key and CA are kept, by a digest of its id (an id is the operator's string:
    never a path of its own)."""

    key: Path
    ca: Path

    @classmethod
    def of(cls, private_dir: Path, target_id: str) -> TargetFiles:
        stem = hashlib.sha256(target_id.encode()).hexdigest()[:32]
        return cls(private_dir / KEYS_DIR / stem, private_dir / CA_DIR / f"{stem}.crt")


def target_config(shared: SharedPusherConfig, target: PusherTarget, files: TargetFiles) -> PusherConfig:
    """The configuration of one target's supervisor: the target's own fields, the key and CA as the
    files the pusher wrote, the rest the Pod's (credential, egress policy, backoff, FIFO directory)."""
    return PusherConfig(
        name=target.name,
        stream=shared.stream,
        feed_url=target.feed_url,
        uri=target.uri,
        stream_key_file=str(files.key) if target.stream_key is not None else None,
        no_audio_mode=target.no_audio_mode,
        tls_ca_file=str(files.ca) if target.tls_ca is not None else None,
        tls_insecure_skip_verify=target.tls_insecure_skip_verify,
        video_codecs=list(target.video_codecs),
        egress=shared.egress,
        private_dir=shared.private_dir,
        backoff=shared.backoff,
        credential_file=shared.credential_file,
    )
