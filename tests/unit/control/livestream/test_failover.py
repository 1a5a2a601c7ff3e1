"""Backup failover, operator side: the ingests' configurations (the backup knows its primary, never
the other way round), status.activeIngest and its Events, and what Recordings and Restreams of a
stream see while only its backup receives media."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial

import pytest
from devtools.catalog import livestream, stored_livestream, stored_recording
from devtools.fake_kube import operator_view
from streamops.api import LIVESTREAM
from streamops.api.common import Condition
from streamops.api.crd import crd_manifest
from streamops.contract.ingest import CONFIG_ENV, IngestConfig, IngestStatus
from streamops.control.livestream.reconcile import reconcile_livestream
from streamops.control.livestream.specs.pod import ingest_pod
from streamops.control.livestream.status import IngestObservation, PodObservation, livestream_events, livestream_status
from streamops.control.recording.status import RecorderObservation, recording_status
from streamops.control.runtime.indexes import StreamFacts, stream_entry
from streamops.control.shared.settings import OperatorSettings, WorkerSettings
from streamops.control.workers.ports import PortAllocator, ports_of
from streamops.kube.naming import SPEC_HASH_ANNOTATION

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
NS = "media"
SETTINGS = OperatorSettings()
HOST = OperatorSettings(worker=WorkerSettings(host_network=True, port_range="30000-30099", address="127.0.0.1"))
BACKUP = {"push": {"protocols": ["rtmp"], "backup": True, "failback": {"stableSeconds": 20}}}


stream = stored_livestream


def config_of(pod) -> IngestConfig:
    env = next(e for e in pod["spec"]["containers"][0]["env"] if e["name"] == CONFIG_ENV)
    return IngestConfig.model_validate_json(env["value"])


# --- configurations ---------------------------------------------------------------------------------


def test_the_backup_knows_its_primary_and_carries_failback_the_primary_knows_nothing_of_either():
    s = stream(source=BACKUP)
    primary, backup = config_of(ingest_pod(s, "primary", SETTINGS)), config_of(ingest_pod(s, "backup", SETTINGS))
    assert primary.primary_url is None and primary.source.push and primary.source.push.failback is None
    assert backup.primary_url == "http://cam-ingest-internal.media.svc:8081"
    assert backup.source.push and backup.source.push.failback and backup.source.push.failback.stable_seconds == 20
    # Host network: the primary's allocated port, at the worker address.
    ports = {"http": 30010, "rtmp": 30011, "srt": 30012, "internal": 30013}
    own = {"http": 30020, "rtmp": 30021, "srt": 30022, "internal": 30023}
    backup_host = config_of(ingest_pod(s, "backup", HOST, own, ports))
    assert backup_host.primary_url == "http://127.0.0.1:30013", "the primary's internal port"


def test_adding_a_backup_with_failback_settings_leaves_the_live_primary_untouched():
    before = ingest_pod(stream(source={"push": {"protocols": ["rtmp"]}}), "primary", SETTINGS)
    after = ingest_pod(stream(source=BACKUP), "primary", SETTINGS)
    hashes = {pod["metadata"]["annotations"][SPEC_HASH_ANNOTATION] for pod in (before, after)}
    assert len(hashes) == 1, "the primary's Pod (its publisher) is not rolled"


def test_the_backup_prefers_a_node_without_its_primary():
    s = stream(source=BACKUP)
    primary, backup = ingest_pod(s, "primary", SETTINGS), ingest_pod(s, "backup", SETTINGS)
    assert "affinity" not in primary["spec"]
    [preferred] = backup["spec"]["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    term = preferred["podAffinityTerm"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    labels = primary["metadata"]["labels"]
    assert term["labelSelector"]["matchLabels"].items() <= labels.items()
    assert not term["labelSelector"]["matchLabels"].items() <= backup["metadata"]["labels"].items()


def test_reconcile_hands_the_backup_the_primary_host_ports():
    api = operator_view()
    body = livestream("cam", source=BACKUP)
    body["metadata"]["namespace"] = NS
    api.add(body)
    outcome = reconcile_livestream(api, HOST, api.object("LiveStream", NS, "cam"), PortAllocator(HOST.worker.ports))
    primary_internal = ports_of(api.object("Service", NS, "cam-ingest"))["internal"]
    assert outcome.host_ports["primary"]["internal"] == primary_internal
    backup = config_of(api.object("Pod", NS, "cam-ingest-backup"))
    assert backup.primary_url == f"http://127.0.0.1:{primary_internal}", "the primary's internal face"


# --- LiveStream status --------------------------------------------------------------------------------


def running(name: str) -> PodObservation:
    return PodObservation.of(
        name,
        {
            "metadata": {"name": name},
            "spec": {"nodeName": "n1"},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
        },
    )


def observe(primary: IngestStatus | None, backup: IngestStatus | None, primary_pod: bool = True) -> IngestObservation:
    pods = {"backup": running("cam-ingest-backup")}
    if primary_pod:
        pods["primary"] = running("cam-ingest")
    telemetry = {role: t for role, t in (("primary", primary), ("backup", backup)) if t is not None}
    return IngestObservation(pods, telemetry=telemetry)


LIVE_PRIMARY = IngestStatus(live=True, active_ingest="primary", video_width=1280, frame_rate=30, source="rtmp")
RELAYING = IngestStatus(live=False, active_ingest="backup", backup_wanted=True, video_width=640, frame_rate=25)
LIVE_BACKUP = IngestStatus(live=True, active_ingest="backup", video_width=640, frame_rate=25.5, source="srt")


def test_active_ingest_follows_what_the_primary_serves():
    s = stream(source=BACKUP)
    both = livestream_status(s, observe(LIVE_PRIMARY, LIVE_BACKUP), T0)
    assert (both.live, both.backup_live, both.active_ingest, both.protocol) == (True, True, "primary", "rtmp")
    relayed = livestream_status(s, observe(RELAYING, LIVE_BACKUP), T0)
    assert (relayed.live, relayed.backup_live, relayed.active_ingest) == (False, True, "backup")
    assert relayed.frame_rate == 25 and relayed.video_width == 640, "the metrics of the media on air"
    assert relayed.protocol == "srt", "how the media on air arrives (the backup's publisher)"
    live_condition = relayed.condition("Live")
    assert live_condition is not None and live_condition.status == "False", "live: the primary's own media"
    assert "the backup ingest's media is on air" in (live_condition.message or "")
    nothing = livestream_status(s, observe(IngestStatus(backup_wanted=True), None), T0)
    assert nothing.active_ingest is None and "activeIngest" not in nothing.wire() and nothing.protocol is None


def test_primary_pod_gone_the_backup_is_live_but_nothing_is_on_air():
    status = livestream_status(stream(source=BACKUP), observe(None, LIVE_BACKUP, primary_pod=False), T0)
    assert status.backup_live and not status.live and status.active_ingest is None
    assert status.frame_rate == 25.5, "the backup's own metrics are still shown"


def test_a_primary_worker_older_than_active_ingest_serves_its_own_media_while_live():
    old = IngestStatus.model_validate({"live": True})
    assert livestream_status(stream(source=BACKUP), observe(old, None), T0).active_ingest == "primary"


def test_events_on_each_switch():
    s = stream(source=BACKUP)
    on_primary = livestream_status(s, observe(LIVE_PRIMARY, LIVE_BACKUP), T0)
    on_backup = livestream_status(stream(source=BACKUP, status=on_primary.wire()), observe(RELAYING, LIVE_BACKUP), T0)
    took_over = [e for e in livestream_events(on_primary, on_backup) if e.reason == "BackupTookOver"]
    assert len(took_over) == 1 and took_over[0].type == "Warning"
    back = livestream_status(stream(source=BACKUP, status=on_backup.wire()), observe(LIVE_PRIMARY, LIVE_BACKUP), T0)
    restored = [e for e in livestream_events(on_backup, back) if e.reason == "PrimaryRestored"]
    assert len(restored) == 1 and restored[0].type == "Normal"
    assert not [e for e in livestream_events(back, back) if e.reason in ("BackupTookOver", "PrimaryRestored")]
    # Going live on the primary is WentLive's business; offline after the backup is WentOffline's.
    assert not [e for e in livestream_events(None, on_primary) if e.reason == "PrimaryRestored"]
    off = livestream_status(s, observe(IngestStatus(), None), T0)
    assert not [e for e in livestream_events(on_backup, off) if e.reason in ("BackupTookOver", "PrimaryRestored")]
    # A planned switchover (a handover under way): Normal, and says so.
    handing = Condition(type="HandingOver", status="True", reason="SwitchingToBackup", last_transition_time=T0)
    planned = on_backup.model_copy(update={"conditions": [*on_backup.conditions, handing]})
    [switched] = [e for e in livestream_events(on_primary, planned) if e.reason == "BackupTookOver"]
    assert switched.type == "Normal" and "switched to the backup ingest" in switched.message


# --- followers ------------------------------------------------------------------------------------------


def facts(status: dict[str, object]) -> StreamFacts:
    body = {"metadata": {"namespace": NS, "name": "cam", "uid": "u"}, "status": status}
    return stream_entry(body)[(NS, "cam")]


rec = partial(stored_recording, uid="r")


@pytest.mark.parametrize(
    ("stream_status", "live", "backup_only"),
    [
        ({"live": True, "activeIngest": "primary"}, True, False),
        ({"backupLive": True, "activeIngest": "backup"}, True, False),  # relayed by the primary: recordable
        ({"backupLive": True}, False, True),  # no primary to relay it: nothing reaches the feed
        ({"live": True}, True, False),  # a status written before activeIngest existed
        ({}, False, False),
    ],
)
def test_recordings_follow_what_is_on_air_not_merely_the_backup(stream_status, live, backup_only):
    observation = RecorderObservation.observe(PodObservation("rec-recorder"), None, facts(stream_status), 1)
    assert (observation.stream_live, observation.stream_backup_only) == (live, backup_only)
    ready = recording_status(rec(), observation, T0).condition("Ready")
    assert ready is not None
    if live:
        assert ready.reason == "RecorderStarting", "the recorder records what the primary serves, backup's or not"
    else:
        assert ready.reason == "StreamNotLive"
        assert ("only its backup ingest receives media" in (ready.message or "")) == backup_only


def test_kubectl_get_shows_whose_media_is_on_air():
    crd = crd_manifest(LIVESTREAM)
    columns = {c["name"]: c["jsonPath"] for c in crd["spec"]["versions"][0]["additionalPrinterColumns"]}
    assert columns["OnAir"] == ".status.activeIngest"


def test_stream_index_keeps_active_ingest():
    assert facts({"live": False, "backupLive": True, "activeIngest": "backup"}).active_ingest == "backup"
