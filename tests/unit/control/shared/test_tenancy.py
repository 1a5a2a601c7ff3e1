"""The admin's tenancy policy (issue 37, finding 11; docs/design/tenancy.md): a LiveStream's author
gets no playback route outside /streams/<namespace>/, no annotation off the allow-list, no
LoadBalancer unless allowed, and no Secret of the namespace unless its owner labelled it. Each
refusal is said in status; the rest of the stream goes on."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest
from devtools.catalog import livestream, restream, stored_livestream
from devtools.fake_kube import FakeKubeApi
from streamops.control.livestream.reconcile import StreamOutcome, reconcile_livestream
from streamops.control.livestream.status import IngestObservation, livestream_events, livestream_status
from streamops.control.restream.reconcile import RestreamOutcome, reconcile_restream
from streamops.control.shared.settings import (
    DEFAULT_ALLOWED_ANNOTATIONS,
    IngestSettings,
    OperatorSettings,
    PlaybackSettings,
    TenancySettings,
)
from streamops.control.shared.tenancy import (
    ALLOW_REFERENCE_LABEL,
    ALLOW_REFERENCE_LABELS,
    playback_path_refusal,
    refused_annotations,
)

NS = "media"
SETTINGS = OperatorSettings()
KEY = "s3cret-stream-key-value"


def secret(name: str, labelled: bool, **data: str) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if labelled:
        metadata["labels"] = dict(ALLOW_REFERENCE_LABELS)
    encoded = {k.replace("_", "."): base64.b64encode(v.encode()).decode() for k, v in data.items()}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": metadata, "data": encoded}


def reconcile(api: FakeKubeApi, settings: OperatorSettings = SETTINGS, name: str = "cam") -> StreamOutcome:
    body = api.object("LiveStream", NS, name)
    assert body is not None
    return reconcile_livestream(api, settings, body)


def routed(**ingress: Any) -> dict[str, Any]:
    return {"ingress": {"host": "tv.example", **ingress}}


# --- the pure checks ------------------------------------------------------------------------------


def test_annotation_patterns_match_whole_keys() -> None:
    allowed = ["cert-manager.io/*", "nginx.ingress.kubernetes.io/proxy-read-timeout"]
    keys = [
        "cert-manager.io/issuer",
        "nginx.ingress.kubernetes.io/proxy-read-timeout",
        "nginx.ingress.kubernetes.io/configuration-snippet",
        "xcert-manager.io/issuer",
    ]
    assert refused_annotations(keys, allowed) == [
        "nginx.ingress.kubernetes.io/configuration-snippet",
        "xcert-manager.io/issuer",
    ]
    # The default list has no snippet, no reference to another object, no address or DNS claim.
    assert refused_annotations(["nginx.ingress.kubernetes.io/server-snippet"], DEFAULT_ALLOWED_ANNOTATIONS)
    assert refused_annotations(["external-dns.alpha.kubernetes.io/hostname"], DEFAULT_ALLOWED_ANNOTATIONS)


@pytest.mark.parametrize(
    ("path", "refused"),
    [
        (f"/streams/{NS}/cam", False),
        (f"/streams/{NS}/shows/cam", False),
        ("/", True),
        ("/live/cam", True),
        (f"/streams/{NS}", True),  # the whole namespace's prefix: every stream's URLs
        (f"/streams/{NS}x/cam", True),
        ("/streams/other/cam", True),
    ],
)
def test_a_playback_path_stays_under_its_namespace(path: str, refused: bool) -> None:
    problem = playback_path_refusal("spec.playback.ingress.path", path, NS, SETTINGS.tenancy)
    assert (problem is not None) == refused
    if problem:
        assert path in problem and f"/streams/{NS}/" in problem
    opted_out = OperatorSettings(tenancy=TenancySettings(playback_path_any_prefix=True))
    assert playback_path_refusal("spec.playback.ingress.path", path, NS, opted_out.tenancy) is None


# --- playback routes ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ingress", "httpRoute"])
def test_a_route_under_another_namespace_is_not_made_and_the_ingest_runs(api: FakeKubeApi, kind: str) -> None:
    playback = {kind: {"path": "/streams/other/cam"}}
    api.add_in(NS, livestream("cam", playback=playback))
    outcome = reconcile(api)
    assert api.names("Ingress") == [] and api.names("HTTPRoute") == []
    assert outcome.route_refused
    (refusal,) = outcome.policy_refusals
    assert f"spec.playback.{kind}.path /streams/other/cam is outside /streams/{NS}/" in refusal
    assert api.names("Pod") == ["cam-ingest"], "the stream itself keeps running"


def test_a_route_made_before_the_policy_is_removed(api: FakeKubeApi) -> None:
    """An upgrade: the route a stream got under the old rules goes (it could shadow another
    namespace's URLs); the stream's own prefix brings it back."""
    api.add_in(NS, livestream("cam", playback=routed(path="/")))
    reconcile(api, OperatorSettings(tenancy=TenancySettings(playback_path_any_prefix=True)))
    assert api.names("Ingress") == ["cam-playback"]
    reconcile(api)
    assert api.names("Ingress") == []
    api.modify("LiveStream", NS, "cam", {"spec": {"playback": routed(path=f"/streams/{NS}/cam-hd")}})
    outcome = reconcile(api)
    assert outcome.policy_refusals == () and api.names("Ingress") == ["cam-playback"]


def test_ingress_annotations_off_the_list_refuse_the_route(api: FakeKubeApi) -> None:
    snippet = {"nginx.ingress.kubernetes.io/configuration-snippet": "return 200;", "cert-manager.io/issuer": "mine"}
    api.add_in(NS, livestream("cam", playback=routed(annotations=snippet)))
    outcome = reconcile(api)
    assert api.names("Ingress") == []
    (refusal,) = outcome.policy_refusals
    assert "nginx.ingress.kubernetes.io/configuration-snippet" in refusal and "cert-manager.io/issuer" not in refusal
    assert "tenancy.allowedAnnotations" in refusal
    # Allowed keys go through; the operator's own defaults are the admin's and never checked.
    admin = OperatorSettings(
        playback=PlaybackSettings(ingress_annotations={"nginx.ingress.kubernetes.io/server-snippet": "x"})
    )
    allowed_only = {**snippet, "nginx.ingress.kubernetes.io/configuration-snippet": None}  # (a merge patch)
    api.modify("LiveStream", NS, "cam", {"spec": {"playback": routed(annotations=allowed_only)}})
    assert reconcile(api, admin).policy_refusals == ()
    ingress = api.object("Ingress", NS, "cam-playback")
    assert ingress is not None
    assert {"cert-manager.io/issuer", "nginx.ingress.kubernetes.io/server-snippet"} <= ingress["metadata"][
        "annotations"
    ].keys()


# --- the ingest Service ---------------------------------------------------------------------------


def test_loadbalancer_only_when_allowed(api: FakeKubeApi) -> None:
    api.add_in(NS, livestream("cam", ingest={"service": {"type": "LoadBalancer", "externalTrafficPolicy": "Local"}}))
    outcome = reconcile(api)
    service = api.object("Service", NS, "cam-ingest")
    assert service is not None and service["spec"]["type"] == "ClusterIP", "the operator's default type, not the ask"
    assert "externalTrafficPolicy" not in service["spec"]
    (refusal,) = outcome.policy_refusals
    assert "spec.ingest.service.type LoadBalancer is not allowed" in refusal and "tenancy.allowLoadBalancer" in refusal
    assert api.names("Pod") == ["cam-ingest"]

    allowed = OperatorSettings(tenancy=TenancySettings(allow_load_balancer=True))
    assert reconcile(api, allowed).policy_refusals == ()
    service = api.object("Service", NS, "cam-ingest")
    assert service is not None and service["spec"]["type"] == "LoadBalancer"
    # ... and taken back (patched to the default) when the admin stops allowing it.
    reconcile(api)
    service = api.object("Service", NS, "cam-ingest")
    assert service is not None and service["spec"]["type"] == "ClusterIP"


def test_the_admins_default_loadbalancer_is_honoured(api: FakeKubeApi) -> None:
    api.add_in(NS, livestream("cam"))
    outcome = reconcile(api, OperatorSettings(ingest=IngestSettings(service_type="LoadBalancer")))
    service = api.object("Service", NS, "cam-ingest")
    assert outcome.policy_refusals == () and service is not None and service["spec"]["type"] == "LoadBalancer"


def test_service_annotations_off_the_list_are_not_set(api: FakeKubeApi) -> None:
    claim = {"metallb.universe.tf/loadBalancerIPs": "192.0.2.10"}
    api.add_in(NS, livestream("cam", ingest={"service": {"annotations": claim}}))
    outcome = reconcile(api)
    service = api.object("Service", NS, "cam-ingest")
    assert service is not None and "metallb.universe.tf/loadBalancerIPs" not in service["metadata"]["annotations"]
    (refusal,) = outcome.policy_refusals
    assert "spec.ingest.service.annotations metallb.universe.tf/loadBalancerIPs not on" in refusal


# --- referenced Secrets ---------------------------------------------------------------------------


def test_an_unlabelled_stream_key_secret_is_not_used(api: FakeKubeApi) -> None:
    api.add_in(NS, secret("mine", labelled=False, streamKey=KEY))
    api.add_in(NS, livestream("cam", source={"push": {"protocols": ["rtmp"], "streamKeySecretRef": {"name": "mine"}}}))
    outcome = reconcile(api)
    assert api.names("Pod") == [], "no ingest with a key the author may not have"
    (refusal,) = outcome.policy_refusals
    assert "Secret mine named in source.push.streamKeySecretRef" in refusal
    assert f"{ALLOW_REFERENCE_LABEL}=true" in refusal and KEY not in refusal
    api.modify("Secret", NS, "mine", {"metadata": {"labels": ALLOW_REFERENCE_LABELS}})
    assert reconcile(api).policy_refusals == ()
    assert api.names("Pod") == ["cam-ingest"]
    # The upgrade window: the admin may turn the requirement off.
    api.modify("Secret", NS, "mine", {"metadata": {"labels": {ALLOW_REFERENCE_LABEL: None}}})
    assert reconcile(api, OperatorSettings(tenancy=TenancySettings(require_secret_label=False))).policy_refusals == ()


def test_the_generated_key_secret_is_labelled(api: FakeKubeApi) -> None:
    api.add_in(NS, livestream("cam"))
    reconcile(api)
    generated = api.object("Secret", NS, "cam-stream-key")
    assert generated is not None and generated["metadata"]["labels"][ALLOW_REFERENCE_LABEL] == "true"


def test_an_unlabelled_rtmps_certificate_is_not_used(api: FakeKubeApi) -> None:
    api.add_in(NS, secret("cam-tls", labelled=False, tls_crt="x", tls_key="y"))
    rtmps = {"push": {"protocols": ["rtmp", "rtmps"], "tls": {"secretName": "cam-tls"}}}
    api.add_in(NS, livestream("cam", source=rtmps))
    outcome = reconcile(api)
    assert api.names("Pod") == []
    (refusal,) = outcome.policy_refusals
    assert "Secret cam-tls named in source.push.tls.secretName is not labelled" in refusal


def test_an_unlabelled_ice_servers_secret_is_not_mounted(api: FakeKubeApi) -> None:
    api.add_in(NS, secret("ice", labelled=False, iceServers='[{"urls": ["turn:turn.example:3478"]}]'))
    api.add_in(NS, livestream("cam", playback={"webrtc": {"iceServersSecretRef": {"name": "ice"}}}))
    outcome = reconcile(api)
    pod = api.object("Pod", NS, "cam-ingest")
    assert pod is not None, "the ingest runs, without the Secret"
    assert not [v for v in pod["spec"].get("volumes", []) if (v.get("secret") or {}).get("secretName") == "ice"]
    (refusal,) = outcome.policy_refusals
    assert "Secret ice named in spec.playback.webrtc.iceServersSecretRef" in refusal
    api.modify("Secret", NS, "ice", {"metadata": {"labels": ALLOW_REFERENCE_LABELS}})
    assert reconcile(api).policy_refusals == ()  # (rolls the Pod: its volumes change)
    reconcile(api)
    pod = api.object("Pod", NS, "cam-ingest")
    assert pod is not None
    assert [v for v in pod["spec"]["volumes"] if (v.get("secret") or {}).get("secretName") == "ice"]


def test_an_unlabelled_pull_ca_is_not_trusted_and_the_origins_are_verified_all_the_same(api: FakeKubeApi) -> None:
    """The CA decides which origins are trusted: an unlabelled one is not mounted, and the ingest
    verifies the origins against the system's trust store instead (fail closed, never unverified)."""
    api.add_in(NS, secret("origin-ca", labelled=False, ca_crt="PEM"))
    tls = {"caSecretRef": {"name": "origin-ca"}}
    api.add_in(NS, livestream("cam", source={"pull": {"urls": ["rtmps://10.0.0.5:1936/live/s"], "tls": tls}}))
    outcome = reconcile(api)
    pod = api.object("Pod", NS, "cam-ingest")
    assert pod is not None, "the ingest runs, without the Secret"
    assert not [v for v in pod["spec"].get("volumes", []) if (v.get("secret") or {}).get("secretName") == "origin-ca"]
    assert "pullTlsCaFile" not in pod["spec"]["containers"][0]["env"][0]["value"]
    (refusal,) = outcome.policy_refusals
    assert "Secret origin-ca named in spec.source.pull.tls.caSecretRef" in refusal
    assert "verified against the system's trust store instead" in refusal
    api.modify("Secret", NS, "origin-ca", {"metadata": {"labels": ALLOW_REFERENCE_LABELS}})
    assert reconcile(api).policy_refusals == ()  # (rolls the Pod: its volumes change)
    reconcile(api)
    pod = api.object("Pod", NS, "cam-ingest")
    assert pod is not None
    assert [v for v in pod["spec"]["volumes"] if (v.get("secret") or {}).get("secretName") == "origin-ca"]


def test_an_unlabelled_ingress_tls_secret_refuses_the_route(api: FakeKubeApi) -> None:
    api.add_in(NS, secret("wildcard-tls", labelled=False, tls_crt="x", tls_key="y"))
    api.add_in(NS, livestream("cam", playback=routed(tlsSecretName="wildcard-tls")))
    outcome = reconcile(api)
    assert api.names("Ingress") == []
    (refusal,) = outcome.policy_refusals
    assert "Secret wildcard-tls named in spec.playback.ingress.tlsSecretName" in refusal
    # The operator's default TLS Secret is the admin's: not checked.
    admin = OperatorSettings(playback=PlaybackSettings(ingress_tls_secret_name="wildcard-tls"))
    api.modify("LiveStream", NS, "cam", {"spec": {"playback": routed(tlsSecretName=None)}})
    assert reconcile(api, admin).policy_refusals == () and api.names("Ingress") == ["cam-playback"]


def reconcile_rst(api: FakeKubeApi) -> RestreamOutcome:
    body = api.object("Restream", NS, "out")
    assert body is not None
    return reconcile_restream(api, SETTINGS, body)


def test_a_restream_never_sends_an_unlabelled_secret(api: FakeKubeApi) -> None:
    """The target receives the key: an unlabelled Secret would go to any RTMP server its author names."""
    api.add_in(NS, livestream("cam"))
    reconcile(api)
    api.add_in(NS, secret("db-password", labelled=False, streamKey=KEY))
    api.add_in(NS, restream("out", uri="rtmp://203.0.113.7/live", streamKeySecretRef={"name": "db-password"}))
    outcome = reconcile_rst(api)
    assert outcome.key_secret_refused is not None and "db-password" in outcome.key_secret_refused
    assert KEY not in outcome.key_secret_refused
    assert "cam-pusher" not in api.names("Pod")
    api.modify("Secret", NS, "db-password", {"metadata": {"labels": ALLOW_REFERENCE_LABELS}})
    admitted = reconcile_rst(api)
    assert admitted.key_secret_refused is None and "cam-pusher" in api.names("Pod")
    assert admitted.targets is not None and KEY not in repr(admitted), "sent over PUT /targets, never shown"
    # A pusher made before the policy goes once the label is taken away.
    api.modify("Secret", NS, "db-password", {"metadata": {"labels": {ALLOW_REFERENCE_LABEL: None}}})
    assert reconcile_rst(api).key_secret_refused is not None
    assert "cam-pusher" not in api.names("Pod")


# --- status -----------------------------------------------------------------------------------------


def test_status_says_every_refusal_and_warns_once() -> None:
    stream = stored_livestream()
    refusals = ("spec.playback.ingress.path / is outside /streams/media/", "Secret x named in y is not labelled")
    observed = IngestObservation(pods={}, policy_refusals=refusals, route_refused=True)
    status = livestream_status(stream, observed, datetime.now(UTC))
    conditions = {c.type: c for c in status.conditions}
    for kind, value in (("Ready", "False"), ("Stalled", "True")):
        assert (conditions[kind].status, conditions[kind].reason) == (value, "RefusedByPolicy")
        assert conditions[kind].message == "; ".join(refusals)
    events = livestream_events(None, status)
    assert [(e.type, e.reason) for e in events] == [("Warning", "RefusedByPolicy")]


# --- a Secret that does not exist yet (issue 52, finding 5) -----------------------------------------

# Each Secret a child would pick up by itself once it appears (an optional mount, an Ingress's TLS):
# (the stream's spec naming it, the Secret's data, where it would be used).
AWAITED = {
    "ice": (
        {"playback": {"webrtc": {"iceServersSecretRef": {"name": "later"}}}},
        {"iceServers": '[{"urls": ["turn:turn.example:3478"]}]'},
        "spec.playback.webrtc.iceServersSecretRef",
    ),
    "rtsp": (
        {"source": {"pull": {"urls": ["rtsp://198.51.100.4/cam"], "credentialsSecretRef": {"name": "later"}}}},
        {"username": "admin", "password": KEY},
        "spec.source.pull.credentialsSecretRef",
    ),
    "pull-ca": (
        {"source": {"pull": {"urls": ["rtmps://198.51.100.4:1936/live/s"], "tls": {"caSecretRef": {"name": "later"}}}}},
        {"ca_crt": "PEM"},
        "spec.source.pull.tls.caSecretRef",
    ),
    "rtsps": (  # SRT and RTSP for readers: the RTSPS certificate
        {"playback": {"rtsp": {"enabled": True, "tls": {"secretName": "later"}}}},
        {"tls_crt": "PEM", "tls_key": "PEM"},
        "spec.playback.rtsp.tls.secretName",
    ),
}


def uses(pod: dict[str, Any] | None, name: str) -> bool:
    """Whether the Pod would be given the Secret by the kubelet (a volume or an env reference)."""
    volumes = [(v.get("secret") or {}).get("secretName") for v in (pod or {}).get("spec", {}).get("volumes", [])]
    env = [
        e["valueFrom"]["secretKeyRef"]["name"]
        for c in (pod or {}).get("spec", {}).get("containers", [])
        for e in c.get("env", [])
        if "secretKeyRef" in e.get("valueFrom", {})
    ]
    return name in volumes + env


@pytest.mark.parametrize("which", sorted(AWAITED))
def test_a_secret_that_does_not_exist_yet_is_not_given_to_the_ingest_until_it_is_labelled(
    api: FakeKubeApi, which: str
) -> None:
    """On ec95e86 the Pod mounted it optionally: the kubelet filled it in once it appeared, labelled
    or not, and the worker offered its values to the spec's server (an RTSP URL of the author's)."""
    spec, data, field = AWAITED[which]
    api.add_in(NS, livestream("cam", **spec))
    (refusal,) = reconcile(api).policy_refusals
    assert f"Secret later named in {field} does not exist yet" in refusal, refusal
    pod = api.object("Pod", NS, "cam-ingest")
    assert pod is not None and not uses(pod, "later"), "the ingest runs, without the Secret"
    # It appears unlabelled (cert-manager's output, a rotation): still not given to the Pod.
    api.add_in(NS, secret("later", labelled=False, **data))
    (refusal,) = reconcile(api).policy_refusals
    assert "is not labelled" in refusal and KEY not in refusal
    assert not uses(api.object("Pod", NS, "cam-ingest"), "later")
    # Its owner labels it: used (the Pod rolls: its volumes change).
    api.modify("Secret", NS, "later", {"metadata": {"labels": ALLOW_REFERENCE_LABELS}})
    assert reconcile(api).policy_refusals == ()
    reconcile(api)
    assert uses(api.object("Pod", NS, "cam-ingest"), "later")
    # The upgrade window: without the rule, a missing Secret is mounted optionally as before.
    api.delete("Secret", NS, "later")
    assert reconcile(api, OperatorSettings(tenancy=TenancySettings(require_secret_label=False))).policy_refusals == ()


def test_an_ingress_tls_secret_that_does_not_exist_yet_refuses_the_route(api: FakeKubeApi) -> None:
    """The Ingress controller would serve whatever Secret of that name appears, labelled or not."""
    api.add_in(NS, livestream("cam", playback=routed(tlsSecretName="later-tls")))
    (refusal,) = reconcile(api).policy_refusals
    assert "Secret later-tls named in spec.playback.ingress.tlsSecretName does not exist yet" in refusal
    assert api.names("Ingress") == []
    api.add_in(NS, secret("later-tls", labelled=True, tls_crt="x", tls_key="y"))
    assert reconcile(api).policy_refusals == () and api.names("Ingress") == ["cam-playback"]


def test_a_restream_ca_that_does_not_exist_yet_makes_no_pusher(api: FakeKubeApi) -> None:
    """The CA decides where the key goes: one that does not exist yet is refused too."""
    api.add_in(NS, livestream("cam"))
    reconcile(api)
    api.add_in(NS, secret("key", labelled=True, streamKey=KEY))
    tls = {"caSecretRef": {"name": "later-ca"}}
    api.add_in(NS, restream("out", uri="rtmps://203.0.113.7/live", streamKeySecretRef={"name": "key"}, tls=tls))
    refused = reconcile_rst(api).key_secret_refused
    assert refused is not None and "Secret later-ca named in tls.caSecretRef does not exist yet" in refused
    assert "cam-pusher" not in api.names("Pod")
    api.add_in(NS, secret("later-ca", labelled=False, ca_crt="PEM"))
    assert reconcile_rst(api).key_secret_refused is not None and "cam-pusher" not in api.names("Pod")
    api.modify("Secret", NS, "later-ca", {"metadata": {"labels": ALLOW_REFERENCE_LABELS}})
    outcome = reconcile_rst(api)
    assert outcome.key_secret_refused is None and outcome.targets is not None
    assert outcome.targets.targets[0].tls_ca == "PEM" and "cam-pusher" in api.names("Pod")
