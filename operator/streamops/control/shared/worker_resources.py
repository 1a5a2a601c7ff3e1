"""Default CPU and memory of the worker containers, by worker: measured, and overridable per
worker by the cluster's admin (the chart's `worker.resources`, STREAMOPS_WORKER_RESOURCES). A
LiveStream's own `spec.resources` still wins for its ingest.

Requests are what a worker uses with some room (the scheduler packs nodes by them); memory limits
leave several times the peak, and there is no CPU limit: throttling FFmpeg mid-stream drops frames.
"""

from __future__ import annotations

from pydantic import Field

from streamops.api.common import KubeModel, ResourceAmounts, Resources


def _resources(cpu: str, memory: str, memory_limit: str) -> Resources:
    return Resources(requests=ResourceAmounts(cpu=cpu, memory=memory), limits=ResourceAmounts(memory=memory_limit))


class WorkerResources(KubeModel):
    """Each worker's default; one given here replaces that worker's default whole."""

    # Copy (bench/results/media.md, 2026-11-24 06:54, idle, 2.5 Mbit/s publisher, HLS fMP4 + TS, the
    # workers' FFmpeg build): 3.9 % of a core (6.2 % on 2026-11-23) and 70 MiB peak RSS (Python
    # ≈51.5 MiB, FFmpeg 15.6); LL-HLS adds ≈6 % of RSS. With 50 Restreams reading its feed: 9.2 % and
    # 45 MiB of PSS. The limit leaves room for the GOP cache and the feed's fan-out to many consumers.
    ingest: Resources = Field(
        default_factory=lambda: _resources("75m", "96Mi", "512Mi"),
        description="An ingest that copies the stream (no transcoding renditions).",
    )
    # A 720p+360p x264 ladder measured at ≈80 % of a core.
    transcoding: Resources = Field(
        default_factory=lambda: _resources("1", "256Mi", "1Gi"),
        description="An ingest with transcoding renditions.",
    )
    # bench/results/media.md (2026-11-24 06:54, idle, 2.5 Mbit/s copy to nginx-rtmp): one pusher 1.0 %
    # of a core (1.8 % on 2026-11-23; Python 0.1 %), RSS 54 MiB (its Python ≈36); 50 pushers of one
    # stream ≈1 % of a core and 26.1 MiB of PSS each (Python 21.4, FFmpeg 4.4: shared pages count once
    # per node). Request the CPU it uses and a little over its share of a node's memory. Since issue 53
    # one pusher Pod carries all of a stream's Restreams (docs/design/shared-pusher.md): 50 targets
    # measured at 262 MiB of PSS (Python 31 once, FFmpeg 4.6 a target), and each stalled target's
    # FFmpeg buffers grow until the 8 s watchdog (≈4 MB at 4 Mbit/s, plus its ≈2.7 MB send buffer).
    # The limit cannot follow the count without replacing the Pod (every target reconnecting), so it
    # holds 50 targets with a third of them stalled.
    pusher: Resources = Field(
        default_factory=lambda: _resources("25m", "48Mi", "1Gi"),
        description="A stream's pusher (all its Restreams).",
    )
    # bench/results/media.md (idle, 2.5 Mbit/s copy into fragmented MP4): a recording recorder uses
    # 0.6–1.0 % of a core and 52–53 MiB RSS (its FFmpeg ≈15); finalising runs a second FFmpeg (the
    # concat join, ≈15 MiB) beside the next part's, and an upload adds boto3 and an S3 client (≈30 MiB)
    # and 8 MiB parts: ≈110 MiB at the peak. A standby (recording.standby) waits in 23 MiB but becomes
    # this recorder in the same Pod, so it requests the same. Limit ≈4.7x the peak (a join of a 4 h
    # video reads and writes through the page cache, which counts here too).
    recorder: Resources = Field(
        default_factory=lambda: _resources("25m", "64Mi", "512Mi"),
        description="A recorder (recording or on standby).",
    )
