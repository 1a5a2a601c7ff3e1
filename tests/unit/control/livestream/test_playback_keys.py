"""The namespace's playback keys Secret: made once, the first time a signed stream needs it, owned by
nothing, mounted by the signed stream's ingest (control/livestream/playback_keys.py, apply.py)."""

from __future__ import annotations

import base64
import json
from typing import Any

from devtools.catalog import livestream
from devtools.fake_kube import FakeKubeApi, operator_view
from streamops.contract.ingest import CONFIG_ENV, PLAYBACK_KEYS_DIR, IngestConfig
from streamops.contract.playback_token import CURRENT_KEY, KEY_BYTES, KEYS_SECRET
from streamops.control.livestream.reconcile import reconcile_livestream
from streamops.control.shared.settings import OperatorSettings, PlaybackSettings

NS = "media"


def put(api: FakeKubeApi, name: str, **spec: Any) -> None:
    body = livestream(name, **spec)
    body["metadata"]["namespace"] = NS
    api.add(body)


def reconcile(api: FakeKubeApi, name: str, settings: OperatorSettings) -> None:
    body = api.object("LiveStream", NS, name)
    assert body is not None
    reconcile_livestream(api, settings, body, None, auto_recording_exists=False)


def test_a_signed_stream_gets_the_namespaces_keys_once_and_its_ingest_mounts_them():
    api = operator_view()
    put(api, "cam", playback={"access": "signed"})
    put(api, "other", playback={"access": "signed"})
    reconcile(api, "cam", OperatorSettings())
    secret = api.object("Secret", NS, KEYS_SECRET)
    assert secret is not None
    first = secret["data"][CURRENT_KEY]
    assert len(base64.b64decode(first)) == KEY_BYTES
    assert not secret["metadata"].get("ownerReferences"), "tokens outlive the streams"
    reconcile(api, "other", OperatorSettings())
    assert api.object("Secret", NS, KEYS_SECRET)["data"][CURRENT_KEY] == first  # type: ignore[index]
    pod = api.object("Pod", NS, "cam-ingest")
    assert pod is not None
    [container] = pod["spec"]["containers"]
    config = IngestConfig.model_validate_json(next(e["value"] for e in container["env"] if e["name"] == CONFIG_ENV))
    assert config.playback is not None and config.playback.access == "signed"
    assert config.playback.keys_dir == PLAYBACK_KEYS_DIR and config.playback.namespace == NS
    assert {"name": "playback-keys", "mountPath": PLAYBACK_KEYS_DIR, "readOnly": True} in container["volumeMounts"]


def test_the_chart_default_signs_and_a_public_stream_keeps_its_configuration():
    api = operator_view()
    put(api, "cam")
    reconcile(api, "cam", OperatorSettings(playback=PlaybackSettings(access="signed")))
    assert api.object("Secret", NS, KEYS_SECRET) is not None
    api2 = operator_view()
    put(api2, "cam")
    reconcile(api2, "cam", OperatorSettings())
    assert api2.object("Secret", NS, KEYS_SECRET) is None
    pod = api2.object("Pod", NS, "cam-ingest")
    assert pod is not None
    env = next(e["value"] for e in pod["spec"]["containers"][0]["env"] if e["name"] == CONFIG_ENV)
    assert "playback" not in json.loads(env), "a public stream's configuration (its Pod's hash) is what it was"
