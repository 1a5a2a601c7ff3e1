"""Every CEL rule of the generated CRDs against its Python twin, on one table of examples.

The API server enforces a rule's CEL at admission, the operator its pydantic twin: written twice, they
can drift. Here each rule's examples are evaluated both ways: the CEL by cel-expr-python (the CEL
project's Python binding of cel-cpp, with the strings extension Kubernetes loads, for split()), on
`self` as the API server hands it to the rule (schema defaults applied, numbers of type number as
doubles); the Python twin by validating the same object with the model. Both must accept the accepted
examples and refuse the refused ones, with the rule's message. A rule without an accepted and a refused
example, or a validator neither paired with its rules nor listed as Python-only, fails here.
"""

from __future__ import annotations

import copy
import importlib
import inspect
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest
from cel_expr_python import cel
from cel_expr_python.ext import ext_strings
from pydantic import BaseModel, ValidationError
from streamops.api import KINDS
from streamops.api.clip import END_AFTER_START, IMMUTABLE, NOT_TOO_LONG, ONE_RANGE, ClipSpec
from streamops.api.common import CA_OR_SKIP, NO_USERINFO, SRT_CALLER_ONLY, dot_segments_message
from streamops.api.crd import crd_manifest, openapi_schema
from streamops.api.livestream import (
    BACKUP_WITHOUT_WHIP,
    BOX_WITHIN_HEIGHT,
    BOX_WITHIN_WIDTH,
    CREDENTIALS_NEED_RTSP,
    DASH_LOW_LATENCY_NEEDS_DASH,
    DVR_HOLDS_THREE_SEGMENTS,
    ENCRYPTION_WITHOUT_DASH,
    HLS,
    HLS_NEEDS_A_FORMAT,
    ICE_TCP_NODE_PORT,
    LADDER_OR_SET,
    LOAD_BALANCER_CLASS_NEEDS_TYPE,
    LOW_LATENCY_NEEDS_CMAF,
    NODE_PORTS_NEED_TYPE,
    ONE_ROUTE,
    OVERLAYS_NEED_RENDITIONS,
    PART_BELOW_SEGMENT,
    PULL_TLS_NEEDS_TLS_URL,
    PUSH_XOR_PULL,
    ROUTE_PATH_DOTS,
    RTMPS_NEEDS_TLS,
    RTMPS_PORT_NOT_NODE_PORT,
    SAME_CREDENTIAL_KEYS,
    STREAM_KEEP_ORIGIN_NEEDS_TRANSCODED,
    TRAFFIC_POLICY_NEEDS_TYPE,
    TRANSCODED_NEEDS_RENDITIONS,
    IngestService,
    IngestSpec,
    LiveStreamSpec,
    Overlay,
    PlaybackHttpRoute,
    PlaybackIngress,
    PlaybackSpec,
    PullCredentialsRef,
    PullSource,
    PushSource,
    RecordingDefaults,
    Source,
    Transcoding,
)
from streamops.api.playback_policy import BOTH_COUNTRY_LISTS, NO_REFERRER_EXPLICIT, PlaybackPolicySpec
from streamops.api.recording import (
    KEEP_ORIGIN_NEEDS_TRANSCODED,
    KEY_TEMPLATE_SLASHES,
    ONE_STORAGE,
    STOPPED_IS_FINAL,
    PersistentVolumeClaimStorage,
    RecordingSpec,
    RecordingStorage,
    S3Storage,
    s3_endpoint_message,
)
from streamops.api.restream import NO_AV1_OVER_SRT, TLS_NEEDS_RTMPS, RestreamSpec
from streamops.api.webhook import HTTP_ONLY, NO_WEBHOOK_USERINFO, StreamWebhookSpec

# Kubernetes' CEL environment has cel-go's strings extension (split, ...); `self` and `oldSelf` are typed
# by the schema there, dynamic here: the values are shaped by cel_value() below as the API server's are.
CEL = cel.NewEnv(variables={"self": cel.Type.DYN, "oldSelf": cel.Type.DYN}, extensions=[ext_strings.ExtStrings()])

ROUTE_PATH_DOTS_MESSAGE = dot_segments_message("path", ROUTE_PATH_DOTS)
SUB_PATH_DOTS_MESSAGE = dot_segments_message("subPath")
KEY_TEMPLATE_DOTS_MESSAGE = dot_segments_message("keyTemplate", ("..", ".", ""))
# Transition rules (oldSelf) compare an update with the stored object: a model validates one object, so
# they have no Python twin. Their CEL is evaluated here all the same (with oldSelf), and the cluster tier
# runs them on the real API server: tests/cluster/test_validation.py (stopped), tests/cluster/test_clips.py
# (a Clip's spec).
WITHOUT_PYTHON_TWIN = {
    STOPPED_IS_FINAL: "transition rule (oldSelf): a Recording's spec.stopped is final",
    IMMUTABLE: "transition rule (oldSelf): a Clip's spec cannot change",
}
# Rules the evaluator cannot evaluate as the API server does, each with why; the cluster tier covers them.
# (None today: cel-expr-python evaluates every rule the CRDs carry, the strings extension included.)
NOT_EVALUABLE: dict[str, str] = {}

PULL_URL = "a pull URL must be a rtmp://, rtmps://, srt://, http://, https://, rtsp://, rtsps:// URL without spaces"

# Each Python validator with the messages of the CEL rules it is the twin of, or none: those checks are
# in the CRD as OpenAPI (pattern, maxLength) or the API server refuses the value by itself.
PYTHON_VALIDATORS: dict[str, tuple[str, ...]] = {
    "ClientFields._int64": (),  # the API server's JSON decoding refuses an integer beyond int64
    "PushSource._rtmps_needs_tls": (RTMPS_NEEDS_TLS, BACKUP_WITHOUT_WHIP),
    "PullSource._urls_are_safe": (
        PULL_URL,
        SRT_CALLER_ONLY,
        NO_USERINFO,
    ),
    "PullSource._credentials_need_rtsp": (CREDENTIALS_NEED_RTSP,),
    "PullSource._tls_needs_a_tls_url": (PULL_TLS_NEEDS_TLS_URL,),
    "PullCredentialsRef._two_keys": (SAME_CREDENTIAL_KEYS,),
    "Source._push_xor_pull": (PUSH_XOR_PULL,),
    "HLS._one_format": (HLS_NEEDS_A_FORMAT, LOW_LATENCY_NEEDS_CMAF, PART_BELOW_SEGMENT),
    "Overlay._url": ("url must be a http://, https:// URL without spaces", NO_USERINFO),
    "Overlay._box_inside": (BOX_WITHIN_WIDTH, BOX_WITHIN_HEIGHT),
    "IngestService._type_dependent": (
        NODE_PORTS_NEED_TYPE,
        LOAD_BALANCER_CLASS_NEEDS_TYPE,
        TRAFFIC_POLICY_NEEDS_TYPE,
        RTMPS_PORT_NOT_NODE_PORT,
    ),
    "IngestWebRtc._addresses": (),  # the items' pattern and maxLength
    "IngestSpec._ice_tcp_port": (ICE_TCP_NODE_PORT,),
    "PlaybackIngress._path": (ROUTE_PATH_DOTS_MESSAGE,),
    "PlaybackHttpRoute._path": (ROUTE_PATH_DOTS_MESSAGE,),
    "PlaybackHttpRoute._hostnames": (),  # the items' pattern and maxLength
    "PlaybackSpec._one_route": (ONE_ROUTE,),
    "Transcoding._one_ladder": (LADDER_OR_SET,),
    "LiveStreamSpec._transcoded_needs_renditions": (
        TRANSCODED_NEEDS_RENDITIONS,
        DVR_HOLDS_THREE_SEGMENTS,
        DASH_LOW_LATENCY_NEEDS_DASH,
        OVERLAYS_NEED_RENDITIONS,
        ENCRYPTION_WITHOUT_DASH,
    ),
    "PersistentVolumeClaimStorage._inside_the_claim": (SUB_PATH_DOTS_MESSAGE,),
    "S3Storage._endpoint": (s3_endpoint_message("endpoint"), s3_endpoint_message("publicEndpoint")),
    "S3Storage._key_template": (
        KEY_TEMPLATE_SLASHES,
        KEY_TEMPLATE_DOTS_MESSAGE,
    ),
    "RecordingStorage._one_kind": (ONE_STORAGE,),
    "RecordingSpec._keep_origin_transcoded": (KEEP_ORIGIN_NEEDS_TRANSCODED,),
    "RecordingDefaults._keep_origin_transcoded": (STREAM_KEEP_ORIGIN_NEEDS_TRANSCODED,),
    "RestreamSpec._uri_is_safe": (
        "uri must be a rtmp://, rtmps://, srt:// URL without spaces",
        SRT_CALLER_ONLY,
        NO_USERINFO,
    ),
    "RestreamSpec._codecs_once": (),  # the list is a set (x-kubernetes-list-type): the API server refuses a duplicate
    "RestreamSpec._no_av1_over_srt": (NO_AV1_OVER_SRT,),
    "RestreamSpec._tls_needs_rtmps": (TLS_NEEDS_RTMPS,),
    "PeerTls._ca_or_skip": (CA_OR_SKIP,),
    "StreamWebhookSpec._http_url": (HTTP_ONLY, NO_WEBHOOK_USERINFO),
    "ClipSpec._one_range": (ONE_RANGE, END_AFTER_START, NOT_TOO_LONG),
    "PlaybackRules._cidrs": (),  # the items' format cidr (Go's net.ParseCIDR at the API server)
    "PlaybackRules._countries": (),  # the items' enum of ISO 3166-1 alpha-2 codes
    "PlaybackRules._hosts": (),  # the items' pattern and maxLength
    "PlaybackRules._agents": (),  # the items' maxLength (printable: the Python twin only)
    "PlaybackRules._explicit": (NO_REFERRER_EXPLICIT, BOTH_COUNTRY_LISTS),
}
API_MODULES = (
    "common",
    "livestream",
    "livestream_media",
    "recording",
    "restream",
    "webhook",
    "clip",
    "quality_set",
    "playback_policy",
    "kinds",
)


@dataclass(frozen=True)
class Example:
    """An object of `model` (its wire form) that the rule named by `message` accepts or refuses; the rule
    is on the schema node at `at` inside it (a field's rule: the field; a list item's: the item)."""

    model: type[BaseModel]
    message: str
    obj: dict[str, Any]
    accepted: bool
    at: tuple[str | int, ...] = ()
    old: dict[str, Any] | None = None  # oldSelf's object, for a transition rule
    note: str = ""  # tells examples of one rule apart in the test ids

    @property
    def id(self) -> str:
        verdict = "accepts" if self.accepted else "refuses"
        return f"{self.model.__name__}-{verdict}-{self.note or self.message[:40]}"


SKIP = {"insecureSkipVerify": True}  # source.pull.tls, unverified


def ok(model: type[BaseModel], message: str, obj: dict[str, Any], **kw: Any) -> Example:
    return Example(model, message, obj, True, **kw)


def bad(model: type[BaseModel], message: str, obj: dict[str, Any], **kw: Any) -> Example:
    return Example(model, message, obj, False, **kw)


PUSH = {"push": {}}
LADDER = {"renditions": [{"name": "720p", "height": 720, "videoBitrateKbps": 3000}]}
NAMED = {"qualitySetRef": {"name": "default", "kind": "ClusterQualitySet"}}  # a ladder by name
OVERLAY = {"name": "score", "url": "https://scores.example.com/", "width": 50, "height": 20}
S3 = {"endpoint": "https://s3.example.com", "bucket": "videos", "credentialsSecret": "s3"}
HOOK = {"url": "https://hooks.example.com/in", "secretRef": {"name": "hook"}}
CAM = {"streamRef": {"name": "cam"}}
START, END = "2026-01-01T10:00:00Z", "2026-01-01T10:05:00Z"


def with_value(base: dict[str, Any], at: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    """A copy of `base` with `value` at `at`."""
    obj = copy.deepcopy(base)
    target: Any = obj
    for step in at[:-1]:
        target = target[step]
    target[at[-1]] = value
    return obj


def uri_examples(
    model: type[BaseModel], base: dict[str, Any], at: tuple[str | int, ...], what: str, schemes: str
) -> list[Example]:
    """The three rules on a user's URL: scheme and no spaces, srt caller only, no credentials."""

    def with_uri(uri: str) -> dict[str, Any]:
        return with_value(base, at, uri)

    scheme = f"{what} must be a {schemes} URL without spaces"
    first = schemes.split(",")[0].removesuffix("://")
    return [
        ok(model, scheme, with_uri(f"{first}://host.example.com/live"), at=at),
        ok(model, scheme, with_uri(f"{first}://host/a\u00a0b"), at=at, note="non-breaking space (not RE2's \\s)"),
        bad(model, scheme, with_uri(f"{first}://host/a b"), at=at, note="space"),
        bad(model, scheme, with_uri(f"{first}://host/a\tb"), at=at, note="tab"),
        bad(model, scheme, with_uri(f"{first}://"), at=at, note="nothing after the scheme"),
        bad(model, scheme, with_uri("file:///etc/passwd"), at=at, note="file"),
        bad(model, scheme, with_uri(f"{first.upper()}://host"), at=at, note="upper-case scheme"),
        ok(model, NO_USERINFO, with_uri(f"{first}://host/live?user=a@b"), at=at, note="@ in the query"),
        bad(model, NO_USERINFO, with_uri(f"{first}://user:pass@host/live"), at=at),
    ]


def srt_examples(model: type[BaseModel], base: dict[str, Any], at: tuple[str | int, ...]) -> list[Example]:
    def with_uri(uri: str) -> dict[str, Any]:
        return with_value(base, at, uri)

    return [
        ok(model, SRT_CALLER_ONLY, with_uri("srt://host:9000"), at=at, note="no query"),
        ok(model, SRT_CALLER_ONLY, with_uri("srt://host:9000?latency=200&mode=caller"), at=at, note="caller"),
        ok(model, SRT_CALLER_ONLY, with_uri("rtmp://host/live?mode=listener"), at=at, note="not srt"),
        bad(model, SRT_CALLER_ONLY, with_uri("srt://host:9000?mode=listener"), at=at, note="listener"),
        bad(model, SRT_CALLER_ONLY, with_uri("srt://host:9000?mode=caller&mode=rendezvous"), at=at, note="second"),
    ]


def path_examples(
    model: type[BaseModel], base: dict[str, Any], name: str, good: list[str], refused: list[str], message: str
) -> list[Example]:
    return [ok(model, message, {**base, name: p}, at=(name,), note=p) for p in good] + [
        bad(model, message, {**base, name: p}, at=(name,), note=p) for p in refused
    ]


LIVESTREAM_EXAMPLES = [
    ok(
        LiveStreamSpec,
        TRANSCODED_NEEDS_RENDITIONS,
        {"source": PUSH, "recording": {"type": "transcoded"}, "transcoding": LADDER},
    ),
    ok(
        LiveStreamSpec,
        TRANSCODED_NEEDS_RENDITIONS,
        {"source": PUSH},
        note="origin by default",
    ),
    bad(
        LiveStreamSpec,
        TRANSCODED_NEEDS_RENDITIONS,
        {"source": PUSH, "recording": {"type": "transcoded"}},
    ),
    bad(
        LiveStreamSpec,
        TRANSCODED_NEEDS_RENDITIONS,
        {"source": PUSH, "recording": {"type": "transcoded"}, "transcoding": {"renditions": []}},
        note="empty ladder",
    ),
    ok(
        LiveStreamSpec,
        TRANSCODED_NEEDS_RENDITIONS,
        {"source": PUSH, "recording": {"type": "transcoded"}, "transcoding": NAMED},
        note="a quality set",
    ),
    ok(Transcoding, LADDER_OR_SET, LADDER),
    ok(Transcoding, LADDER_OR_SET, NAMED, note="a quality set"),
    ok(Transcoding, LADDER_OR_SET, {**NAMED, "renditions": []}, note="a set and an empty ladder"),
    bad(Transcoding, LADDER_OR_SET, {**LADDER, **NAMED}),
    ok(
        LiveStreamSpec,
        DVR_HOLDS_THREE_SEGMENTS,
        {"source": PUSH, "dvr": {"enabled": True, "durationSeconds": 30}, "hls": {"segmentSeconds": 10}},
    ),
    ok(
        LiveStreamSpec,
        DVR_HOLDS_THREE_SEGMENTS,
        {"source": PUSH, "dvr": {"durationSeconds": 30}, "hls": {"segmentSeconds": 20}},
        note="dvr disabled",
    ),
    bad(
        LiveStreamSpec,
        DVR_HOLDS_THREE_SEGMENTS,
        {"source": PUSH, "dvr": {"enabled": True, "durationSeconds": 30}, "hls": {"segmentSeconds": 11}},
    ),
    ok(LiveStreamSpec, DASH_LOW_LATENCY_NEEDS_DASH, {"source": PUSH, "dash": True, "dashLatencyMode": "low"}),
    ok(
        LiveStreamSpec,
        DASH_LOW_LATENCY_NEEDS_DASH,
        {"source": PUSH, "dash": True, "dashLatencyMode": "low", "transcoding": LADDER},
        note="the ladder's DASH",
    ),
    ok(LiveStreamSpec, DASH_LOW_LATENCY_NEEDS_DASH, {"source": PUSH, "dashLatencyMode": "standard"}, note="standard"),
    bad(LiveStreamSpec, DASH_LOW_LATENCY_NEEDS_DASH, {"source": PUSH, "dashLatencyMode": "low"}),
    bad(LiveStreamSpec, DASH_LOW_LATENCY_NEEDS_DASH, {"source": PUSH, "dash": False, "dashLatencyMode": "low"}),
    ok(LiveStreamSpec, ENCRYPTION_WITHOUT_DASH, {"source": PUSH, "playback": {"encryption": {}}}),
    ok(LiveStreamSpec, ENCRYPTION_WITHOUT_DASH, {"source": PUSH, "dash": True}, note="dash alone"),
    ok(
        LiveStreamSpec,
        ENCRYPTION_WITHOUT_DASH,
        {"source": PUSH, "dash": False, "playback": {"encryption": {"rotateSeconds": 30}}},
        note="dash false",
    ),
    bad(LiveStreamSpec, ENCRYPTION_WITHOUT_DASH, {"source": PUSH, "dash": True, "playback": {"encryption": {}}}),
    ok(LiveStreamSpec, OVERLAYS_NEED_RENDITIONS, {"source": PUSH, "overlays": [OVERLAY], "transcoding": LADDER}),
    ok(
        LiveStreamSpec,
        OVERLAYS_NEED_RENDITIONS,
        {"source": PUSH, "overlays": [OVERLAY], "transcoding": NAMED},
        note="a quality set",
    ),
    ok(LiveStreamSpec, OVERLAYS_NEED_RENDITIONS, {"source": PUSH, "overlays": []}, note="no overlays"),
    bad(LiveStreamSpec, OVERLAYS_NEED_RENDITIONS, {"source": PUSH, "overlays": [OVERLAY]}),
    ok(Source, PUSH_XOR_PULL, PUSH),
    ok(Source, PUSH_XOR_PULL, {"pull": {"urls": ["rtmp://origin/live"]}}),
    bad(Source, PUSH_XOR_PULL, {}),
    bad(Source, PUSH_XOR_PULL, {**PUSH, "pull": {"urls": ["rtmp://origin/live"]}}, note="both"),
    ok(PushSource, RTMPS_NEEDS_TLS, {"protocols": ["rtmps"], "tls": {"secretName": "cert"}}),
    ok(PushSource, RTMPS_NEEDS_TLS, {}, note="default protocols"),
    bad(PushSource, RTMPS_NEEDS_TLS, {"protocols": ["rtmp", "rtmps"]}),
    ok(PushSource, BACKUP_WITHOUT_WHIP, {"protocols": ["whip", "srt"], "backup": True}),
    ok(PushSource, BACKUP_WITHOUT_WHIP, {"protocols": ["whip"]}, note="no backup"),
    bad(PushSource, BACKUP_WITHOUT_WHIP, {"protocols": ["whip"], "backup": True}),
    *uri_examples(
        PullSource,
        {"urls": [""]},
        ("urls", 0),
        "a pull URL",
        "rtmp://, rtmps://, srt://, http://, https://, rtsp://, rtsps://",
    ),
    *(
        ok(PullSource, PULL_URL, {"urls": [url], **tls}, at=("urls", 0), note=url)
        for url, tls in (
            ("rtsp://cam.lan:554/Streaming/Channels/101", {}),
            ("rtsps://cam.lan:322/stream1", {"tls": SKIP}),
        )
    ),
    bad(PullSource, NO_USERINFO, {"urls": ["rtsp://admin:12345@cam.lan/stream1"]}, at=("urls", 0), note="rtsp"),
    *srt_examples(PullSource, {"urls": [""]}, ("urls", 0)),
    ok(PullSource, CREDENTIALS_NEED_RTSP, {"urls": ["rtsp://cam/1"], "credentialsSecretRef": {"name": "cam"}}),
    ok(
        PullSource,
        CREDENTIALS_NEED_RTSP,
        {"urls": ["srt://h:9000", "rtsps://cam/1"], "credentialsSecretRef": {"name": "cam"}, "tls": SKIP},
        note="rtsps among others",
    ),
    ok(PullSource, CREDENTIALS_NEED_RTSP, {"urls": ["rtmp://origin/live"]}, note="no credentials"),
    bad(PullSource, CREDENTIALS_NEED_RTSP, {"urls": ["rtmp://origin/live"], "credentialsSecretRef": {"name": "cam"}}),
    ok(PullSource, PULL_TLS_NEEDS_TLS_URL, {"urls": ["rtmps://o/live/s"], "tls": {"caSecretRef": {"name": "ca"}}}),
    ok(PullSource, PULL_TLS_NEEDS_TLS_URL, {"urls": ["rtmp://o/l", "https://o/l.m3u8"], "tls": SKIP}, note="https"),
    ok(PullSource, PULL_TLS_NEEDS_TLS_URL, {"urls": ["rtmp://o/live/s"]}, note="no tls"),
    bad(PullSource, PULL_TLS_NEEDS_TLS_URL, {"urls": ["rtmp://o/live/s", "http://o/s"], "tls": SKIP}),
    # rtsps:// is verified by default (issue 52, finding 9: our FFmpeg's rtsp patch), with a CA or unverified.
    ok(PullSource, PULL_TLS_NEEDS_TLS_URL, {"urls": ["rtsps://cam/1"]}, note="rtsps verified"),
    ok(PullSource, PULL_TLS_NEEDS_TLS_URL, {"urls": ["rtsps://cam/1"], "tls": {"caSecretRef": {"name": "ca"}}}),
    ok(PullSource, PULL_TLS_NEEDS_TLS_URL, {"urls": ["rtsps://cam/1"], "tls": SKIP}, note="rtsps unverified"),
    ok(PullCredentialsRef, SAME_CREDENTIAL_KEYS, {"name": "cam", "usernameKey": "user", "passwordKey": "pass"}),
    ok(PullCredentialsRef, SAME_CREDENTIAL_KEYS, {"name": "cam"}, note="defaults"),
    bad(PullCredentialsRef, SAME_CREDENTIAL_KEYS, {"name": "cam", "usernameKey": "k", "passwordKey": "k"}),
    bad(PullCredentialsRef, SAME_CREDENTIAL_KEYS, {"name": "cam", "usernameKey": "password"}, note="default"),
    ok(HLS, HLS_NEEDS_A_FORMAT, {"cmaf": False}),
    bad(HLS, HLS_NEEDS_A_FORMAT, {"cmaf": False, "mpegts": False}),
    ok(HLS, LOW_LATENCY_NEEDS_CMAF, {"latencyMode": "low", "mpegts": False}),
    ok(HLS, LOW_LATENCY_NEEDS_CMAF, {"latencyMode": "standard", "cmaf": False}, note="standard"),
    bad(HLS, LOW_LATENCY_NEEDS_CMAF, {"latencyMode": "low", "cmaf": False}),
    ok(HLS, PART_BELOW_SEGMENT, {"partMilliseconds": 1999}),
    ok(HLS, PART_BELOW_SEGMENT, {"partMilliseconds": 999, "segmentSeconds": 1}, note="one second"),
    bad(HLS, PART_BELOW_SEGMENT, {"partMilliseconds": 2000}, note="the default segment"),
    bad(HLS, PART_BELOW_SEGMENT, {"partMilliseconds": 1000, "segmentSeconds": 1}),
    ok(Overlay, BOX_WITHIN_WIDTH, {**OVERLAY, "left": 50, "width": 50}),
    ok(Overlay, BOX_WITHIN_WIDTH, {**OVERLAY, "left": 0.5, "width": 99.5}, note="fractions"),
    bad(Overlay, BOX_WITHIN_WIDTH, {**OVERLAY, "left": 50.5, "width": 50}),
    ok(Overlay, BOX_WITHIN_HEIGHT, {**OVERLAY, "top": 80, "height": 20}),
    bad(Overlay, BOX_WITHIN_HEIGHT, {**OVERLAY, "top": 81, "height": 20}),
    *uri_examples(Overlay, OVERLAY, ("url",), "url", "http://, https://"),
    ok(IngestService, NODE_PORTS_NEED_TYPE, {"type": "LoadBalancer", "nodePorts": {}}),
    bad(IngestService, NODE_PORTS_NEED_TYPE, {"nodePorts": {"rtmp": 31935}}),
    bad(
        IngestService,
        NODE_PORTS_NEED_TYPE,
        {"type": "ClusterIP", "nodePorts": {}},
        note="ClusterIP",
    ),
    ok(
        IngestService,
        LOAD_BALANCER_CLASS_NEEDS_TYPE,
        {"type": "LoadBalancer", "loadBalancerClass": "x/lb"},
    ),
    bad(IngestService, LOAD_BALANCER_CLASS_NEEDS_TYPE, {"type": "NodePort", "loadBalancerClass": "x/lb"}),
    ok(
        IngestService,
        TRAFFIC_POLICY_NEEDS_TYPE,
        {"type": "NodePort", "externalTrafficPolicy": "Local"},
    ),
    bad(IngestService, TRAFFIC_POLICY_NEEDS_TYPE, {"externalTrafficPolicy": "Local"}),
    ok(IngestService, RTMPS_PORT_NOT_NODE_PORT, {"rtmpsPort": 443}, note="default type"),
    ok(IngestService, RTMPS_PORT_NOT_NODE_PORT, {"type": "LoadBalancer", "rtmpsPort": 443}),
    bad(IngestService, RTMPS_PORT_NOT_NODE_PORT, {"type": "NodePort", "rtmpsPort": 443}),
    ok(IngestSpec, ICE_TCP_NODE_PORT, {"service": {"type": "NodePort", "nodePorts": {"webrtcTcp": 31000}}}),
    ok(
        IngestSpec,
        ICE_TCP_NODE_PORT,
        {"service": {"type": "NodePort", "nodePorts": {}}, "webrtc": {"iceTcp": False}},
        note="no port",
    ),
    bad(
        IngestSpec,
        ICE_TCP_NODE_PORT,
        {"service": {"type": "NodePort", "nodePorts": {"webrtcTcp": 31000}}, "webrtc": {"iceTcp": False}},
    ),
    ok(
        PlaybackSpec,
        ONE_ROUTE,
        {"ingress": {}, "httpRoute": {"enabled": False}},
    ),
    ok(
        PlaybackSpec,
        ONE_ROUTE,
        {"ingress": {"enabled": False}, "httpRoute": {}},
        note="ingress off",
    ),
    bad(PlaybackSpec, ONE_ROUTE, {"ingress": {}, "httpRoute": {}}),
    *path_examples(
        PlaybackIngress,
        {},
        "path",
        ["/", "/streams/cam", "/a..b/.well-known"],
        ["/..", "/streams/.", "/./cam"],
        ROUTE_PATH_DOTS_MESSAGE,
    ),
    *path_examples(
        PlaybackHttpRoute,
        {},
        "path",
        ["/v1.2/live"],
        ["/streams/../admin"],
        ROUTE_PATH_DOTS_MESSAGE,
    ),
]

RECORDING_EXAMPLES = [
    ok(RecordingStorage, ONE_STORAGE, {"pvc": {"claimName": "videos"}}),
    ok(RecordingStorage, ONE_STORAGE, {}, note="neither"),
    bad(RecordingStorage, ONE_STORAGE, {"pvc": {"claimName": "videos"}, "s3": S3}),
    *path_examples(
        PersistentVolumeClaimStorage,
        {"claimName": "videos"},
        "subPath",
        ["team/cams", "a..b", "./team"],
        ["..", "a/../b"],
        SUB_PATH_DOTS_MESSAGE,
    ),
    *[
        example
        for name, what in (("endpoint", "endpoint"), ("publicEndpoint", "publicEndpoint"))
        for example in path_examples(
            S3Storage,
            S3,
            name,
            ["https://s3.example.com", "http://minio.storage:9000/"],
            [
                "https://s3.example.com//",
                "https://s3.example.com/bucket",
                "s3://bucket",
                "https://key:secret@s3",
                "http:///",
                "https://s3?x",
                "http://a b",
            ],
            s3_endpoint_message(what),
        )
    ],
    *path_examples(
        S3Storage,
        S3,
        "keyTemplate",
        ["videos/{stream}", "a.b/c"],
        ["/videos", "videos/"],
        KEY_TEMPLATE_SLASHES,
    ),
    *path_examples(
        S3Storage,
        S3,
        "keyTemplate",
        ["v/{uid}", "a..b"],
        ["v//x", "v/./x", "v/../x"],
        KEY_TEMPLATE_DOTS_MESSAGE,
    ),
    ok(
        RecordingSpec,
        STOPPED_IS_FINAL,
        {**CAM, "stopped": True},
        at=("stopped",),
        old={**CAM, "stopped": False},
        note="stop",
    ),
    ok(
        RecordingSpec,
        STOPPED_IS_FINAL,
        {**CAM, "stopped": True},
        at=("stopped",),
        old={**CAM, "stopped": True},
        note="stays",
    ),
    bad(
        RecordingSpec,
        STOPPED_IS_FINAL,
        {**CAM, "stopped": False},
        at=("stopped",),
        old={**CAM, "stopped": True},
        note="restart",
    ),
    bad(RecordingSpec, STOPPED_IS_FINAL, CAM, at=("stopped",), old={**CAM, "stopped": True}, note="stopped removed"),
    ok(RecordingSpec, KEEP_ORIGIN_NEEDS_TRANSCODED, {**CAM, "type": "transcoded", "keepOrigin": {"enabled": True}}),
    ok(RecordingSpec, KEEP_ORIGIN_NEEDS_TRANSCODED, {**CAM, "keepOrigin": {"enabled": True}}, note="type inherited"),
    ok(RecordingSpec, KEEP_ORIGIN_NEEDS_TRANSCODED, {**CAM, "type": "origin", "keepOrigin": {}}, note="not enabled"),
    bad(RecordingSpec, KEEP_ORIGIN_NEEDS_TRANSCODED, {**CAM, "type": "origin", "keepOrigin": {"enabled": True}}),
    ok(RecordingDefaults, STREAM_KEEP_ORIGIN_NEEDS_TRANSCODED, {"type": "transcoded", "keepOrigin": {"enabled": True}}),
    ok(
        RecordingDefaults,
        STREAM_KEEP_ORIGIN_NEEDS_TRANSCODED,
        {"keepOrigin": {"deleteAfterDays": 3}},
        note="not enabled",
    ),
    bad(
        RecordingDefaults, STREAM_KEEP_ORIGIN_NEEDS_TRANSCODED, {"keepOrigin": {"enabled": True}}, note="origin default"
    ),
    bad(
        RecordingDefaults,
        STREAM_KEEP_ORIGIN_NEEDS_TRANSCODED,
        {"type": "origin", "keepOrigin": {"enabled": True, "deleteAfterDays": 30}},
    ),
]

SRT_TARGET = "srt://h:9000"
RESTREAM_EXAMPLES = [
    *uri_examples(RestreamSpec, {**CAM, "uri": ""}, ("uri",), "uri", "rtmp://, rtmps://, srt://"),
    *srt_examples(RestreamSpec, {**CAM, "uri": ""}, ("uri",)),
    ok(RestreamSpec, NO_AV1_OVER_SRT, {**CAM, "uri": "rtmps://a.example/live2", "targetVideoCodecs": ["av1"]}),
    ok(RestreamSpec, NO_AV1_OVER_SRT, {**CAM, "uri": SRT_TARGET, "targetVideoCodecs": ["h264", "hevc"]}, note="hevc"),
    ok(RestreamSpec, NO_AV1_OVER_SRT, {**CAM, "uri": SRT_TARGET}, note="the default h264"),
    bad(RestreamSpec, NO_AV1_OVER_SRT, {**CAM, "uri": SRT_TARGET, "targetVideoCodecs": ["h264", "av1"]}),
    ok(RestreamSpec, TLS_NEEDS_RTMPS, {**CAM, "uri": "rtmps://a.example/live2", "tls": {"insecureSkipVerify": True}}),
    ok(RestreamSpec, TLS_NEEDS_RTMPS, {**CAM, "uri": "rtmp://a.example/live2"}, note="no tls"),
    bad(RestreamSpec, TLS_NEEDS_RTMPS, {**CAM, "uri": "rtmp://a.example/live2", "tls": {"insecureSkipVerify": True}}),
    ok(
        RestreamSpec,
        CA_OR_SKIP,
        {**CAM, "uri": "rtmps://a.example/l", "tls": {"caSecretRef": {"name": "ca"}}},
        at=("tls",),
    ),
    ok(
        RestreamSpec,
        CA_OR_SKIP,
        {**CAM, "uri": "rtmps://a.example/l", "tls": {"insecureSkipVerify": True}},
        at=("tls",),
        note="skip",
    ),
    bad(
        RestreamSpec,
        CA_OR_SKIP,
        {**CAM, "uri": "rtmps://a.example/l", "tls": {"caSecretRef": {"name": "ca"}, "insecureSkipVerify": True}},
        at=("tls",),
    ),
]

WEBHOOK_URL = ("url",)
WEBHOOK_EXAMPLES = [
    ok(StreamWebhookSpec, HTTP_ONLY, HOOK, at=WEBHOOK_URL),
    bad(StreamWebhookSpec, HTTP_ONLY, {**HOOK, "url": "ftp://hooks.example.com/"}, at=WEBHOOK_URL),
    bad(StreamWebhookSpec, HTTP_ONLY, {**HOOK, "url": "HTTPS://hooks.example.com/"}, at=WEBHOOK_URL, note="upper"),
    ok(
        StreamWebhookSpec,
        NO_WEBHOOK_USERINFO,
        {**HOOK, "url": "https://hooks.example.com/in?to=ops@example.com"},
        at=WEBHOOK_URL,
        note="@ in the query",
    ),
    ok(
        StreamWebhookSpec,
        NO_WEBHOOK_USERINFO,
        {**HOOK, "url": "https://hooks.example.com?to=ops@example.com"},
        at=WEBHOOK_URL,
        note="@ in a query without a path",
    ),
    ok(
        StreamWebhookSpec,
        NO_WEBHOOK_USERINFO,
        {**HOOK, "url": "https://hooks.example.com#me@x"},
        at=WEBHOOK_URL,
        note="@ in the fragment",
    ),
    bad(StreamWebhookSpec, NO_WEBHOOK_USERINFO, {**HOOK, "url": "https://me:pw@hooks.example.com/in"}, at=WEBHOOK_URL),
]

CLIP_EXAMPLES = [
    ok(ClipSpec, ONE_RANGE, {**CAM, "start": START, "end": END}),
    ok(ClipSpec, ONE_RANGE, {**CAM, "lastSeconds": 30}),
    bad(ClipSpec, ONE_RANGE, {**CAM, "start": START}, note="start alone"),
    bad(ClipSpec, ONE_RANGE, {**CAM, "start": START, "end": END, "lastSeconds": 30}, note="both"),
    bad(ClipSpec, ONE_RANGE, CAM, note="neither"),
    ok(ClipSpec, END_AFTER_START, {**CAM, "start": START, "end": "2026-01-01T10:00:00.001Z"}, note="a millisecond"),
    ok(
        ClipSpec,
        END_AFTER_START,
        {**CAM, "start": "2026-01-01T11:00:00+01:00", "end": "2026-01-01T10:00:01Z"},
        note="offsets",
    ),
    bad(ClipSpec, END_AFTER_START, {**CAM, "start": START, "end": START}, note="equal"),
    ok(ClipSpec, NOT_TOO_LONG, {**CAM, "start": START, "end": "2026-01-01T14:00:00Z"}, note="4 h"),
    bad(ClipSpec, NOT_TOO_LONG, {**CAM, "start": START, "end": "2026-01-01T14:00:01Z"}, note="4 h 1 s"),
    ok(ClipSpec, IMMUTABLE, {**CAM, "lastSeconds": 30}, old={**CAM, "lastSeconds": 30}),
    bad(ClipSpec, IMMUTABLE, {**CAM, "lastSeconds": 31}, old={**CAM, "lastSeconds": 30}),
]

POLICY_EXAMPLES = [
    ok(PlaybackPolicySpec, NO_REFERRER_EXPLICIT, {"allowedReferrers": ["example.com"], "allowNoReferrer": False}),
    ok(PlaybackPolicySpec, NO_REFERRER_EXPLICIT, {"allowedReferrers": []}, note="empty"),
    bad(PlaybackPolicySpec, NO_REFERRER_EXPLICIT, {"allowedReferrers": ["*.example.com"]}),
    ok(PlaybackPolicySpec, BOTH_COUNTRY_LISTS, {"allowedCountries": ["DE"], "deniedCountries": []}),
    ok(PlaybackPolicySpec, BOTH_COUNTRY_LISTS, {"deniedCountries": ["FR"]}, note="denied alone"),
    bad(PlaybackPolicySpec, BOTH_COUNTRY_LISTS, {"allowedCountries": ["DE"], "deniedCountries": ["FR"]}),
]

EXAMPLES = (
    LIVESTREAM_EXAMPLES + RECORDING_EXAMPLES + RESTREAM_EXAMPLES + WEBHOOK_EXAMPLES + CLIP_EXAMPLES + POLICY_EXAMPLES
)


# --- the CEL side, as the API server evaluates it


def schema_at(schema: dict[str, Any], at: tuple[str | int, ...]) -> dict[str, Any]:
    for step in at:
        schema = schema["items"] if isinstance(step, int) else schema["properties"][step]
    return schema


def value_at(value: Any, at: tuple[str | int, ...]) -> Any:
    for step in at:
        value = value[step]
    return value


def with_defaults(value: Any, schema: dict[str, Any]) -> Any:
    """`value` with the schema's defaults filled in, nested ones included: what the API server stores and
    hands to the rules."""
    if isinstance(value, dict) and "properties" in schema:
        out = dict(value)
        for name, prop in schema["properties"].items():
            if name not in out and "default" in prop:
                out[name] = copy.deepcopy(prop["default"])
            if name in out:
                out[name] = with_defaults(out[name], prop)
        return out
    if isinstance(value, list) and "items" in schema:
        return [with_defaults(item, schema["items"]) for item in value]
    return value


def cel_value(value: Any, schema: dict[str, Any]) -> Any:
    """`value` as CEL sees it: a `number` is a double even when written as 1 (date-time strings stay
    strings: the rules wrap them in timestamp(), which takes a string and a timestamp alike)."""
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        return {name: cel_value(item, properties.get(name, {})) for name, item in value.items()}
    if isinstance(value, list):
        return [cel_value(item, schema.get("items", {})) for item in value]
    if schema.get("type") == "number" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


@cache
def model_schema(model: type[BaseModel]) -> dict[str, Any]:
    return openapi_schema(model)


def rule_of(example: Example) -> dict[str, str]:
    node = schema_at(model_schema(example.model), example.at)
    rules = [rule for rule in node.get("x-kubernetes-validations", []) if rule["message"] == example.message]
    assert len(rules) == 1, f"{example.model.__name__} at {example.at} has no single rule saying {example.message!r}"
    return rules[0]


def cel_accepts(example: Example) -> bool:
    schema = model_schema(example.model)
    node = schema_at(schema, example.at)
    data = {"self": cel_value(value_at(with_defaults(example.obj, schema), example.at), node)}
    if example.old is not None:
        data["oldSelf"] = cel_value(value_at(with_defaults(example.old, schema), example.at), node)
    result = CEL.compile(rule_of(example)["rule"]).eval(data=data)
    assert result.type() == cel.Type.BOOL, f"the rule did not evaluate to a bool: {result.value()}"
    verdict: bool = result.value()
    return verdict


def python_refusals(example: Example) -> list[str]:
    try:
        example.model.model_validate(example.obj)
    except ValidationError as error:
        return [str(detail["msg"]).removeprefix("Value error, ") for detail in error.errors()]
    return []


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.id for e in EXAMPLES])
def test_cel_rule_and_python_twin_agree(example: Example):
    assert cel_accepts(example) is example.accepted, "the CEL rule disagrees with the table"
    refusals = python_refusals(example)
    if example.message in WITHOUT_PYTHON_TWIN:
        assert refusals == [], "a transition rule's object is valid on its own"
    elif example.accepted:
        assert example.message not in refusals, "the Python twin refuses what the CEL rule accepts"
        assert refusals == [], f"the example is refused for something else: {refusals}"
    else:
        assert refusals == [example.message], "the Python twin does not refuse with the rule's message"


# --- coverage: every rule of every CRD has its examples, every Python validator is accounted for


def crd_rules() -> Iterator[tuple[str, str, str]]:
    """(kind and schema path, rule, message) of every x-kubernetes-validations entry of every CRD."""

    def walk(node: dict[str, Any], path: str) -> Iterator[tuple[str, str, str]]:
        for rule in node.get("x-kubernetes-validations", []):
            yield path, rule["rule"], rule["message"]
        for name, prop in node.get("properties", {}).items():
            yield from walk(prop, f"{path}.{name}")
        if "items" in node:
            yield from walk(node["items"], f"{path}[]")

    for kind in KINDS:
        yield from walk(crd_manifest(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"], kind.kind)


def test_every_crd_rule_has_an_accepted_and_a_refused_example():
    covered = {
        verdict: {(rule_of(e)["rule"], e.message) for e in EXAMPLES if e.accepted is verdict}
        for verdict in (True, False)
    }
    missing = [
        f"{path}: {message!r} lacks {'an accepted' if verdict else 'a refused'} example"
        for path, rule, message in crd_rules()
        for verdict in (True, False)
        if (rule, message) not in covered[verdict] and message not in NOT_EVALUABLE
    ]
    assert missing == [], "\n".join(missing)


def test_listed_rules_are_in_the_crds_with_a_reason():
    messages = {message for _, _, message in crd_rules()}
    for listed in (WITHOUT_PYTHON_TWIN, NOT_EVALUABLE):
        assert set(listed) <= messages, "a listed rule is no longer in the CRDs"
        assert all(reason for reason in listed.values())


def validators_of(cls: type) -> dict[str, Any]:
    decorators = getattr(cls, "__pydantic_decorators__", None)
    return {} if decorators is None else {**decorators.field_validators, **decorators.model_validators}


def python_validators() -> dict[str, Any]:
    """Class.validator -> function of every pydantic validator of the API models (each once, under the
    class that defines it)."""
    found: dict[str, Any] = {}
    for name in API_MODULES:
        module = importlib.import_module(f"streamops.api.{name}")
        for cls in vars(module).values():
            if not (inspect.isclass(cls) and issubclass(cls, BaseModel) and cls.__module__ == module.__name__):
                continue
            for attribute, decorator in validators_of(cls).items():
                if not any(attribute in validators_of(base) for base in cls.__mro__[1:]):
                    found[f"{cls.__name__}.{attribute}"] = decorator.func
    return found


def test_every_python_validator_is_paired_with_its_cel_rules():
    assert set(python_validators()) == set(PYTHON_VALIDATORS), "list a new validator in PYTHON_VALIDATORS"
    twinned = [message for messages in PYTHON_VALIDATORS.values() for message in messages]
    crd_messages = {message for _, _, message in crd_rules()}
    assert set(twinned) <= crd_messages, "a validator names a message no CEL rule has"
    assert crd_messages - set(twinned) == set(WITHOUT_PYTHON_TWIN), "a CEL rule without its Python twin"
