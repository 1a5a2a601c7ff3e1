"""A Clip's tick observe (runtime/tick.py): every read of a tick, none of its decisions — the loop's
facts, its clipper from the pod index, its stream from the stream index, the clipper's /status, the
quota while no clipper runs and the Clip is not done (a clipper made is too late to refuse), and what
the deletions the last tick asked for did. Its stream's changes wake it; its clipper's restarts are
reported."""

from __future__ import annotations

from streamops.api import CLIP
from streamops.contract.clipper import ClipperStatus
from streamops.control.clip.decide import ClipObserved
from streamops.control.clip.outcome import ClipOutcome
from streamops.control.clip.reconcile import final_in_status
from streamops.control.clip.specs.names import CLIPPER_COMPONENT
from streamops.control.runtime.indexes import indexed_stream, worker_pod
from streamops.control.runtime.object_loop import ObjectLoop
from streamops.control.runtime.tick import loop_facts
from streamops.control.storage.storing_tick import Reads


async def observe(loop: ObjectLoop[ClipOutcome], reads: Reads[ClipperStatus]) -> ClipObserved:
    facts, state, indexes = loop_facts(loop), loop.state, reads.indexes
    namespace, name = loop.namespace, loop.name
    stream_ref = str((loop.body.spec.get("streamRef") or {}).get("name") or "")
    pod = worker_pod(indexes.pods, namespace, CLIP.kind, name, CLIPPER_COMPONENT)
    checked = pod is None and not final_in_status({"status": loop.writer.written})
    if checked:
        reads.quota.check(state.settings, indexes, namespace, stream_ref)
    state.follow(loop.key, namespace, stream_ref)
    loop.report_restarts(stream_ref, {"clipper": [pod]})
    videos_deleted, _ = reads.take_deleted()
    return ClipObserved(
        facts=facts,
        outcome=loop.outcome,
        body=loop.body,
        written=loop.writer.written,
        pod=pod,
        stream=indexed_stream(indexes.streams, namespace, stream_ref),
        telemetry=await reads.reader.read(state.client, pod) if state.client else None,
        quota=reads.quota.quota,
        quota_checked=checked,
        videos_deleted=videos_deleted,
    )
