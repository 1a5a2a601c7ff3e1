"""The pusher's configuration (specs/worker_config.py): the codecs the target takes, the target's
TLS, and what a change of a Restream does to the stream's running pusher (nothing to its Pod: the
target's version changes, and the set reaches the pusher over PUT /targets), through the real
reconciler against the in-memory API."""

from __future__ import annotations

import json
from typing import Any

import pytest
from devtools.catalog import livestream, restream, stored_livestream, stored_restream
from devtools.fake_kube import FakeKubeApi, operator_view
from streamops.api import Restream
from streamops.contract.pusher import CONFIG_ENV, PusherConfig, PusherTarget
from streamops.control.livestream.reconcile import reconcile_livestream
from streamops.control.restream.reconcile import RestreamOutcome, reconcile_restream
from streamops.control.restream.specs.worker_config import pusher_config
from streamops.control.shared.settings import OperatorSettings
from streamops.control.workers.restarts import KEEP

NS = "media"
SETTINGS = OperatorSettings()
STREAM = stored_livestream(uid="stream-uid")


def config_of(**spec: Any) -> PusherConfig:
    made = Restream.model_validate(stored_restream(uid="restream-uid", **spec))
    return pusher_config(made, STREAM, SETTINGS, None, 8080)


def test_the_codecs_the_target_takes_reach_the_pusher_in_one_order():
    assert config_of().video_codecs == ["h264"]
    assert config_of(targetVideoCodecs=["av1", "h264", "hevc"]).video_codecs == ["h264", "hevc", "av1"]
    assert config_of(targetVideoCodecs=["hevc"]).video_codecs == ["hevc"]


# --- a running pusher ---------------------------------------------------------------------------


@pytest.fixture
def api() -> FakeKubeApi:
    fake = operator_view()
    fake.add({**livestream("cam"), "metadata": {"name": "cam", "namespace": NS}})
    reconcile_livestream(fake, SETTINGS, fake.object("LiveStream", NS, "cam") or {})
    fake.add({**restream("out", uri="rtmp://target.example/live"), "metadata": {"name": "out", "namespace": NS}})
    return fake


def reconcile(api: FakeKubeApi) -> RestreamOutcome:
    return reconcile_restream(api, SETTINGS, api.object("Restream", NS, "out") or {})


def target(outcome: RestreamOutcome) -> PusherTarget:
    assert outcome.targets is not None
    [sent] = outcome.targets.targets
    return sent


def pusher_pod(api: FakeKubeApi) -> dict[str, Any]:
    return api.object("Pod", NS, "cam-pusher") or {}


def deletes(api: FakeKubeApi) -> list[str]:
    return [c.name for c in api.writes if c.verb == "delete" and c.result == "ok"]


def test_a_codec_added_reaches_a_live_target_at_once_and_a_reordered_list_changes_nothing(api: FakeKubeApi):
    first = target(reconcile(api))
    pod = pusher_pod(api)
    api.modify("Restream", NS, "out", {"status": {"live": True}})
    api.modify("Restream", NS, "out", {"spec": {"targetVideoCodecs": ["hevc", "h264"]}})
    api.clear_calls()
    outcome = reconcile(api)
    changed = target(outcome)
    assert outcome.pod_change == KEEP and deletes(api) == [], "the Pod holds no target: it stays"
    assert changed.video_codecs == ["h264", "hevc"] and changed.version != first.version, "sent again: now"
    assert changed.push_config() != first.push_config(), "the pusher restarts this target's FFmpeg alone"
    api.modify("Restream", NS, "out", {"spec": {"targetVideoCodecs": ["h264", "hevc"]}})
    reordered = target(reconcile(api))
    assert (
        reordered.push_config() == changed.push_config()
        and reordered.version.split("-")[1] == changed.version.split("-")[1]
    )
    assert pusher_pod(api)["metadata"]["uid"] == pod["metadata"]["uid"]


def test_the_pods_configuration_names_no_target(api: FakeKubeApi):
    reconcile(api)
    [container] = pusher_pod(api)["spec"]["containers"]
    config = json.loads(next(e for e in container["env"] if e["name"] == CONFIG_ENV)["value"])
    assert config["stream"] == "cam" and not {"uri", "feedUrl", "streamKeyFile", "tlsCaFile"} & set(config)
    assert container["args"] == ["worker", "pushers"], "the shared pusher: its targets come over PUT /targets"


# --- the target's TLS (tls.caSecretRef, insecureSkipVerify) -----------------------------------------


def test_the_target_tls_reaches_the_pusher():
    assert (config_of().tls_ca_file, config_of().tls_insecure_skip_verify) == (None, False), "verify, system trust"
    ca = config_of(uri="rtmps://t.example/live", tls={"caSecretRef": {"name": "ca"}})
    assert ca.tls_ca_file == "/var/run/secrets/streamops/target-ca/ca.crt" and not ca.tls_insecure_skip_verify
    skip = config_of(uri="rtmps://t.example/live", tls={"insecureSkipVerify": True})
    assert skip.tls_ca_file is None and skip.tls_insecure_skip_verify


def test_the_ca_is_sent_only_when_its_secret_is_labelled_for_use(api: FakeKubeApi):
    """The CA decides where the key goes: an unlabelled Secret is refused (no target; the status says
    RefusedByPolicy); labelled, its PEM is the target's `tlsCa` (never a volume of the shared Pod)."""
    api.add({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "ca", "namespace": NS}, "data": {}})
    tls = {"caSecretRef": {"name": "ca"}}
    api.modify("Restream", NS, "out", {"spec": {"uri": "rtmps://10.0.0.5:1936/live", "tls": tls}})
    outcome = reconcile(api)
    assert pusher_pod(api) == {} and outcome.targets is None
    assert "Secret ca named in tls.caSecretRef is not labelled" in (outcome.key_secret_refused or "")
    labels = {"streaming.streamops.dev/allow-reference": "true"}
    api.modify("Secret", NS, "ca", {"metadata": {"labels": labels}})
    assert "tls.caSecretRef" in (reconcile(api).key_secret_missing or ""), "fail closed: no system trust instead"
    api.modify("Secret", NS, "ca", {"data": {"ca.crt": "LS0t"}})
    sent = target(reconcile(api))
    assert sent.tls_ca == "---" and not sent.tls_insecure_skip_verify
    assert not [v for v in pusher_pod(api)["spec"]["volumes"] if v["name"] == "target-ca"]
