"""`streamops` command line: the operator, the media workers, CRD generation, video download links,
signed playback URLs and their keys."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path


def run_operator(args: argparse.Namespace) -> int:
    # kopf imports the `kubernetes` client when it is installed (for its login), ≈33 MB of RSS the
    # operator does not need: its own API client (kube/client.py) uses kopf's plain logins.
    # Likewise `kubernetes_asyncio` (kopf only recognises its objects; the kubernetes 36 wheel the
    # harness installs ships it): 88 → 55 MB of RSS after the operator's imports, and 1.8 s less
    # importing (measured 2026-11-23). The image has neither.
    sys.modules.setdefault("kubernetes", None)  # type: ignore[arg-type]
    sys.modules.setdefault("kubernetes_asyncio", None)  # type: ignore[arg-type]
    import kopf

    import streamops.control.handlers  # noqa: F401  (registers the handlers)

    kopf.configure(verbose=args.verbose, log_format=kopf.LogFormat.PLAIN)
    if not args.verbose:
        # kopf says "Handler … succeeded" for every watch event the operator is woken by; the
        # operator logs its own transitions (reconciled, failed) and kopf's warnings still show.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)

    from streamops.control.runtime.operator_metrics import metrics_server, set_leader

    async def operate(stop_flag: asyncio.Event | None = None) -> None:
        set_leader(True)
        try:
            await kopf.operator(
                clusterwide=not args.namespace,
                namespaces=args.namespace or (),
                liveness_endpoint=args.liveness,
                standalone=True,  # kopf's own peering stays off: leader election is the Lease's
                # handlers.close() raises the stop flag, whatever stopped kopf (see run_elected()).
                memo=kopf.Memo(namespaces=tuple(args.namespace or ()), stop_flag=stop_flag),
                stop_flag=stop_flag,
            )
        finally:
            set_leader(False)

    async def run() -> int:
        # /metrics for the whole process: a standby answers too (streamops_operator_leader 0).
        async with metrics_server(args.metrics_address, args.metrics_port):
            if not args.leader_election:
                await operate()
                return 0
            return await run_elected_operator(args, operate)

    return asyncio.run(run())


async def run_elected_operator(args: argparse.Namespace, operate: Callable[[asyncio.Event], Awaitable[None]]) -> int:
    """`operate` (kopf) only while this process holds the leader election Lease (docs/design/operator-ha.md)."""
    from streamops.control.runtime.leader_election import LeaderElection, run_elected
    from streamops.control.runtime.leader_lease import LeaseTiming
    from streamops.kube.client import KubeApi, login

    timing = LeaseTiming(args.lease_duration, args.renew_deadline, args.retry_period)
    # Its own client with a short timeout (controller-runtime's: half the renew deadline).
    api = KubeApi(login(), timeout=timing.renew_deadline_seconds / 2)
    namespace = args.lease_namespace or api.info.default_namespace or "default"
    election = LeaderElection(api, args.lease_name, namespace, args.identity, timing)
    return await run_elected(election, operate, args.liveness)


def write_crds(args: argparse.Namespace) -> int:
    from streamops.api.crd import crd_files

    out = Path(args.out)
    files = crd_files()
    if args.check:
        stale = [n for n, text in files.items() if not (out / n).is_file() or (out / n).read_text() != text]
        extra = sorted(p.name for p in out.glob("*.yaml") if p.name not in files)
        if stale or extra:
            print(f"{out}/ is stale ({', '.join(stale + extra)}): run `make crds`", file=sys.stderr)
            return 1
        return 0
    out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (out / name).write_text(text)
        print(out / name)
    return 0


def write_rbac(args: argparse.Namespace) -> int:
    import yaml

    from streamops.control.runtime.rbac import cluster_role

    print(yaml.safe_dump(cluster_role(args.name), sort_keys=False), end="")
    return 0


def video_url(args: argparse.Namespace) -> int:
    from streamops.kube.client import ApiError, KubeApi
    from streamops.storage.download_link import NoLink
    from streamops.video_cli import video_command

    try:
        api = KubeApi.from_environment()
        print(video_command(api, args.namespace or api.info.default_namespace or "default", args))
    except (NoLink, ApiError) as e:
        print(f"streamops video {args.action}: {e}", file=sys.stderr)
        return 1
    return 0


def playback_url(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from streamops.api import LIVESTREAM
    from streamops.kube.client import ApiError, KubeApi
    from streamops.playback_cli import PlaybackCliError, parse_expires, stream_url, viewer_address

    try:
        expires, ip = parse_expires(args.expires), viewer_address(args.ip)
        api = KubeApi.from_environment()
        namespace = args.namespace or api.info.default_namespace or "default"
        stream = api.get_custom(LIVESTREAM, namespace, args.stream)
        if stream is None:
            raise PlaybackCliError(f"livestream {args.stream} not found in namespace {namespace}")
        found = stream_url(api, stream, args.format, expires, ip, datetime.now(UTC))
        print(found.url)
        if found.note:
            print(found.note, file=sys.stderr)
    except (PlaybackCliError, ApiError) as e:
        print(f"streamops playback url: {e}", file=sys.stderr)
        return 1
    return 0


def playback_rotate_key(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from streamops.kube.client import ApiError, KubeApi
    from streamops.playback_cli import PlaybackCliError, rotate_playback_key

    try:
        api = KubeApi.from_environment()
        namespace = args.namespace or api.info.default_namespace or "default"
        print(rotate_playback_key(api, namespace, args.force, datetime.now(UTC)))
    except (PlaybackCliError, ApiError) as e:
        print(f"streamops playback rotate-key: {e}", file=sys.stderr)
        return 1
    return 0


WORKERS = {
    "ingest": "streamops.media.ingest.worker",
    "record": "streamops.media.recorder.process",
    "push": "streamops.media.pusher.worker",
    "overlay": "streamops.media.overlay.renderer",
    "clip": "streamops.media.clipper.process",
}


# Workers whose Python opens no verified TLS connection: the ingest's one client (the backup
# uplink) speaks plain HTTP to its primary inside the cluster, the pusher has none (FFmpeg pushes).
# The recorder verifies its object storage, so it keeps the system's certificates.
# Workers whose Python imports aiohttp yet opens no verified TLS connection. The pusher and the
# recorder do not import aiohttp at all (docs/design/lean-workers.md): importing it for them would
# cost the pusher ≈6 MiB (bench-media, 2026-11-24: 54 → 63 MiB).
NO_TLS_CLIENT = {"ingest", "overlay"}


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


def run_worker(args: argparse.Namespace) -> int:
    import importlib

    if args.worker in NO_TLS_CLIENT:
        import_aiohttp_without_system_certificates()
    return int(importlib.import_module(WORKERS[args.worker]).main(args.worker_args))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="streamops", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    op = sub.add_parser("operator", help="run the operator (kopf)")
    op.add_argument("-n", "--namespace", action="append", help="watch only this namespace (repeatable)")
    op.add_argument("--liveness", default="http://0.0.0.0:8081/healthz", help="liveness endpoint URL (kopf serves it)")
    op.add_argument(
        "--metrics-port", type=int, default=8080, help="port of the Prometheus /metrics endpoint (0: off; default 8080)"
    )
    op.add_argument(
        "--metrics-address", default="0.0.0.0", help="address /metrics listens on (default 0.0.0.0: a Pod's)"
    )
    op.add_argument("-v", "--verbose", action="store_true")
    election = op.add_argument_group("leader election (several replicas: one leads, the others wait)")
    election.add_argument(
        "--leader-election", action="store_true", help="reconcile only while holding a coordination.k8s.io Lease"
    )
    election.add_argument("--lease-name", default="streamops", help="the Lease's name (default: streamops)")
    election.add_argument(
        "--lease-namespace",
        default=os.environ.get("POD_NAMESPACE"),
        help="the Lease's namespace (default: $POD_NAMESPACE, else the service account's or kubeconfig's)",
    )
    election.add_argument(
        "--identity",
        default=os.environ.get("POD_NAME") or f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}",
        help="this replica's name in the Lease (default: $POD_NAME, else host name and a random suffix)",
    )
    election.add_argument("--lease-duration", type=int, default=15, help="seconds (default 15)")
    election.add_argument("--renew-deadline", type=float, default=10.0, help="seconds (default 10)")
    election.add_argument("--retry-period", type=float, default=2.0, help="seconds (default 2)")
    op.set_defaults(func=run_operator)

    crds = sub.add_parser("crds", help="write the CRD YAML generated from the API models")
    crds.add_argument("--out", default="crds")
    crds.add_argument("--check", action="store_true", help="fail when the files differ (stale)")
    crds.set_defaults(func=write_crds)

    rbac = sub.add_parser("rbac", help="print the operator's ClusterRole (least privilege)")
    rbac.add_argument("--name", default="streamops")
    rbac.set_defaults(func=write_rbac)

    worker = sub.add_parser("worker", help="run a media worker (ingest, record, push, clip) around FFmpeg")
    worker.add_argument("worker", choices=sorted(WORKERS))
    worker.add_argument("worker_args", nargs=argparse.REMAINDER, help="the worker's own options (--config ...)")
    worker.set_defaults(func=run_worker)

    video = sub.add_parser("video", help="the videos of a Recording").add_subparsers(dest="action", required=True)
    from streamops import video_cli

    url = video.add_parser(
        "url", help="print a time-limited download link to a video in object storage", description=video_cli.DESCRIPTION
    )
    video_cli.add_arguments(url)
    url.set_defaults(func=video_url)
    page = video.add_parser(
        "page",
        help="print a time-limited link to a video's VOD page (embeddable)",
        description=video_cli.PAGE_DESCRIPTION,
    )
    video_cli.add_arguments(page, page=True)
    page.set_defaults(func=video_url)

    from streamops.playback_cli import DEFAULT_EXPIRES, FORMATS

    playback = sub.add_parser("playback", help="signed playback URLs and their keys").add_subparsers(
        dest="action", required=True
    )
    signed = playback.add_parser(
        "url",
        help="print a playback URL of a LiveStream, signed when its playback is",
        description="Print STREAM's playback URL (status.playback) with a token in its path (t/<token>/ after the "
        "stream's path prefix), signed with the namespace's Secret streamops-playback-keys, valid for --expires. "
        "Any player plays it: every URL in the playlist or page is relative, so the token goes along. A public "
        'stream gets its plain URL (said on stderr). Example: ffplay "$(streamops playback url cam --format hls)"',
    )
    signed.add_argument("stream", help="name of the LiveStream")
    signed.add_argument("-n", "--namespace", help="namespace (default: the kubeconfig's, else default)")
    signed.add_argument(
        "--expires",
        default=DEFAULT_EXPIRES,
        help=f"how long the URL works: 90s, 30m, 1h, 7d (default {DEFAULT_EXPIRES})",
    )
    signed.add_argument("--ip", help="only this viewer address may use it (as the proxy in front sees it)")
    signed.add_argument("--format", choices=FORMATS, default="player", help="which URL (default: the player page)")
    signed.set_defaults(func=playback_url)
    rotate = playback.add_parser(
        "rotate-key",
        help="rotate the namespace's playback signing key",
        description="previous := current, a new current key, in the Secret streamops-playback-keys (created when "
        "missing). URLs signed before stay valid until they expire; new URLs use the new key once it is 120 s old "
        "(mounted copies have it by then). Refused within 120 s of the last rotation unless --force.",
    )
    rotate.add_argument("-n", "--namespace", help="namespace (default: the kubeconfig's, else default)")
    rotate.add_argument("--force", action="store_true", help="rotate even within 120 s of the last rotation")
    rotate.set_defaults(func=playback_rotate_key)

    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
