"""`streamops video url <recording> [n] [--quality q]` and `streamops video page <recording> [n]` (and
the same under `kubectl streamops video`, this module's arguments and verb in both): a time-limited
download link to one of a Recording's videos (or one of its renditions), or the link to its VOD page,
read from the Recording's status and its storage's credentials Secret (storage/download_link.py
signs them)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from streamops.kube.client import KubeApi
    from streamops.storage.download_link import Owner

DESCRIPTION = (
    "Print a presigned HTTPS link to video N of RECORDING (1 = oldest, -1 = newest; default the newest), signed "
    "for the storage's publicEndpoint with its credentials Secret. Play it in a browser or download it: "
    'curl -fo video.mp4 "$(streamops video url my-recording)". A transcoded recording keeps every rendition: '
    "--quality 360p names one (the default is the tallest, the video's own file); --quality origin the untouched "
    "original a keepOrigin recording keeps beside it until it expires. On a claim (PVC): a link to the namespace's "
    "edge (status.videos[].downloadUrl), signed with the namespace's playback key."
)
PAGE_DESCRIPTION = (
    "Print a presigned link to the VOD page of video N of RECORDING (1 = oldest, -1 = newest; default the newest): "
    "a player with a quality menu, embeddable in an <iframe> on any site. Its #fragment carries presigned links to "
    "the video and each rendition; the page and the links expire together (--expires). On a claim (PVC): at the "
    "namespace's edge, signed with its playback key."
)


def add_arguments(parser: argparse.ArgumentParser, namespace: bool = True, page: bool = False) -> None:
    """The command's arguments, the same in both command lines (`namespace`: add -n, which the
    kubectl plugin's commands get from a common parent; `page`: `video page`'s)."""
    parser.add_argument("recording", help="name of the Recording (of the Clip with --clip)")
    parser.add_argument("number", nargs="?", type=int, help="which video: 1 = oldest, -1 = newest (default)")
    if namespace:
        parser.add_argument("-n", "--namespace", help="namespace (default: the kubeconfig's, else default)")
    # No default here: the command lines build their parsers at every start (a worker's too), and the
    # module that knows it (storage/download_link.py) imports the API models.
    parser.add_argument("--expires", type=int, help="seconds the link works (default 3600, max 7 days)")
    parser.add_argument("--clip", action="store_true", help="RECORDING names a Clip: its video")
    if page:
        parser.add_argument("--iframe", action="store_true", help="print the <iframe> element that embeds it")
    parser.add_argument(
        "--quality",
        help="a rendition of a transcoded recording, e.g. 720p (page: the one it starts with); url: origin for the "
        "original a keepOrigin recording keeps",
    )


def video_link(
    api: KubeApi,
    namespace: str,
    recording_name: str,
    number: int | None,
    expires: int | None,
    quality: str | None = None,
    page: bool = False,
    clip: bool = False,
) -> str:
    """The link (valid `expires` seconds, None: the default) to the video, its rendition `quality`,
    or (`page`) its VOD page, of a Recording (`clip`: of a Clip); or NoLink saying why there is none."""
    from streamops.api import CLIP, RECORDING, Clip, Recording
    from streamops.storage.download_link import DEFAULT_EXPIRES_SECONDS, NoLink, download_link, page_link

    raw = api.get_custom(CLIP if clip else RECORDING, namespace, recording_name)
    if raw is None:
        raise NoLink(f"{'clip' if clip else 'recording'} {recording_name} not found in namespace {namespace}")
    recording: Owner = Clip.model_validate(raw) if clip else Recording.model_validate(raw)
    storage = recording.status.storage if recording.status else None
    if storage is not None and storage.s3 is None and storage.pvc is not None:
        return claim_link(api, namespace, recording, number, expires, quality, page)
    secret = None
    if storage is not None and storage.s3 is not None:
        secret = api.get("Secret", namespace, storage.s3.credentials_secret)
    link = page_link if page else download_link
    return link(recording, number, secret, DEFAULT_EXPIRES_SECONDS if expires is None else expires, quality)


def claim_link(
    api: KubeApi,
    namespace: str,
    recording: Owner,
    number: int | None,
    expires: int | None,
    quality: str | None,
    page: bool,
) -> str:
    """A claim video's link at the namespace's edge, signed with the namespace's playback key (the
    one `streamops playback url` would sign with now; the caller's kubeconfig must read the Secret)."""
    from datetime import UTC, datetime

    from streamops.cli.playback import secret_keys, signing_key
    from streamops.contract.playback_token import KEYS_SECRET
    from streamops.storage.download_link import (
        DEFAULT_EXPIRES_SECONDS,
        NoLink,
        claim_download_link,
        claim_page_link,
        claim_video,
    )

    seconds = DEFAULT_EXPIRES_SECONDS if expires is None else expires
    claim_video(recording, number, seconds)  # no such video, or no edge serves it: said before the key
    secret = api.get("Secret", namespace, KEYS_SECRET)
    if secret is None:
        raise NoLink(
            f"namespace {namespace} has no secret {KEYS_SECRET}, whose key signs links to claim videos "
            "(`streamops playback rotate-key` creates one; the edge mounts it)"
        )
    now = datetime.now(UTC)
    key = signing_key(secret_keys(secret), now)
    link = claim_page_link if page else claim_download_link
    return link(recording, number, key, seconds, now.timestamp(), quality)


def printed(link: str, args: argparse.Namespace) -> str:
    """What the command prints: the link, or with `video page --iframe` the element embedding it."""
    if not getattr(args, "iframe", False):
        return link
    from streamops.storage.vod_page import iframe_element

    return iframe_element(link)


def video_command(api: KubeApi, namespace: str, args: argparse.Namespace) -> str:
    """What `video url|page` prints for its parsed arguments (both command lines'), or CommandError
    saying why there is nothing to print."""
    from streamops.cli.command_error import CommandError
    from streamops.storage.download_link import NoLink

    page = args.action == "page"
    try:
        link = video_link(api, namespace, args.recording, args.number, args.expires, args.quality, page, args.clip)
    except NoLink as e:
        raise CommandError(str(e)) from None
    return printed(link, args)
