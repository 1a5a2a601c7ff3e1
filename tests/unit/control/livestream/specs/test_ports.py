"""The ingest's ports (specs/ports.py) for SRT and RTSP readers: on the primary's Pod, Service, worker
configuration and status URLs only when asked for; nothing changes for a stream that does not ask."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest
from devtools.catalog import stored_livestream
from pydantic import ValidationError
from streamops.api.livestream import PlaybackSpec
from streamops.contract.ingest import IngestConfig
from streamops.control.livestream.exposure import ReachInputs, ingest_reach
from streamops.control.livestream.specs.pod import ingest_pod
from streamops.control.livestream.specs.ports import container_ports, ingest_port_names
from streamops.control.livestream.specs.service import ingest_service
from streamops.control.livestream.specs.urls import playback_base, playback_urls
from streamops.control.shared.settings import OperatorSettings
from streamops.control.workers.ingest_address import POD_NETWORK_PORTS, in_cluster_host

SETTINGS = OperatorSettings()
stream = partial(stored_livestream, uid="uid-1", generation=1)
READERS = {"srt": {"enabled": True}, "rtsp": {"enabled": True}}


def config(pod: dict[str, Any]) -> IngestConfig:
    return IngestConfig.model_validate_json(pod["spec"]["containers"][0]["env"][0]["value"])


def test_readers_are_off_by_default_and_change_nothing():
    plain, off = stream(), stream(playback={"srt": {"enabled": False}, "rtsp": {"enabled": False}})
    for s in (plain, off):
        assert {"srt-read", "rtsp", "rtsps"}.isdisjoint(container_ports(s, "primary", SETTINGS))
        cfg = config(ingest_pod(s, "primary", SETTINGS))
        assert cfg.readers is None and cfg.ports.srt_read is None and cfg.ports.rtsp is None
    # The Pod (its spec hash) of a stream that does not ask stays what it was.
    assert ingest_pod(plain, "primary", SETTINGS)["spec"] == ingest_pod(off, "primary", SETTINGS)["spec"]


def test_the_primary_serves_readers_on_its_pod_service_and_configuration():
    s = stream(playback=READERS)
    assert container_ports(s, "primary", SETTINGS)["srt-read"] == (8890, "UDP")
    assert container_ports(s, "primary", SETTINGS)["rtsp"] == (8554, "TCP")
    assert "rtsp" in ingest_port_names(s, "primary", SETTINGS)  # a host-network allocation gets them too
    ports = {p["name"]: p for p in ingest_service(s, "primary", SETTINGS)["spec"]["ports"]}
    assert ports["srt-read"]["protocol"] == "UDP" and ports["rtsp"]["port"] == 8554
    cfg = config(ingest_pod(s, "primary", SETTINGS))
    assert cfg.readers is not None and cfg.readers.srt and cfg.readers.rtsp and not cfg.readers.rtsps
    assert (cfg.ports.srt_read, cfg.ports.rtsp, cfg.ports.rtsps) == (8890, 8554, None)
    # Not the backup: viewers are served where the stream is on air.
    b = stream(playback=READERS, source={"push": {"backup": True}})
    assert "rtsp" not in container_ports(b, "backup", SETTINGS)
    assert config(ingest_pod(b, "backup", SETTINGS)).readers is None


def test_rtsps_mounts_its_certificate_and_names_it_in_the_configuration():
    s = stream(playback={"rtsp": {"enabled": True, "tls": {"secretName": "rtsp-cert"}}})
    pod = ingest_pod(s, "primary", SETTINGS)
    cfg = config(pod)
    assert cfg.readers is not None and cfg.readers.rtsps and not cfg.readers.rtsp
    assert cfg.ports.rtsps == 8322
    assert cfg.readers.tls_cert_file == "/var/run/secrets/streamops/rtsps/tls.crt"
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["rtsps-tls"]["secret"]["secretName"] == "rtsp-cert"


def test_status_names_the_readers_urls_where_the_service_is_reached():
    s = stream(playback=READERS)
    primary = ingest_reach(None, ReachInputs(in_cluster_host(s, "primary"), POD_NETWORK_PORTS))
    playback = playback_urls(s, playback_base(None, primary), primary=primary)
    assert playback.srt_url == "srt://cam-ingest.media.svc:8890"
    assert playback.rtsp_url == "rtsp://cam-ingest.media.svc:8554/live"
    assert playback_urls(stream(), playback_base(None, primary), primary=primary).srt_url is None


@pytest.mark.parametrize(
    "bad",
    [{"srt": {"enabled": "maybe"}}, {"rtsp": {"tls": {"secretName": "Not_A_Name"}}}, {"rtsp": {"port": 554}}],
)
def test_bad_reader_settings_are_refused(bad: dict[str, Any]):
    with pytest.raises(ValidationError):
        PlaybackSpec.model_validate(bad)
