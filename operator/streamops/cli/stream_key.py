"""`kubectl streamops push-url` and `rotate-key`: the stream's push endpoints (status.ingest) with its
stream key, and a new key.

The key lives only in its Secret (the generated `<stream>-stream-key`, key streamKey, or
spec.source.push.streamKeySecretRef's): it is read only for `--show-key` (or `--obs --show-key`),
and printed only on stdout. Without it the URL carries a mask, so a screen share or a CI log of
`push-url` shows nothing secret. Where each protocol takes the key is the ingest's rule (render.
push_url): RTMP(S) the stream name after /live, SRT the passphrase (the ingest's SRT listener has
no streamid check), WHIP the bearer token.

A rotated key needs no restart: the ingest mounts the Secret as a file and its RTMP front and WHIP
endpoint read it per publisher, its SRT listener takes the new passphrase while nobody publishes
(docs/design/ingest-robustness.md, "Stream key rotation"). It arrives in the Pods when the kubelet
syncs mounted Secrets (about a minute).
"""

from __future__ import annotations

import base64
import sys
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from streamops.cli.command_error import CommandError
from streamops.cli.kube_connection import Manifest, get_stream, list_custom
from streamops.cli.port_forward import cluster_service
from streamops.cli.render import PushProtocol, obs_service, push_lines

if TYPE_CHECKING:
    from streamops.api.common import SecretKeyRef
    from streamops.kube.client import KubeApi

# status.ingest's field for each protocol, primary then backup (WHIP has no backup ingest).
URL_FIELDS: dict[str, tuple[str, str | None]] = {
    "rtmp": ("pushUrl", "backupPushUrl"),
    "rtmps": ("pushUrlRtmps", "backupPushUrlRtmps"),
    "srt": ("pushUrlSrt", "backupPushUrlSrt"),
    "whip": ("pushUrlWhip", None),
}
PROTOCOLS = tuple(URL_FIELDS)


def key_ref(stream: Manifest) -> SecretKeyRef:
    """Where the stream's key is: as the operator decides it (control/livestream/specs/secret.py)."""
    from streamops.api.kinds import LiveStream
    from streamops.control.livestream.specs.secret import stream_key_ref

    ref = stream_key_ref(LiveStream.model_validate(stream))
    if ref is None:
        name = stream["metadata"]["name"]
        raise CommandError(f"livestream {name} pulls from origins (spec.source.pull): it has no push URL or stream key")
    return ref


def read_key(api: KubeApi, namespace: str, ref: SecretKeyRef) -> str:
    from streamops.contract.stream_key import stream_key_bytes

    secret = api.get("Secret", namespace, ref.name)
    value = ((secret or {}).get("data") or {}).get(ref.key)
    if secret is None:
        raise CommandError(f"secret {ref.name} (the stream key) does not exist in namespace {namespace}")
    if not value:
        raise CommandError(f"secret {ref.name} has no key {ref.key!r} (the stream key)")
    return stream_key_bytes(base64.b64decode(value)).decode(errors="replace")


def chosen_protocol(stream: Manifest, asked: str | None) -> PushProtocol:
    """The asked protocol, else the first the stream accepts in rtmp, rtmps, srt, whip order."""
    push = ((stream.get("spec") or {}).get("source") or {}).get("push")
    name = stream["metadata"]["name"]
    if push is None:
        raise CommandError(f"livestream {name} pulls from origins (spec.source.pull): it has no push URL")
    accepted = push.get("protocols") or ["rtmp", "srt"]
    if asked is not None:
        if asked not in accepted:
            raise CommandError(
                f"livestream {name} does not accept {asked} (spec.source.push.protocols: {', '.join(accepted)})"
            )
        return cast(PushProtocol, asked)
    return cast(PushProtocol, next(p for p in PROTOCOLS if p in accepted))


def push_url(
    api: KubeApi, namespace: str, name: str, protocol: str | None, backup: bool, show_key: bool, obs: bool
) -> list[str]:
    """The lines for stdout; hints go to stderr from here."""
    stream = get_stream(api, namespace, name)
    chosen = chosen_protocol(stream, protocol)
    ingest = (stream.get("status") or {}).get("ingest") or {}
    primary_field, backup_field = URL_FIELDS[chosen]
    if backup and backup_field is None:
        raise CommandError("WHIP has no backup ingest (source.push.backup covers rtmp, rtmps and srt)")
    if backup and not (((stream.get("spec") or {}).get("source") or {}).get("push") or {}).get("backup"):
        raise CommandError(f"livestream {name} has no backup ingest (spec.source.push.backup is false)")
    field = backup_field if backup else primary_field
    assert field is not None
    server = ingest.get(field)
    if not server:
        raise CommandError(
            f"livestream {name} has no status.ingest.{field} yet: the operator has not reported the stream, or its "
            "Service has no address yet (a LoadBalancer waiting for one)"
        )
    key = read_key(api, namespace, key_ref(stream)) if show_key else None
    if ingest.get("exposure") == "ClusterIP":
        print(f"note: {cluster_only_hint(server, chosen, ingest.get('reachableFrom'))}", file=sys.stderr)
    if obs:
        print(obs_service(chosen), file=sys.stderr)
    if key is None:
        print(
            f"the stream key is masked: add --show-key to read it from secret {key_ref(stream).name}",
            file=sys.stderr,
        )
    return push_lines(server, chosen, key, obs)


def cluster_only_hint(server: str, protocol: PushProtocol, reachable_from: str | None) -> str:
    """What to do with a push URL that works inside the cluster only."""
    works = f"this URL works {reachable_from or 'inside the cluster only'}"
    expose = "expose the ingest instead (spec.ingest.service.type NodePort or LoadBalancer)"
    if protocol == "srt":
        return f"{works}; SRT is UDP, which kubectl port-forward does not carry: {expose}"
    if protocol == "whip":
        return f"{works}; WebRTC media goes to the ingest's UDP/ICE-TCP ports, not through a port-forward: {expose}"
    where = cluster_service(server)
    if where is None:
        return works
    service, namespace, port = where
    return (
        f"{works}; from here: kubectl port-forward -n {namespace} svc/{service} {port}:{port}, then push to "
        f"{protocol}://127.0.0.1:{port}{urlsplit(server).path}/<key>"
    )


def rotate_key(api: KubeApi, namespace: str, name: str) -> str:
    """A new random key in the stream's Secret, written with the resourceVersion read (a concurrent
    change is refused, not overwritten); what was done and what to do next, in words."""
    from streamops.api import LIVESTREAM
    from streamops.contract.stream_key import generate_stream_key

    stream = get_stream(api, namespace, name)
    ref = key_ref(stream)
    secret = api.get("Secret", namespace, ref.name)
    if secret is None:
        raise CommandError(
            f"secret {ref.name} (the stream key) does not exist in namespace {namespace}: the operator creates a "
            "generated one at its next reconcile"
        )
    data = dict(secret.get("data") or {})
    data[ref.key] = base64.b64encode(generate_stream_key().encode()).decode()
    written = api.replace({**secret, "data": data})
    if written is None:
        raise CommandError(f"secret {ref.name} changed meanwhile: run the command again")
    push = stream["spec"]["source"]["push"]
    lines = [
        f"rotated the stream key of livestream {namespace}/{name} (secret {ref.name}, key {ref.key}).",
        "Encoders must be updated: the ingest refuses the old key for every new connection once its Pod has the new "
        "Secret (the kubelet syncs mounted Secrets within about a minute; no restart). A publisher connected now "
        "stays on air until it reconnects.",
        f"The new push URL: kubectl streamops push-url {name} -n {namespace} --show-key",
    ]
    if push.get("backup"):
        lines.append(
            "With the backup ingest: both ingests take the new key, each when its own kubelet has it; until then a "
            "failover between them may be refused for a moment (they authenticate each other with the key)."
        )
    if push.get("streamKeySecretRef"):
        users = [
            s["metadata"]["name"]
            for s in list_custom(api, LIVESTREAM, namespace)
            if s["metadata"]["name"] != name and _refers_to(s, ref.name, ref.key)
        ]
        lines.append(
            f"Secret {ref.name} is spec.source.push.streamKeySecretRef's (not generated): a tool that manages it "
            "(GitOps, External Secrets) may write the old key back; change it there."
        )
        if users:
            lines.append(f"These livestreams use the same key and now have the new one too: {', '.join(users)}")
    return "\n".join(lines)


def _refers_to(stream: dict[str, Any], secret: str, key: str) -> bool:
    from streamops.api.common import SecretKeyRef

    ref = (((stream.get("spec") or {}).get("source") or {}).get("push") or {}).get("streamKeySecretRef")
    if not ref:
        return False
    parsed = SecretKeyRef.model_validate(ref)
    return parsed.name == secret and parsed.key == key
