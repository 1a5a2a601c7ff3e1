"""A worker Pod's condition on its object (control/workers/pod_observation.py): the reason and
message follow the Pod's phase."""

from __future__ import annotations

from streamops.control.recording.reasons import RECORDER_POD
from streamops.control.restream import reasons as restream_reasons
from streamops.control.workers.pod_observation import PodObservation, worker_pod_condition


def test_worker_pod_condition_reasons_follow_the_pod():
    pusher = restream_reasons.PUSHER_POD
    running = (restream_reasons.CONNECTING, "pusher Pod p is connecting to the target")
    absent = worker_pod_condition(PodObservation(name="p"), "pusher", pusher, running)
    assert (absent.reason, absent.message) == ("PusherStarting", "creating pusher Pod p")
    pending = PodObservation(name="p", exists=True, phase="Pending", detail="no node")
    got = worker_pod_condition(pending, "recorder", RECORDER_POD, running)
    assert (got.reason, got.message) == ("RecorderPending", "recorder Pod p is Pending: no node")
    up = worker_pod_condition(PodObservation(name="p", exists=True, phase="Running"), "pusher", pusher, running)
    assert (up.status, up.reason, up.message) == ("False", *running)
    failed = PodObservation(name="p", exists=True, phase="Failed", detail="OOMKilled")
    got = worker_pod_condition(failed, "pusher", pusher, running)
    assert (got.reason, got.message) == ("PusherFailed", "pusher Pod p is Failed: OOMKilled")
