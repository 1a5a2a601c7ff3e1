"""`kubectl streamops` (the `kubectl-streamops` entry point): live streams from the terminal.
The parser only: each verb is its module's in cli/ (status, stream_key, playback, play, record,
video, stats), the ones `streamops` has too (playback URLs and keys, video links, stats) shared with it.

Errors are one line on stderr and a non-zero exit status; a stream key is printed only when asked
(`push-url --show-key`)."""

from __future__ import annotations

import argparse
import socket
import ssl
import sys
from typing import TYPE_CHECKING

from streamops.cli.command_error import CommandError, api_message

if TYPE_CHECKING:
    from streamops.kube.client import KubeApi

PROG = "kubectl streamops"
EPILOG = (
    "Credentials: $KUBECONFIG (or ~/.kube/config) and its current context, as kubectl uses them (kubectl passes "
    "its own flags to no plugin: use --kubeconfig after the command, and `kubectl config use-context`)."
)


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-n", "--namespace", help="namespace (default: the kubeconfig context's, else default)")
    common.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)")
    return common


def parser() -> argparse.ArgumentParser:
    from streamops.cli.playback import DEFAULT_EXPIRES, FORMATS
    from streamops.cli.stats import DESCRIPTION as STATS_DESCRIPTION
    from streamops.cli.stats import add_arguments as stats_arguments
    from streamops.cli.stream_key import PROTOCOLS
    from streamops.cli.video import DESCRIPTION as VIDEO_URL_DESCRIPTION
    from streamops.cli.video import PAGE_DESCRIPTION as VIDEO_PAGE_DESCRIPTION
    from streamops.cli.video import add_arguments as video_url_arguments

    common = _common()
    top = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0] if __doc__ else None, epilog=EPILOG)
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    status = sub.add_parser(
        "status",
        parents=[common],
        help="one stream on one screen, or a table of the namespace's (-A: every namespace's)",
        description="With NAME: live, on-air ingest, media, viewers, recordings, restreams and what is not OK. "
        "Without: one line per stream. Read from the objects' status only.",
    )
    status.add_argument("name", nargs="?", help="the LiveStream (omit for a table)")
    status.add_argument("-A", "--all-namespaces", action="store_true", help="a table of every namespace's streams")

    push = sub.add_parser(
        "push-url",
        parents=[common],
        help="the URL an encoder pushes to (the key masked unless --show-key)",
        description="The push URL from status.ingest with the stream key where the ingest expects it: RTMP(S) the "
        "stream name, SRT the passphrase, WHIP the bearer token. The key is read from its Secret only with "
        "--show-key, and printed on stdout only.",
    )
    push.add_argument("stream", help="the LiveStream")
    push.add_argument("--protocol", choices=PROTOCOLS, help="default: the first the stream accepts (rtmp first)")
    push.add_argument("--backup", action="store_true", help="the backup ingest's URL (source.push.backup)")
    push.add_argument("--obs", action="store_true", help="print OBS's Stream settings (Server, Stream Key)")
    push.add_argument("--show-key", action="store_true", help="read the stream key from its Secret and print it")

    url = sub.add_parser(
        "url",
        parents=[common],
        help="a playback URL, signed when the stream's playback is",
        description="The stream's status.playback URL for --format; with spec.playback.access signed, signed with "
        "the namespace's key Secret (as `streamops playback url`).",
    )
    url.add_argument("stream", help="the LiveStream (the Broadcast with --broadcast)")
    url.add_argument("--broadcast", action="store_true", help="STREAM names a Broadcast: its page, signed")
    url.add_argument("--format", choices=FORMATS, default="player", help="which URL (default: the player page)")
    url.add_argument("--expires", default=DEFAULT_EXPIRES, help=f"a signed URL's validity (default {DEFAULT_EXPIRES})")
    url.add_argument("--ip", help="a signed URL only for this viewer address")

    play = sub.add_parser(
        "play",
        parents=[common],
        help="play the stream with ffplay (port-forwarding when its URL is cluster-internal)",
        description="Runs the player on the stream's playback URL. When the URL is a Service's cluster DNS name "
        "that does not resolve here, `kubectl port-forward` to that Service runs first (127.0.0.1 only) and stops "
        "with the player. Arguments after -- go to the player.",
    )
    play.add_argument("stream", help="the LiveStream")
    play.add_argument("--format", choices=("hls", "llhls", "dash"), default="hls", help="default hls")
    play.add_argument("--expires", default=DEFAULT_EXPIRES, help=f"a signed URL's validity (default {DEFAULT_EXPIRES})")
    play.add_argument("--player", default="ffplay", help="the player's command (default ffplay)")
    play.add_argument("--kubectl", help="kubectl for the port-forward (default: kubectl on PATH)")
    forward = play.add_mutually_exclusive_group()
    forward.add_argument("--port-forward", dest="forward", action="store_const", const=True, help="always forward")
    forward.add_argument("--no-port-forward", dest="forward", action="store_const", const=False, help="never forward")

    record = sub.add_parser("record", help="start or stop recording a stream").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    start = record.add_parser(
        "start",
        parents=[common],
        help="create a Recording of the stream (refused while one is not stopped)",
        description="Creates a Recording of STREAM; it records while the stream is live (it waits for it "
        "otherwise). Refused while another Recording of the stream is not stopped.",
    )
    start.add_argument("stream", help="the LiveStream")
    start.add_argument("--name", help="the Recording's name (default <stream>-<UTC time>)")
    stop = record.add_parser(
        "stop",
        parents=[common],
        help="stop a Recording, or every Recording of a stream (spec.stopped)",
    )
    stop.add_argument("name", help="a Recording, or a LiveStream (its Recordings not stopped)")

    rotate = sub.add_parser(
        "rotate-key",
        parents=[common],
        help="a new stream key (encoders must be updated); --playback: the namespace's playback signing key",
        description="Writes a new random stream key into the stream's key Secret. No restart: the ingest refuses "
        "the old key for new connections once its Pod has the new Secret (about a minute). --playback rotates the "
        "namespace's playback signing key instead (as `streamops playback rotate-key`).",
    )
    rotate.add_argument("stream", nargs="?", help="the LiveStream (not needed with --playback)")
    rotate.add_argument("--playback", action="store_true", help="rotate the namespace's playback signing key")
    rotate.add_argument("--force", action="store_true", help="--playback: even within 120 s of the last rotation")

    video = sub.add_parser("video", help="the videos of a Recording").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    video_url = video.add_parser(
        "url",
        parents=[common],
        help="a time-limited download link to a video in object storage",
        description=VIDEO_URL_DESCRIPTION.replace("streamops video url", "kubectl streamops video url"),
    )
    video_url_arguments(video_url, namespace=False)
    video_page = video.add_parser(
        "page",
        parents=[common],
        help="a time-limited link to a video's VOD page (embeddable in an iframe)",
        description=VIDEO_PAGE_DESCRIPTION.replace("streamops video", "kubectl streamops video"),
    )
    video_url_arguments(video_page, namespace=False, page=True)

    stats = sub.add_parser(
        "stats",
        parents=[common],
        help="bitrate, fps, resolution, speed and viewers per interval over a date range (from Prometheus)",
        description=STATS_DESCRIPTION.replace("streamops stats", "kubectl streamops stats"),
    )
    stats_arguments(stats, namespace=False)
    return top


def run(args: argparse.Namespace) -> int:
    from streamops.cli.kube_connection import connect, namespace_of

    if args.command == "stats":
        return _stats(args)
    api = connect(args.kubeconfig)
    namespace = namespace_of(api, args.namespace)
    command = args.command
    if command == "status":
        from streamops.cli.status import all_streams, one_stream

        if args.name and args.all_namespaces:
            raise CommandError("a NAME or -A, not both")
        if args.name:
            print(one_stream(api, namespace, args.name))
        elif text := all_streams(api, None if args.all_namespaces else namespace):
            print(text)
        else:  # as kubectl says it: on stderr, and no failure
            print("no livestreams" + ("" if args.all_namespaces else f" in namespace {namespace}"), file=sys.stderr)
        return 0
    if command == "push-url":
        from streamops.cli.stream_key import push_url

        lines = push_url(api, namespace, args.stream, args.protocol, args.backup, args.show_key, args.obs)
        print("\n".join(lines))
        return 0
    if command == "url":
        return _playback_url(api, namespace, args)
    if command == "play":
        from streamops.cli.play import play

        return play(
            api,
            namespace,
            args.stream,
            args.format,
            args.expires,
            args.player,
            args.player_args,
            args.kubectl,
            args.forward,
        )
    if command == "record":
        from streamops.cli.record import record_start, record_stop

        print(
            record_start(api, namespace, args.stream, args.name)
            if args.action == "start"
            else record_stop(api, namespace, args.name)
        )
        return 0
    if command == "rotate-key":
        return _rotate(api, namespace, args)
    if command == "video":
        from streamops.cli.video import video_command

        print(video_command(api, namespace, args))
        return 0
    raise AssertionError(command)


def _stats(args: argparse.Namespace) -> int:
    import os

    from streamops.cli.kube_connection import connect, namespace_of
    from streamops.cli.stats import asked, stats_command

    if args.kubeconfig:  # the login puts it there; the Prometheus URL may be in its current context
        os.environ["KUBECONFIG"] = args.kubeconfig
    ask = asked(args, os.environ)  # a typo or a bad URL needs no API server to be said
    api = connect(args.kubeconfig)
    answer = stats_command(api, namespace_of(api, args.namespace), ask)
    for note in answer.notes:
        print(note, file=sys.stderr)
    if answer.text:
        print(answer.text)
    return 0


def _playback_url(api: KubeApi, namespace: str, args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from streamops.cli.playback import broadcast_url, livestream_url, parse_expires, viewer_address

    expires, ip = parse_expires(args.expires), viewer_address(args.ip)
    if args.broadcast and args.format != "player":
        raise CommandError("--broadcast prints the broadcast's page: --format player only")
    now = datetime.now(UTC)
    found = (
        broadcast_url(api, namespace, args.stream, expires, ip, now)
        if args.broadcast
        else livestream_url(api, namespace, args.stream, args.format, expires, ip, now)
    )
    if found.note:
        print(found.note, file=sys.stderr)
    print(found.url)
    return 0


def _rotate(api: KubeApi, namespace: str, args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from streamops.cli.playback import rotate_playback_key
    from streamops.cli.stream_key import rotate_key

    if args.playback:
        print(rotate_playback_key(api, namespace, args.force, datetime.now(UTC)))
        return 0
    if not args.stream:
        raise CommandError("name the LiveStream whose stream key to rotate (or --playback for the playback key)")
    print(rotate_key(api, namespace, args.stream))
    return 0


def failure(e: BaseException) -> str | None:
    """The one line for an expected failure, None for a bug (which keeps its traceback)."""
    if isinstance(e, CommandError):
        return str(e)
    try:
        from streamops.kube.client import ApiError
    except ImportError:  # pragma: no cover
        return None
    if isinstance(e, ApiError):
        return api_message(e.status, e.body)
    if isinstance(e, ConnectionError | TimeoutError | ssl.SSLError | socket.gaierror):
        return f"cannot reach the API server: {e}"
    if isinstance(e, OSError):
        return str(e)
    return None


def main(argv: list[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    # `play STREAM -- PLAYER OPTIONS`: what follows -- is the player's, whatever it looks like.
    cut = words.index("--") if "--" in words else len(words)
    top = parser()
    args = top.parse_args(words[:cut])
    args.player_args = words[cut + 1 :]
    if args.player_args and args.command != "play":
        top.error("arguments after -- are the player's: only `play` takes them")
    command = " ".join(p for p in (args.command, getattr(args, "action", None)) if p)
    try:
        return run(args)
    except KeyboardInterrupt:
        return 130
    except Exception as e:
        line = failure(e)
        if line is None:
            raise
        print(f"{PROG} {command}: {line}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
