"""Signed links to claim videos (contract/video_link.py) and their Lua twin's pattern
(media/edge/edge_videos.lua): what is signed, what a path may be, that a video's token and a
stream's never pass for each other, and that the edge matches the same raw paths as the signer.
Pure; tests/media/test_claim_videos.py sends the same attacks to a real edge."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from streamops.contract import video_link
from streamops.contract.playback_token import Refusal, sign, verify
from streamops.media import edge as edge_files

KEY, OTHER = b"k" * 32, b"o" * 32
NS, CLAIM, PATH = "media", "streamops-recordings", "media/rec-0123abcd/record-20261128T080000Z.mp4"
BASE = "https://play.example.com"
NOW = 1_800_000_000


def token_of(url: str) -> str:
    return urlsplit(url).path.split("/")[4]


def test_a_link_names_the_file_and_its_token_signs_namespace_claim_and_path() -> None:
    url = video_link.signed_url(BASE, KEY, NS, CLAIM, PATH, NOW + 60)
    token = token_of(url)
    assert url == f"{BASE}/videos/{CLAIM}/t/{token}/{PATH}"
    scope = video_link.scope(NS, CLAIM, PATH)
    assert scope == f"{NS}/video:{CLAIM}/{PATH}"
    assert verify(token, [KEY], scope, NOW, "1.2.3.4") is None
    assert verify(token, [KEY], scope, NOW + 60 + 5, "1.2.3.4") is Refusal.EXPIRED, "the playback tokens' skew"
    assert verify(token, [OTHER], scope, NOW, "") is Refusal.UNKNOWN_KEY
    for other in (
        video_link.scope(NS, CLAIM, PATH.replace(".mp4", ".json")),  # another file
        video_link.scope(NS, "other-claim", PATH),  # another claim
        video_link.scope("other", CLAIM, PATH),  # another namespace's
        f"{NS}/rec-0123abcd",  # a stream of the namespace
    ):
        assert verify(token, [KEY], other, NOW, "") is Refusal.INVALID, other
    stream_token = sign(KEY, f"{NS}/cam", NOW + 60)
    assert verify(stream_token, [KEY], scope, NOW, "") is Refusal.INVALID, "a stream's token opens no video"
    restricted = token_of(video_link.signed_url(BASE, KEY, NS, CLAIM, PATH, NOW + 60, ip="10.0.0.7"))
    assert verify(restricted, [KEY], scope, NOW, "10.0.0.8") is Refusal.OTHER_VIEWER


def test_status_urls_are_unsigned_and_the_cli_puts_a_token_in() -> None:
    plain = video_link.unsigned_url(BASE + "/", CLAIM, PATH)
    assert plain == f"{BASE}/videos/{CLAIM}/{PATH}"
    signed = video_link.sign_unsigned(plain, KEY, NS, NOW + 60)
    assert signed == video_link.signed_url(BASE, KEY, NS, CLAIM, PATH, NOW + 60)
    assert video_link.page_path(PATH) == PATH[: -len(".mp4")] + ".html"
    with pytest.raises(video_link.UnsafePath):
        video_link.sign_unsigned(f"{BASE}/streams/{NS}/cam/index.m3u8", KEY, NS, NOW)


@pytest.mark.parametrize(
    "path",
    [
        "../secret.mp4",
        "media/../../secret.mp4",
        "media/./x.mp4",
        "./x.mp4",
        "/etc/passwd.mp4",
        "media//x.mp4",
        "media/x.mp4/",
        "media%2Fx.mp4",
        "%2e%2e/x.mp4",
        "media\\..\\x.mp4",
        "media/.parts/part-1.mp4",  # hidden: the recorder's parts and half-written renditions
        "media/.record.360p.deriving.mp4",
        "media/x.mp4\n",
        "media/x.mp4\x00.mp4",
        "media/state.yaml",
        "media/x.MP4",
        "media/x",
        "a/" * 17 + "x.mp4",  # deeper than any claim layout
        "x" * 1100 + ".mp4",
    ],
)
def test_paths_a_link_never_names(path: str) -> None:
    with pytest.raises(video_link.UnsafePath):
        video_link.scope(NS, CLAIM, path)
    with pytest.raises(video_link.UnsafePath):
        video_link.unsigned_url(BASE, CLAIM, path)
    assert video_link.parse_signed_path(f"/videos/{CLAIM}/t/tok/{path}") is None


@pytest.mark.parametrize("claim", ["", "..", "Claims", "a_b", "a.b", "-a", "a-", "x" * 254])
def test_claims_a_link_never_names(claim: str) -> None:
    with pytest.raises(video_link.UnsafePath):
        video_link.scope(NS, claim, PATH)


def test_the_recorders_file_names_are_linkable() -> None:
    for path in (
        PATH,
        PATH.replace(".mp4", ".json"),
        PATH.replace(".mp4", ".html"),
        PATH.replace(".mp4", ".360p.mp4"),
        PATH.replace(".mp4", "-origin.mp4"),
        "my_sub/media/clip-abc/goal_1.mp4",
    ):
        assert video_link.checked(CLAIM, path) == (CLAIM, path)
        assert video_link.parse_signed_path(f"/videos/{CLAIM}/t/tok/{path}") == (CLAIM, "tok", path)


def test_the_edge_matches_the_same_raw_paths_as_the_signer() -> None:
    """edge_videos.lua spells the pattern out of the same pieces; PCRE's `\\z` is Python's `\\Z`."""
    lua = (edge_files.FILES_DIR / "edge_videos.lua").read_text()
    pieces = dict(re.findall(r"^local (CLAIM|SEGMENT) = \[\[(.*)\]\]$", lua, re.M))
    assert pieces == {"CLAIM": video_link.CLAIM, "SEGMENT": video_link.SEGMENT}
    assert 'local VIDEO_PATH = "(?:" .. SEGMENT .. "/){0,16}" .. SEGMENT .. [[\\.(?:mp4|html|json)]]' in lua
    assert rf"(?:{video_link.SEGMENT}/){{0,16}}{video_link.SEGMENT}\.(?:mp4|html|json)" == video_link.VIDEO_PATH
    assert 'M.SIGNED_PATH = "^/videos/(" .. CLAIM .. ")/t/([^/]{1,200})/(" .. VIDEO_PATH .. ")\\\\z"' in lua
    assert f"local MAX_PATH = {video_link.MAX_PATH}" in lua
    assert f'local SCOPE_MARK = "{video_link.SCOPE_MARK}"' in lua
    conf = (edge_files.FILES_DIR / "nginx.conf.template").read_text()
    assert "disable_symlinks on;" in conf.split("location /_edge_videos/")[1].split("}")[0], "symlinks never followed"
