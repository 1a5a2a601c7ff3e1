"""Which public requests may be held open, waiting for media still being written: they take a
blocking slot (per client, like an LL-HLS blocking reload), not one of the public total, which
bounds requests being worked on (load_caps.py). A held request costs no work while it waits.
Apart from that: which handlers stay on the public face's own loop (public_thread.handlers_on),
only those that write their response themselves as the media comes (low-latency DASH's segments);
an LL-HLS part waits on its packager, which lives on the worker's loop."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from streamops.media.ingest.commands import LL_VARIANT
from streamops.media.ingest.dash_chunks import may_be_held
from streamops.media.ingest.llhls.playlist import part_number

HLS_PARTS_DIRECTORY = f"/hls/{LL_VARIANT}"


def is_llhls_part(request: web.Request) -> bool:
    """An LL-HLS part (`…/hls/cmaf[/rendition]/part-N.m4s`): the preload-hinted one is asked for
    before it is written and held until it is (routes.low_latency_hls), so every LL-HLS player holds
    one beside its blocking reload. Counted in the public total, 100 players behind one address held
    100 of its 256 slots while waiting, and a starved ingest answered 503 to thousands of parts
    (ci61: 3,008)."""
    directory, _, name = request.path.rpartition("/")
    return part_number(name) is not None and HLS_PARTS_DIRECTORY in directory


def held_requests(dash_low_latency: bool) -> Callable[[web.Request], bool]:
    """The ingest's predicate for LoadCaps(held=…): LL-HLS parts, and low-latency DASH's segments
    (sent as they are written) when the stream has them."""
    if not dash_low_latency:
        return is_llhls_part
    return lambda request: is_llhls_part(request) or may_be_held(request)


def answered_on_the_face(dash_low_latency: bool) -> Callable[[web.Request], bool]:
    """The requests whose handler runs on the public face's loop (public_thread.handlers_on): low-
    latency DASH's segments, which the face sends as FFmpeg writes them (dash_chunks.py). Not the
    LL-HLS parts, though held: their handler waits on the packager's events, bound to the worker's
    loop (a part answered on the face's loop bound them there, and every blocking reload after it
    failed: 500, "bound to a different event loop")."""
    return may_be_held if dash_low_latency else _never


def _never(_: web.Request) -> bool:
    return False
