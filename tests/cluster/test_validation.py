"""The real API server refuses bad manifests with messages a user can act on, accepts every
example, and applies the schema defaults."""

from __future__ import annotations

import pytest
from devtools.catalog import BAD, EXAMPLES, clip, livestream, recording, restream
from devtools.cluster.api_reads import ApiRefused
from streamops.api import API_VERSION


@pytest.mark.parametrize("bad", BAD, ids=[b.id for b in BAD])
def test_server_rejects_bad_manifest(cluster, namespace, bad):
    # A create as `kubectl create -f` makes it (strict field validation), through the API client: the
    # server's message is the one kubectl prints (a kubectl process each cost 0.14 s of CPU, 75 tests).
    with pytest.raises(ApiRefused) as refused:
        cluster.create(namespace, bad.manifest)
    assert bad.says in refused.value.message, refused.value.message
    kind = bad.manifest["kind"].lower() + "s"
    assert cluster.list(kind, namespace) == [], "nothing is stored from a rejected manifest"


def test_examples_are_accepted_and_defaulted(cluster, namespace):
    cluster.kubectl("apply", "-n", namespace, "-f", str(EXAMPLES))
    stream = cluster.get("livestreams", namespace, "obs-studio")
    spec = stream["spec"]
    # Server-side defaults from the schema, nested ones included.
    assert spec["active"] is True
    assert spec["hls"] == {"segmentSeconds": 2, "cmaf": True, "mpegts": True, "endListOnStop": True}
    assert spec["recording"]["reconnectWindowSeconds"] == 10
    assert spec["recording"]["maxSegmentSeconds"] == 14400
    assert spec["screenshots"] == {"enabled": True, "intervalSeconds": 10}
    applied = [r for r in cluster.list("recordings", namespace) if not r["metadata"].get("ownerReferences")]
    # (the operator may have added studio-b-auto for the auto-recorded stream)
    assert {r["metadata"]["name"] for r in applied} == {"obs-studio-keynote", "obs-studio-keynote-s3"}
    [to_s3] = [r for r in applied if r["spec"].get("storage")]
    assert to_s3["spec"]["storage"]["s3"]["keyTemplate"].startswith("streamops/{namespace}/")  # defaulted
    codecs = {r["metadata"]["name"]: r["spec"]["targetVideoCodecs"] for r in cluster.list("restreams", namespace)}
    assert codecs == {"obs-studio-youtube": ["h264", "hevc", "av1"], "obs-studio-srt": ["h264"]}  # defaulted


def test_short_names_category_and_columns(cluster, namespace):
    cluster.kubectl("apply", "-n", namespace, "-f", str(EXAMPLES / "livestream-push.yaml"))
    table = cluster.kubectl("get", "lst", "-n", namespace).stdout.splitlines()
    assert table[0].split() == ["NAME", "LIVE", "ONAIR", "RECORDING", "VIEWERS", "READY", "AGE"]
    assert table[1].split()[0] == "obs-studio"
    assert (
        "livestream.streaming.streamops.dev/obs-studio"
        in cluster.kubectl("get", "streaming", "-n", namespace, "-o", "name").stdout
    )
    for short in ("rec", "rst"):
        cluster.kubectl("get", short, "-n", namespace)


@pytest.mark.parametrize(
    "exposure",
    [
        {"ingest": {"service": {"type": "NodePort", "nodePorts": {"rtmp": 31935}, "externalTrafficPolicy": "Local"}}},
        {"ingest": {"service": {"type": "LoadBalancer", "loadBalancerClass": "example.com/lb", "nodePorts": {}}}},
        {"playback": {"ingress": {"host": "tv.example.com"}, "httpRoute": {"enabled": False}}},
        {"playback": {"ingress": {"enabled": False}, "httpRoute": {"hostnames": ["tv.example.com"]}}},
    ],
    ids=["nodeport-local", "lb-class", "ingress-route-off", "route-ingress-off"],
)
def test_server_accepts_what_the_exposure_rules_allow(cluster, namespace, exposure):
    """The CEL rules refuse only the combinations that mean nothing: a route switched off beside the
    other one, and nodePorts or a traffic policy with a type that has them, pass."""
    cluster.create(namespace, livestream("cam", **exposure))
    assert cluster.get("livestreams", namespace, "cam")["spec"]["title"] == "Camera"


def test_a_stopped_recording_cannot_be_restarted(cluster, namespace):
    """spec.stopped is final (a CEL transition rule): false again would silently do nothing forever,
    so the API server refuses it and says what to do instead. Creating a stopped Recording, stopping
    one, and any other change to a stopped one stay allowed."""
    cluster.create(namespace, recording("done", stopped=True))
    says = "spec.stopped: Forbidden: a stopped Recording cannot be restarted: create a new Recording"
    for patch_type, patch in (
        ("merge", {"spec": {"stopped": False}}),
        ("json", [{"op": "remove", "path": "/spec/stopped"}]),  # the default (false) comes back
    ):
        with pytest.raises(ApiRefused) as refused:
            cluster.patch("recording", namespace, "done", patch, patch_type)
        assert says in refused.value.message, refused.value.message
    assert cluster.get("recordings", namespace, "done")["spec"]["stopped"] is True

    cluster.create(namespace, recording("running"))
    for patch in ({"spec": {"stopped": True}}, {"spec": {"minDurationSeconds": 5}}):
        cluster.patch("recording", namespace, "running", patch)
    cluster.label("recording", namespace, "running", {"team": "news"})
    assert cluster.get("recordings", namespace, "running")["spec"]["stopped"] is True


def _webhook(url: str) -> dict[str, object]:
    spec = {"url": url, "secretRef": {"name": "hook"}}
    return {"apiVersion": API_VERSION, "kind": "StreamWebhook", "metadata": {"name": "hook"}, "spec": spec}


_S3 = {"endpoint": "https://s3.example.com//", "bucket": "videos", "credentialsSecret": "s3"}
_LADDER = {"renditions": [{"name": "720p", "height": 720, "videoBitrateKbps": 3000}]}
_OVERLAY = {"name": "score", "url": "https://scores.example.com/", "left": 50, "width": 50, "height": 20}


@pytest.mark.parametrize(
    ("manifest", "says"),
    [
        (restream(uri="rtmp://host/a\u00a0b"), None),
        (restream(uri="rtmp://"), "uri must be a rtmp://, rtmps://, srt:// URL without spaces"),
        (recording(storage={"s3": _S3}), "endpoint must be an http:// or https:// URL with a host and no path"),
        (_webhook("https://hooks.example.com?to=ops@example.com"), None),
        (clip(start="2026-01-01T11:00:00+01:00", end="2026-01-01T10:00:01Z"), None),
        (livestream(transcoding=_LADDER, overlays=[_OVERLAY]), None),
    ],
    ids=["nbsp-is-not-re2-space", "nothing-after-scheme", "s3-two-slashes", "at-in-query", "clip-offsets", "int-box"],
)
def test_server_evaluates_cel_as_the_unit_tier_does(cluster, namespace, manifest, says):
    """The unit tier evaluates the CRDs' CEL with cel-expr-python (tests/unit/api/test_crd_cel_parity.py);
    where a verdict rests on how CEL reads a value (RE2's \\s, an integer where the schema says number, a
    date-time string) or where the Python twin was changed to match it, the API server says the same
    (a server-side dry run: nothing is stored)."""
    if says is None:
        cluster.create(namespace, manifest, dry_run=True)
    else:
        with pytest.raises(ApiRefused) as refused:
            cluster.create(namespace, manifest, dry_run=True)
        assert says in refused.value.message, refused.value.message
