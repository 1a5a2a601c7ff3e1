"""`streamops` command line: the operator, the media workers, CRD generation, video download links,
signed playback URLs and their keys, a stream's statistics. The parser only: each verb is its module's
(cli/operator.py, manifests.py, worker.py, video.py, playback.py, stats.py), which `kubectl streamops`
calls too where it has the same verb (cli/kubectl_plugin.py)."""

from __future__ import annotations

import argparse
import os
import socket
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from streamops.cli.manifests import write_crds, write_rbac
from streamops.cli.operator import run_operator
from streamops.cli.worker import add_worker_parser, worker_command

if TYPE_CHECKING:
    from streamops.kube.client import KubeApi

DESCRIPTION = (
    "`streamops` command line: the operator, the media workers, CRD generation, video download links, signed "
    "playback URLs and their keys, a stream's statistics."
)


def on_cluster(args: argparse.Namespace, verb: Callable[[KubeApi, str], None]) -> int:
    """Run `verb` with the kubeconfig's client and namespace; its expected failure is one line on
    stderr and exit status 1."""
    from streamops.cli.command_error import CommandError
    from streamops.cli.kube_connection import namespace_of, without_kubernetes_clients

    with without_kubernetes_clients():
        from streamops.kube.client import ApiError, KubeApi

    try:
        # Not kube_connection.connect(): that is the plugin's login (--kubeconfig, its failure one line);
        # here a kubeconfig that does not work keeps its traceback, as it always has.
        api = KubeApi.from_environment()
        verb(api, namespace_of(api, args.namespace))
    except (CommandError, ApiError) as e:
        command = " ".join(p for p in (args.command, getattr(args, "action", None)) if p)
        print(f"streamops {command}: {e}", file=sys.stderr)
        return 1
    return 0


def video_url(args: argparse.Namespace) -> int:
    from streamops.cli.video import video_command

    return on_cluster(args, lambda api, namespace: print(video_command(api, namespace, args)))


def playback_url(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from streamops.cli.command_error import CommandError
    from streamops.cli.playback import broadcast_url, livestream_url, parse_expires, viewer_address

    try:  # before the cluster is asked: a typo needs no kubeconfig to be reported
        expires, ip = parse_expires(args.expires), viewer_address(args.ip)
        if args.broadcast and args.format != "player":
            raise CommandError("--broadcast prints the broadcast's page: --format player only")
    except CommandError as e:
        print(f"streamops playback url: {e}", file=sys.stderr)
        return 1

    def url(api: KubeApi, namespace: str) -> None:
        now = datetime.now(UTC)
        found = (
            broadcast_url(api, namespace, args.stream, expires, ip, now)
            if args.broadcast
            else livestream_url(api, namespace, args.stream, args.format, expires, ip, now)
        )
        print(found.url)
        if found.note:
            print(found.note, file=sys.stderr)

    return on_cluster(args, url)


def playback_rotate_key(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from streamops.cli.playback import rotate_playback_key

    return on_cluster(
        args, lambda api, namespace: print(rotate_playback_key(api, namespace, args.force, datetime.now(UTC)))
    )


def stats(args: argparse.Namespace) -> int:
    from streamops.cli.command_error import CommandError
    from streamops.cli.stats import asked, stats_command

    try:  # before the cluster is asked: a typo or a bad URL needs no kubeconfig to be reported
        ask = asked(args, os.environ)
    except CommandError as e:
        print(f"streamops stats: {e}", file=sys.stderr)
        return 1

    def answer(api: KubeApi, namespace: str) -> None:
        found = stats_command(api, namespace, ask)
        for note in found.notes:
            print(note, file=sys.stderr)
        if found.text:
            print(found.text)

    return on_cluster(args, answer)


def parser() -> argparse.ArgumentParser:
    """Every verb (the docs' command table is generated from it: devtools/doc_facts)."""
    import uuid  # here, not at the top: `streamops worker` (worker_command) needs no identity

    top = argparse.ArgumentParser(prog="streamops", description=DESCRIPTION)
    sub = top.add_subparsers(dest="command", required=True)

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

    add_worker_parser(sub)

    video = sub.add_parser("video", help="the videos of a Recording").add_subparsers(dest="action", required=True)
    from streamops.cli import video as video_verb

    url = video.add_parser(
        "url",
        help="print a time-limited download link to a video in object storage",
        description=video_verb.DESCRIPTION,
    )
    video_verb.add_arguments(url)
    url.set_defaults(func=video_url)
    page = video.add_parser(
        "page",
        help="print a time-limited link to a video's VOD page (embeddable)",
        description=video_verb.PAGE_DESCRIPTION,
    )
    video_verb.add_arguments(page, page=True)
    page.set_defaults(func=video_url)

    from streamops.cli.playback import DEFAULT_EXPIRES, FORMATS

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
    signed.add_argument("stream", help="name of the LiveStream (of the Broadcast with --broadcast)")
    signed.add_argument(
        "--broadcast",
        action="store_true",
        help="STREAM names a Broadcast: its page (status.playerUrl), its signed streams' tokens in the fragment",
    )
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

    from streamops.cli import stats as stats_verb

    statistics = sub.add_parser(
        "stats",
        help="a stream's bitrate, fps, resolution, speed and viewers per interval over a date range (Prometheus)",
        description=stats_verb.DESCRIPTION,
    )
    stats_verb.add_arguments(statistics)
    statistics.set_defaults(func=stats)
    return top


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["worker"]:  # a worker imports only what its role uses (cli/worker.py)
        return worker_command(argv, "streamops", DESCRIPTION)
    args = parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
