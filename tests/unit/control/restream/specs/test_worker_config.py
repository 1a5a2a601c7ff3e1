"""The pusher's configuration (specs/worker_config.py): the codecs the target takes, and what a
change of them does to a running pusher (control/workers/restarts.py), through the real reconciler
against the in-memory API."""

from __future__ import annotations

import json
from typing import Any

import pytest
from devtools.catalog import livestream, restream, stored_livestream, stored_restream
from devtools.fake_kube import FakeKubeApi, operator_view
from streamops.api import Restream
from streamops.contract.pusher import CONFIG_ENV, PusherConfig
from streamops.control.livestream.reconcile import reconcile_livestream
from streamops.control.restream.reconcile import reconcile_restream
from streamops.control.restream.specs.worker_config import pusher_config
from streamops.control.runtime.settings import OperatorSettings
from streamops.control.workers.restarts import KEEP, SPEC_PARTS_ANNOTATION, PodChange

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


def reconcile(api: FakeKubeApi) -> PodChange:
    return reconcile_restream(api, SETTINGS, api.object("Restream", NS, "out") or {}).pod_change


def pusher_pod(api: FakeKubeApi) -> dict[str, Any]:
    return api.object("Pod", NS, "out-pusher") or {}


def deletes(api: FakeKubeApi) -> list[str]:
    return [c.name for c in api.writes if c.verb == "delete" and c.result == "ok"]


def test_a_pusher_built_before_the_field_is_not_replaced(api: FakeKubeApi):
    """An operator upgrade adds videoCodecs at its default: a running pusher, even an idle one
    (replaced at once for any difference), differs in nothing."""
    reconcile(api)
    pod = pusher_pod(api)
    parts = json.loads(pod["metadata"]["annotations"][SPEC_PARTS_ANNOTATION])
    assert parts["config.videoCodecs"].startswith("d:"), "at its default"
    # The Pod as the operator before this field made it: neither its parts nor its config have it.
    del parts["config.videoCodecs"]
    [container] = pod["spec"]["containers"]
    env = next(e for e in container["env"] if e["name"] == CONFIG_ENV)
    older = json.loads(env["value"])
    del older["videoCodecs"]
    env["value"] = json.dumps(older)
    api.modify("Pod", NS, "out-pusher", {"metadata": {"annotations": {SPEC_PARTS_ANNOTATION: json.dumps(parts)}}})
    api.modify("Pod", NS, "out-pusher", {"spec": pod["spec"]})
    api.clear_calls()
    assert reconcile(api) == KEEP and deletes(api) == []


def test_a_codec_added_reaches_a_live_pusher_at_once_and_a_reordered_list_changes_nothing(api: FakeKubeApi):
    reconcile(api)
    api.modify("Restream", NS, "out", {"status": {"live": True}})
    api.modify("Restream", NS, "out", {"spec": {"targetVideoCodecs": ["hevc", "h264"]}})
    assert reconcile(api) == PodChange("replace", "config.videoCodecs"), "the user's spec change: now"
    reconcile(api)  # the new Pod
    api.modify("Restream", NS, "out", {"spec": {"targetVideoCodecs": ["h264", "hevc"]}})
    api.clear_calls()
    assert reconcile(api) == KEEP and deletes(api) == []


# --- the target's TLS (tls.caSecretRef, insecureSkipVerify) -----------------------------------------


def test_the_target_tls_reaches_the_pusher():
    assert (config_of().tls_ca_file, config_of().tls_insecure_skip_verify) == (None, False), "verify, system trust"
    ca = config_of(uri="rtmps://t.example/live", tls={"caSecretRef": {"name": "ca"}})
    assert ca.tls_ca_file == "/var/run/secrets/streamops/target-ca/ca.crt" and not ca.tls_insecure_skip_verify
    skip = config_of(uri="rtmps://t.example/live", tls={"insecureSkipVerify": True})
    assert skip.tls_ca_file is None and skip.tls_insecure_skip_verify


def test_a_pusher_built_before_the_tls_fields_is_not_replaced(api: FakeKubeApi):
    """An operator upgrade adds tlsCaFile and tlsInsecureSkipVerify at their defaults: nothing differs."""
    reconcile(api)
    pod = pusher_pod(api)
    parts = json.loads(pod["metadata"]["annotations"][SPEC_PARTS_ANNOTATION])
    [container] = pod["spec"]["containers"]
    env = next(e for e in container["env"] if e["name"] == CONFIG_ENV)
    older = json.loads(env["value"])
    for field in ("tlsCaFile", "tlsInsecureSkipVerify"):
        parts.pop(f"config.{field}", None)
        older.pop(field, None)
    env["value"] = json.dumps(older)
    api.modify("Pod", NS, "out-pusher", {"metadata": {"annotations": {SPEC_PARTS_ANNOTATION: json.dumps(parts)}}})
    api.modify("Pod", NS, "out-pusher", {"spec": pod["spec"]})
    api.clear_calls()
    assert reconcile(api) == KEEP and deletes(api) == []


def test_the_ca_secret_is_mounted_only_when_labelled_for_use(api: FakeKubeApi):
    """The CA decides where the key goes: an unlabelled Secret is refused (no pusher; the status says RefusedByPolicy);
    labelled, it is a file of the Pod (an optional volume: a missing Secret is said by the pusher)."""
    api.add({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "ca", "namespace": NS}, "data": {}})
    tls = {"caSecretRef": {"name": "ca"}}
    api.modify("Restream", NS, "out", {"spec": {"uri": "rtmps://10.0.0.5:1936/live", "tls": tls}})
    outcome = reconcile_restream(api, SETTINGS, api.object("Restream", NS, "out") or {})
    assert pusher_pod(api) == {}
    assert "Secret ca named in tls.caSecretRef is not labelled" in (outcome.key_secret_refused or "")
    labels = {"streaming.streamops.dev/allow-reference": "true"}
    api.modify("Secret", NS, "ca", {"metadata": {"labels": labels}, "data": {"ca.crt": "LS0t"}})
    reconcile(api)
    pod = pusher_pod(api)
    [volume] = [v for v in pod["spec"]["volumes"] if v["name"] == "target-ca"]
    assert volume["secret"] == {"secretName": "ca", "items": [{"key": "ca.crt", "path": "ca.crt"}], "optional": True}
    [container] = pod["spec"]["containers"]
    assert {"name": "target-ca", "mountPath": "/var/run/secrets/streamops/target-ca", "readOnly": True} in container[
        "volumeMounts"
    ]
    config = json.loads(next(e for e in container["env"] if e["name"] == CONFIG_ENV)["value"])
    assert config["tlsCaFile"] == "/var/run/secrets/streamops/target-ca/ca.crt"
