"""`kubectl streamops play`: a player on a stream's playback URL (signed when its playback is: the
URL `kubectl streamops url` and `streamops playback url` print, cli/playback.py).

`play` runs the player (ffplay) as a child on the URL; when the URL names a Service's cluster DNS
name that does not resolve from here (a ClusterIP exposure seen from outside the cluster), it
port-forwards to that Service first (port_forward.py) and plays through 127.0.0.1. The token of a
signed URL is in its path, so the rewritten URL stays signed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from streamops.cli.command_error import CommandError
from streamops.cli.playback import Format, livestream_url, parse_expires
from streamops.cli.port_forward import PortForward, cluster_service, kubectl_binary, resolves, through

if TYPE_CHECKING:
    from streamops.kube.client import KubeApi

PLAYABLE: tuple[Format, ...] = ("hls", "llhls", "dash")  # what ffplay plays (not the page, not WebRTC)


def play(
    api: KubeApi,
    namespace: str,
    name: str,
    fmt: Format,
    expires: str,
    player: str,
    player_args: Sequence[str],
    kubectl: str | None,
    forward: bool | None,
) -> int:
    """The player's exit status. `forward`: None = when the URL is cluster-internal, True = always
    (a cluster DNS name is needed), False = never."""
    if fmt not in PLAYABLE:
        raise CommandError(f"play takes --format {', '.join(PLAYABLE)} (a player page or WebRTC needs a browser)")
    binary = shutil.which(player)
    if binary is None:
        raise CommandError(f"{player} not found on PATH: install FFmpeg (it has ffplay) or name a player with --player")
    found = livestream_url(api, namespace, name, fmt, parse_expires(expires), "", datetime.now(UTC))
    if found.note:
        print(found.note, file=sys.stderr)
    url = found.url
    service = cluster_service(url)
    if forward is True and service is None:
        raise CommandError(
            f"the {fmt} URL of livestream {name} is not on a Service's cluster DNS name: nothing to forward"
        )
    host = urlsplit(url).hostname or ""
    if service is None or forward is False or (forward is None and resolves(host)):
        print(f"playing livestream {namespace}/{name} ({fmt}) with {player}", file=sys.stderr)
        return subprocess.run([binary, *player_args, url], check=False).returncode
    kubectl_path = kubectl_binary(kubectl)
    tunnel = PortForward(kubectl_path, service[1], service[0], service[2])
    try:
        local = tunnel.start()
        assert tunnel.process is not None
        print(
            f"{host} is inside the cluster: port-forwarding svc/{service[0]} port {service[2]} to 127.0.0.1:{local} "
            f"(kubectl pid {tunnel.process.pid}); playing livestream {namespace}/{name} ({fmt}) with {player}",
            file=sys.stderr,
        )
        return subprocess.run([binary, *player_args, through(url, local)], check=False).returncode
    finally:
        tunnel.stop()
