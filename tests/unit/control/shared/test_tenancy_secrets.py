"""Secrets named by Recordings, Clips and StreamWebhooks under the tenancy policy (issue 37,
deliverable 6; docs/design/tenancy.md): a spec's author could name any Secret of the namespace as
object storage credentials (the worker sends them, SigV4, to the spec's endpoint; retention too) or
as a webhook's signing secret (the receiver of their choice gets HMACs keyed with it). Each is used
only when its owner labelled it; else nothing is started or sent, status says which Secret and which
label (never a value), one Warning Event, and labelling it is picked up by the next look."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from functools import partial
from types import SimpleNamespace
from typing import Any

import pytest
from devtools.catalog import clip, livestream, recording, stored_recording, stored_video
from devtools.fake_kube import FakeKubeApi, operator_view
from streamops.api import Clip
from streamops.api.common import Condition
from streamops.api.recording import S3Storage, Video
from streamops.api.webhook import StreamWebhookSpec
from streamops.contract.recorder import RecorderStatus
from streamops.control.clip.reconcile import reconcile_clip
from streamops.control.clip.status import ClipperObservation, clip_events, clip_status
from streamops.control.recording.reconcile import reconcile_recording
from streamops.control.recording.status import RecorderObservation, recording_events, recording_status
from streamops.control.shared.settings import OperatorSettings, RecordingsSettings, TenancySettings
from streamops.control.shared.tenancy import ALLOW_REFERENCE_LABEL
from streamops.control.storage import retention
from streamops.control.storage.retention import ExpiryFailed, delete_videos
from streamops.control.storage.video_storage import StorageRefusal, StorageSecrets, storage_refusal
from streamops.control.webhook.delivery import REFUSED_RETRY_SECONDS, SubscriptionDelivery
from streamops.control.webhook.subscription import (
    DeliveryRecord,
    Subscription,
    secret_refusal,
    subscription_events,
    subscription_status,
)
from streamops.control.workers.pod_observation import PodObservation

from tests.unit.control.shared.test_tenancy import secret

NS = "media"
NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
SETTINGS = OperatorSettings()
UPGRADE_WINDOW = OperatorSettings(tenancy=TenancySettings(require_secret_label=False))
ACCESS, SECRET_KEY = "AKIAPRODUCTION000001", "production-secret-access-key-value"
HOOK_KEY = "another-services-hmac-key-7f3a"
# The author's endpoint, the namespace's production credentials.
S3 = {"endpoint": "https://s3.attacker.example", "bucket": "loot", "credentialsSecret": "prod-s3"}
NOT_LABELLED = f"is not labelled {ALLOW_REFERENCE_LABEL}=true"


@pytest.fixture
def api() -> FakeKubeApi:
    return operator_view()


def credentials(labelled: bool) -> dict[str, Any]:
    return secret("prod-s3", labelled, accessKeyId=ACCESS, secretAccessKey=SECRET_KEY)


def label(api: FakeKubeApi, name: str, on: bool) -> None:
    api.modify("Secret", NS, name, {"metadata": {"labels": {ALLOW_REFERENCE_LABEL: "true" if on else None}}})


def no_value_in(text: str) -> bool:
    return all(value not in text for value in (ACCESS, SECRET_KEY, HOOK_KEY))


# --- object storage: the pure check ---------------------------------------------------------------


def test_storage_secrets_need_the_label_unless_the_storage_is_the_admins() -> None:
    s3 = S3Storage.model_validate({**S3, "caSecret": "prod-ca"})
    unlabelled = StorageSecrets(credentials(False), secret("prod-ca", False, ca_crt="PEM"))
    refused = storage_refusal(s3, unlabelled, SETTINGS)
    assert refused is not None and refused.reason == "RefusedByPolicy" and refused.by_policy
    assert f"Secret prod-s3 named in storage.s3.credentialsSecret {NOT_LABELLED}" in refused.message
    assert f"Secret prod-ca named in storage.s3.caSecret {NOT_LABELLED}" in refused.message
    assert no_value_in(refused.message)
    # The CA alone unlabelled is refused too (mounted into the worker like the keys).
    ca_only = storage_refusal(s3, StorageSecrets(credentials(True), secret("prod-ca", False, ca_crt="PEM")), SETTINGS)
    assert ca_only is not None and ca_only.by_policy and "prod-s3" not in ca_only.message
    assert (
        storage_refusal(s3, StorageSecrets(credentials(True), secret("prod-ca", True, ca_crt="PEM")), SETTINGS) is None
    )
    # A missing Secret is said as before (and does not stop a worker that runs: not by_policy).
    missing = storage_refusal(s3, StorageSecrets(None, None), SETTINGS)
    assert missing == StorageRefusal(
        "StorageCredentialsMissing", "Secret prod-s3 (storage.s3.credentialsSecret) does not exist"
    )
    assert not missing.by_policy
    # The upgrade window.
    assert storage_refusal(s3, unlabelled, UPGRADE_WINDOW) is None
    # The chart's recordings.s3 is the admin's: not checked. The same Secret with another endpoint is.
    admin = OperatorSettings(recordings=RecordingsSettings(s3=s3))
    assert storage_refusal(s3, unlabelled, admin) is None
    elsewhere = s3.model_copy(update={"endpoint": "https://s3.other.example"})
    assert (refused := storage_refusal(elsewhere, unlabelled, admin)) is not None and refused.by_policy


# --- Recordings -----------------------------------------------------------------------------------


def reconcile_rec(api: FakeKubeApi, **hints: Any):
    body = api.object("Recording", NS, "rec")
    assert body is not None
    return reconcile_recording(api, SETTINGS, body, None, **hints)


def test_a_recording_never_hands_an_unlabelled_secret_to_a_recorder(api: FakeKubeApi) -> None:
    api.add_in(NS, livestream("cam"))
    api.add_in(NS, credentials(labelled=False))
    api.add_in(NS, recording("rec", storage={"s3": S3}))
    outcome = reconcile_rec(api)
    refused = outcome.storage_refused
    assert refused is not None and refused.reason == "RefusedByPolicy"
    assert f"Secret prod-s3 named in storage.s3.credentialsSecret {NOT_LABELLED}" in refused.message
    assert no_value_in(refused.message)
    assert api.names("Pod") == [], "no recorder: it would get the keys by env and send them to the endpoint"
    # The owner opts in: the recorder is made at the next look.
    label(api, "prod-s3", True)
    assert reconcile_rec(api).storage_refused is None
    assert api.names("Pod") == ["rec-recorder"]
    # The label taken away (or a recorder made before the policy): the running recorder goes.
    label(api, "prod-s3", False)
    outcome = reconcile_rec(api, recorder="rec-recorder")
    assert outcome.storage_refused is not None and outcome.storage_refused.by_policy
    assert api.names("Pod") == []


def test_a_stream_default_storage_is_checked_too(api: FakeKubeApi) -> None:
    """A Recording naming no storage uses its stream's: the stream's author named that Secret."""
    api.add_in(NS, livestream("cam", recording={"storage": {"s3": S3}}))
    api.add_in(NS, credentials(labelled=False))
    api.add_in(NS, recording("rec"))
    outcome = reconcile_rec(api)
    assert outcome.storage_refused is not None and outcome.storage_refused.by_policy
    assert api.names("Pod") == []


a_recording = partial(stored_recording, storage={"s3": S3})


def test_a_refused_storage_secret_stalls_the_recording_with_one_warning() -> None:
    refusal = StorageRefusal("RefusedByPolicy", f"Secret prod-s3 named in storage.s3.credentialsSecret {NOT_LABELLED}")
    observed = RecorderObservation(pod=PodObservation("rec-recorder"), storage_refused=refusal, stream_live=True)
    status = recording_status(a_recording(), observed, NOW)
    conditions = {c.type: (c.status, c.reason, c.message) for c in status.conditions}
    assert conditions["Ready"] == ("False", "RefusedByPolicy", refusal.message)
    assert conditions["Stalled"] == ("True", "RefusedByPolicy", refusal.message)
    assert conditions["Recording"][:2] == ("False", "RefusedByPolicy")
    assert [(e.type, e.reason) for e in recording_events(None, status)] == [("Warning", "RefusedByPolicy")]
    # Said while a recorder made before still reports recording (it is being removed).
    telemetry = RecorderStatus.model_validate({"state": "recording", "recording": True, "duration": 3.0})
    running = PodObservation("rec-recorder", exists=True, uid="u", phase="Running", ready=True, ip="127.0.0.1")
    observed = RecorderObservation(pod=running, telemetry=telemetry, storage_refused=refusal, stream_live=True)
    assert recording_status(a_recording(), observed, NOW).condition("Stalled") is not None


# --- Clips ------------------------------------------------------------------------------------------


def test_a_clip_never_hands_an_unlabelled_secret_to_a_clipper(api: FakeKubeApi) -> None:
    api.add_in(NS, livestream("cam", dvr={"enabled": True, "durationSeconds": 600}))
    api.add_in(NS, credentials(labelled=False))
    body = clip("best", lastSeconds=5, storage={"s3": S3})
    body["metadata"]["creationTimestamp"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    api.add_in(NS, body)
    outcome = reconcile_clip(api, SETTINGS, api.object("Clip", NS, "best"), None)
    refusal = outcome.storage_refused
    assert refusal is not None and refusal.by_policy and api.names("Pod") == []
    model = Clip.model_validate({**body, "metadata": {**body["metadata"], "uid": "u", "generation": 1}})
    status = clip_status(model, ClipperObservation(pod=PodObservation("best-clipper"), storage_refused=refusal), NOW)
    conditions = {c.type: (c.status, c.reason) for c in status.conditions}
    # Not final: it goes on once labelled.
    assert conditions == {
        "Ready": ("False", "RefusedByPolicy"),
        "Succeeded": ("Unknown", "RefusedByPolicy"),
        "Stalled": ("True", "RefusedByPolicy"),
    }
    assert [(e.type, e.reason) for e in clip_events(None, status)] == [("Warning", "RefusedByPolicy")]
    label(api, "prod-s3", True)
    assert reconcile_clip(api, SETTINGS, api.object("Clip", NS, "best"), None).storage_refused is None
    assert api.names("Pod") == ["best-clipper"]


# --- retention --------------------------------------------------------------------------------------


def test_retention_sends_nothing_with_an_unlabelled_secret(api: FakeKubeApi, monkeypatch) -> None:
    deleted: list[str] = []

    def client(endpoint: Any) -> Any:
        assert endpoint.access_key == ACCESS
        return SimpleNamespace(delete_object=lambda Bucket, Key: deleted.append(Key))

    monkeypatch.setattr(retention, "s3_client", client)
    api.add_in(NS, credentials(labelled=False))
    s3 = S3Storage.model_validate(S3)
    video = Video.model_validate(stored_video("old.mp4"))
    with pytest.raises(ExpiryFailed) as failed:
        delete_videos(api, SETTINGS, NS, s3, [video])
    assert f"Secret prod-s3 named in storage.s3.credentialsSecret {NOT_LABELLED}" in str(failed.value)
    assert no_value_in(str(failed.value)) and deleted == [], "no request signed with it"
    label(api, "prod-s3", True)
    assert delete_videos(api, SETTINGS, NS, s3, [video]) == [video.url] and "old.mp4" in deleted


# --- StreamWebhooks ---------------------------------------------------------------------------------


def subscription(**spec: Any) -> Subscription:
    body = {"url": "https://receiver.attacker.example/hook", "secretRef": {"name": "db", "key": "password"}}
    return Subscription("u1", NS, "hooks", 1, StreamWebhookSpec.model_validate({**body, **spec}))


def test_a_webhook_secret_needs_the_label() -> None:
    sub = subscription()
    refusal = secret_refusal(sub, secret("db", False, password=HOOK_KEY), SETTINGS.tenancy)
    assert refusal == (
        f"Secret db named in spec.secretRef {NOT_LABELLED} (a spec may use a Secret only when the Secret's owner "
        "labels it so)"
    )
    assert secret_refusal(sub, secret("db", True, password=HOOK_KEY), SETTINGS.tenancy) is None
    assert secret_refusal(sub, None, SETTINGS.tenancy) is None, "a missing Secret is said as missing"
    assert secret_refusal(sub, secret("db", False, password=HOOK_KEY), UPGRADE_WINDOW.tenancy) is None


def conditions_of(status: dict[str, Any]) -> list[Condition]:
    return [Condition.model_validate(c) for c in status["conditions"]]


def test_a_refused_webhook_secret_is_ready_false_stalled_and_one_warning() -> None:
    sub = subscription()
    refusal = secret_refusal(sub, secret("db", False, password=HOOK_KEY), SETTINGS.tenancy)
    status = subscription_status(sub, DeliveryRecord(secret_refused=refusal), [], NOW)
    by_type = {c["type"]: c for c in status["conditions"]}
    for type_, value in (("Ready", "False"), ("Stalled", "True")):
        assert (by_type[type_]["status"], by_type[type_]["reason"]) == (value, "RefusedByPolicy")
        assert by_type[type_]["message"] == f"{refusal}: nothing is sent, events are kept (24 h)"
    written = conditions_of(status)
    events = subscription_events([], written)
    assert [(e.type, e.reason, e.message) for e in events] == [
        ("Warning", "RefusedByPolicy", by_type["Ready"]["message"])
    ]
    assert subscription_events(written, written) == [], "once per refusal"
    # Labelled: Ready again, Stalled gone, no Event (deliveries say the rest).
    recovered = subscription_status(sub, DeliveryRecord(), written, NOW)
    assert [(c["type"], c["status"]) for c in recovered["conditions"]] == [("Ready", "True")]
    assert subscription_events(written, conditions_of(recovered)) == []
    # Paused says Paused (nothing is read while paused).
    paused = subscription_status(subscription(active=False), DeliveryRecord(secret_refused=refusal), [], NOW)
    assert [(c["type"], c["reason"]) for c in paused["conditions"]] == [("Ready", "Paused")]


class ApiState(SimpleNamespace):
    async def call(self, fn: Any, *args: Any) -> Any:
        return fn(*args)


def test_the_delivery_task_signs_with_nothing_until_the_secret_is_labelled(api: FakeKubeApi) -> None:
    api.add_in(NS, secret("db", False, password=HOOK_KEY))
    state = ApiState(settings=SETTINGS, api=api)
    delivery = SubscriptionDelivery(subscription(), None, store=None, state=state, session=None)  # type: ignore[arg-type]
    assert asyncio.run(delivery._read_secrets()) is None, "no lane starts: nothing is signed or sent"
    assert delivery.record.secret_refused is not None and not delivery.record.secret_missing
    assert 0 < delivery._retry_at - time.monotonic() <= REFUSED_RETRY_SECONDS, "looked at again within seconds"
    label(api, "db", True)
    assert asyncio.run(delivery._read_secrets()) == [HOOK_KEY.encode()]
    assert delivery.record.secret_refused is None
