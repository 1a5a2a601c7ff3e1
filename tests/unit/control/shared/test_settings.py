"""The operator's settings (settings.py): the viewer window (OperatorSettings.playback.viewer_window_seconds,
chart playback.viewerWindowSeconds) reaches the ingests and the edges, the default changes neither;
the chart's S3 for recordings is read as JSON."""

from __future__ import annotations

import json

import pytest
from devtools.catalog import stored_livestream
from pydantic import ValidationError
from streamops.api.recording import S3Storage
from streamops.contract.edge import ENV_VIEWER_WINDOW_SECONDS
from streamops.contract.ingest import VIEWER_WINDOW_SECONDS, IngestConfig
from streamops.control.edge.specs import edge_pod_template
from streamops.control.livestream.specs.pod import ingest_pod
from streamops.control.shared.settings import EdgeSettings, OperatorSettings, PlaybackSettings

CHART_S3 = {"endpoint": "http://minio.storage:9000", "bucket": "chart-bucket", "credentialsSecret": "chart-creds"}
WITH_CHART_S3 = OperatorSettings.from_env({"STREAMOPS_RECORDINGS_S3": json.dumps(CHART_S3)})


def ingest_config(settings: OperatorSettings, **spec: object) -> IngestConfig:
    pod = ingest_pod(stored_livestream(**spec), "primary", settings)
    return IngestConfig.model_validate(json.loads(pod["spec"]["containers"][0]["env"][0]["value"]))


def edge_env(settings: OperatorSettings) -> dict[str, str | None]:
    return {e["name"]: e.get("value") for e in edge_pod_template("media", settings)["spec"]["containers"][0]["env"]}


def test_a_shorter_window_reaches_the_ingest_and_the_edge() -> None:
    settings = OperatorSettings(playback=PlaybackSettings(viewer_window_seconds="10"))  # as the chart writes it
    config = ingest_config(settings)
    assert config.viewer_window == 10 and not config.signed
    assert config.stream_id == f"{config.playback.namespace}/{config.stream}"  # type: ignore[union-attr]
    assert edge_env(settings)[ENV_VIEWER_WINDOW_SECONDS] == "10"
    signed = ingest_config(settings, playback={"access": "signed"})
    assert signed.signed and signed.viewer_window == 10 and signed.playback and signed.playback.keys_dir


def test_the_default_window_leaves_ingests_and_edges_as_they_were() -> None:
    settings = OperatorSettings()
    assert settings.playback.viewer_window_seconds == VIEWER_WINDOW_SECONDS
    pod = ingest_pod(stored_livestream(), "primary", settings)
    assert '"playback"' not in pod["spec"]["containers"][0]["env"][0]["value"], "a public stream's hash stays"
    assert ingest_config(settings).viewer_window == VIEWER_WINDOW_SECONDS
    assert ENV_VIEWER_WINDOW_SECONDS not in edge_env(settings)
    signed = ingest_config(settings, playback={"access": "signed"})
    assert signed.playback is not None and signed.playback.viewer_window_seconds is None


def test_chart_s3_setting_is_json_and_empty_means_none():
    assert OperatorSettings.from_env({"STREAMOPS_RECORDINGS_S3": "{}"}).recordings.s3 is None
    assert OperatorSettings.from_env({"STREAMOPS_RECORDINGS_S3": ""}).recordings.s3 is None
    assert WITH_CHART_S3.recordings.s3 == S3Storage.model_validate(CHART_S3)


def test_ingest_regions_come_as_json_named_once_with_a_host_each():
    regions = (
        '[{"name": "eu-west", "externalHost": "ingest-eu.example.com"}, {"name": "b", "externalHost": "10.0.0.2"}]'
    )
    settings = OperatorSettings.from_env({"STREAMOPS_INGEST_REGIONS": regions})
    assert [(r.name, r.external_host) for r in settings.ingest.regions] == [
        ("eu-west", "ingest-eu.example.com"),
        ("b", "10.0.0.2"),
    ]
    assert OperatorSettings.from_env({"STREAMOPS_INGEST_REGIONS": ""}).ingest.regions == []
    bad = {
        '[{"name": "a", "externalHost": "h1"}, {"name": "a", "externalHost": "h2"}]': "named twice: a",
        '[{"name": "a", "externalHost": "rtmp://h"}]': "externalHost",
        '[{"name": "A_b", "externalHost": "h"}]': "name",
        '[{"name": "a"}]': "externalHost",
        json.dumps([{"name": f"r{i}", "externalHost": "h"} for i in range(9)]): "at most 8",
    }
    for value, says in bad.items():
        with pytest.raises(ValidationError, match=says):
            OperatorSettings.from_env({"STREAMOPS_INGEST_REGIONS": value})


def test_a_load_balancer_region_needs_no_host_and_only_it_takes_annotations_and_a_class():
    lb = '[{"name": "eu", "service": {"type": "LoadBalancer", "annotations": {"z": "eu-1"}, "loadBalancerClass": "c"}}]'
    (region,) = OperatorSettings.from_env({"STREAMOPS_INGEST_REGIONS": lb}).ingest.regions
    assert (region.external_host, region.service.annotations, region.service.load_balancer_class) == (
        "",
        {"z": "eu-1"},
        "c",
    )
    bad = {
        '[{"name": "a", "externalHost": "h", "service": {"annotations": {"z": "1"}}}]': "need service type",
        '[{"name": "a", "externalHost": "h", "service": {"type": "ClusterIP"}}]': "NodePort' or 'LoadBalancer",
        '[{"name": "a", "service": {"type": "NodePort"}}]': "a NodePort region needs externalHost",
    }
    for value, says in bad.items():
        with pytest.raises(ValidationError, match=says):
            OperatorSettings.from_env({"STREAMOPS_INGEST_REGIONS": value})


def test_each_variable_keeps_its_name_and_fills_its_groups_field():
    settings = OperatorSettings.from_env(
        {
            "STREAMOPS_WORKER_IMAGE": "registry.example/worker:1",
            "STREAMOPS_NODE_LOST_GRACE_SECONDS": "4",
            "STREAMOPS_WEBRTC_PLAYBACK": "false",
            "STREAMOPS_TENANCY_ALLOWED_ANNOTATIONS": '["a/*"]',
            "STREAMOPS_CLUSTER_DOMAIN": "c.example",
        }
    )
    assert settings.worker.image == "registry.example/worker:1" and settings.node_loss.grace_seconds == 4
    assert settings.playback.webrtc is False and settings.tenancy.allowed_annotations == ["a/*"]
    assert settings.cluster_domain == "c.example" and settings.edge == EdgeSettings()
    assert len(OperatorSettings.env_names()) == 71, "one variable per setting, as before the groups"


def test_a_refused_variable_is_named_as_before_the_groups():
    with pytest.raises(ValidationError) as refused:
        OperatorSettings.from_env({"STREAMOPS_EDGE_REPLICAS": "0", "STREAMOPS_RECORDINGS_S3": '{"bucket": "videos"}'})
    assert [e["loc"] for e in refused.value.errors()] == [
        ("recordings_s3", "endpoint"),
        ("recordings_s3", "credentialsSecret"),
        ("edge_replicas",),
    ]
    assert str(refused.value).startswith("3 validation errors for OperatorSettings\nrecordings_s3.endpoint\n")


def test_a_flat_keyword_is_refused_and_a_group_takes_either_name():
    with pytest.raises(ValidationError, match="edge_replicas"):
        OperatorSettings.model_validate({"edge_replicas": 3})
    assert EdgeSettings(edge_replicas=3) == EdgeSettings(replicas=3)  # type: ignore[call-arg]
