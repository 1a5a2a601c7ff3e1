"""Pure decisions about one push run and the next: whether the feed's video is a codec the target
takes (`codec_refusal`), how a run ended (`classify_exit`), the line of FFmpeg's output that says why
(`telling_error`), how soon the feed is asked again (`feed_poll_seconds`), and backoff: the failure
streak (`Backoff`: `failures`, `failingSince` in the status) and the full-jitter delay before the
next try.
Why: docs/design/restream-accounting.md ("Failures"), docs/design/enhanced-rtmp.md ("Restream targets").
"""

from __future__ import annotations

import enum
import math
import random
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from streamops.contract.pusher import BackoffPolicy
from streamops.media.ffmpeg import untrusted_certificate_reason

_CODEC_NAMES = {"h264": "H.264", "hevc": "HEVC", "av1": "AV1"}


def codec_refusal(codec: str | None, accepted: Sequence[str], target_uri: str) -> str | None:
    """Why the feed is not pushed: its video is `codec`, which the target does not take (`accepted`,
    the Restream's targetVideoCodecs); None to push it. A feed whose codec is unknown (None: no PMT
    seen, or a video codec the workers do not name) is pushed as is. The sentence names no URL."""
    if codec is None or codec in accepted:
        return None
    said = f"the source's video is {codec} and the target takes {', '.join(accepted)} (spec.targetVideoCodecs)"
    if codec == "h264":
        return f"{said}: add h264, which every RTMP and SRT server takes"
    srt = target_uri.startswith("srt://")
    transcoded = "set spec.source: transcoded to send the ladder's H.264"
    if codec == "av1" and srt:
        return f"{said}: an srt:// target cannot take the workers' AV1 in MPEG-TS; {transcoded}"
    carriage = "in MPEG-TS" if srt else "over Enhanced RTMP"
    return f"{said}: add {codec} if the target takes {_CODEC_NAMES.get(codec, codec)} {carriage}, or {transcoded}"


# After the feed's session ended (a publisher's reconnect, a backup switch, an ingest handed over:
# issue 56), and after a target's start (a Restream added while live, a pusher's handover whose
# successor may meet the ingest's own handover: ci86's 6.1 s, handover.md Part 4), the next session
# comes within seconds: the feed is asked this often for that long, then at the idle pace (a
# pusher's FFmpeg run republishes as soon as it answers; the relay rejoins by itself).
REJOIN_POLL_SECONDS = 0.2
REJOIN_SECONDS = 5.0


def feed_poll_seconds(rejoin_since: float | None, now: float, idle_seconds: float) -> float:
    """How long to wait before asking the feed again: `REJOIN_POLL_SECONDS` within `REJOIN_SECONDS`
    of `rejoin_since` (monotonic seconds: the last session's end or the target's start; None:
    neither), else `idle_seconds`."""
    if rejoin_since is not None and 0 <= now - rejoin_since < REJOIN_SECONDS:
        return min(REJOIN_POLL_SECONDS, idle_seconds)
    return idle_seconds


def backoff_delay(attempt: int, initial: float, cap: float, u: float) -> float:
    """Full jitter: uniform in [0, min(cap, initial·2^attempt)]; u is a uniform draw in [0, 1]."""
    ceiling = cap if attempt >= 64 else min(cap, initial * math.pow(2, attempt))
    return max(0.0, min(u, 1.0)) * ceiling


class Backoff:
    """The failure streak behind backoff_delay: failures since the link last stayed up long enough
    (`attempt`), and when the streak began (`failing_since`)."""

    def __init__(self, policy: BackoffPolicy, rand: Callable[[], float] = random.random) -> None:
        self.policy = policy
        self.rand = rand
        self.attempt = 0
        self.failing_since: datetime | None = None

    def link_was_up(self, seconds: float) -> None:
        if seconds >= self.policy.reset_after_seconds:
            self.attempt = 0
            self.failing_since = None

    def next_delay(self, at: datetime | None = None) -> float:
        """One more failure (at `at`, which starts the streak if it is the first): the delay before the next try."""
        if self.attempt == 0:
            self.failing_since = at
        delay = backoff_delay(self.attempt, self.policy.initial_seconds, self.policy.max_seconds, self.rand())
        self.attempt += 1
        return delay


class Outcome(enum.Enum):
    SOURCE_ENDED = "source-ended"  # FFmpeg exited 0: the feed ended (publisher gone)
    SOURCE_UNAVAILABLE = "source-unavailable"  # the feed could not be opened (503, refused)
    TARGET_FAILED = "target-failed"
    STOPPED = "stopped"  # we were asked to stop


def classify_exit(returncode: int, lines: Iterable[str], feed_url: str) -> Outcome:
    """Why a run ended. FFmpeg exits 0 when its input ends; input errors are printed prefixed
    with the input URL; everything else that fails is the output (the target)."""
    if returncode == 0:
        return Outcome.SOURCE_ENDED
    if any(line.startswith(f"{feed_url}:") for line in lines):
        return Outcome.SOURCE_UNAVAILABLE
    return Outcome.TARGET_FAILED


_NOISE = ("Conversion failed!", "Last message repeated", "Exiting normally")
_ERROR_WORDS = ("error", "failed", "refused", "timed out", "broken pipe", "reset", "invalid", "not found", "denied")


def untrusted_certificate(lines: Sequence[str], target_uri: str) -> str | None:
    """The clear message for a target whose certificate FFmpeg refused (nothing was sent to it after
    the handshake, the key included), naming the target's host; None when it was something else."""
    why = untrusted_certificate_reason(lines)
    if why is None:
        return None
    host = target_uri.split("://", 1)[-1].split("/", 1)[0]
    return (
        f"the certificate of the target {host} is not trusted ({why}): nothing was sent to it; set "
        "tls.caSecretRef to the CA that signed it (or tls.insecureSkipVerify, which sends the key to whoever answers)"
    )


def telling_error(lines: Sequence[str], target_uri: str, returncode: int) -> str:
    """The line of FFmpeg's (redacted) output that says what went wrong: a refused certificate first
    (untrusted_certificate), else the first error about the target, else the first error at all (the
    cause, not the "Conversion failed!" that follows)."""
    untrusted = untrusted_certificate(lines, target_uri)
    if untrusted is not None:
        return untrusted
    useful = [line for line in lines if not any(n in line for n in _NOISE)]
    errors = [line for line in useful if any(w in line.lower() for w in _ERROR_WORDS)]
    about_target = [line for line in errors if target_uri.rstrip("/") in line]
    if about_target or errors:
        return (about_target or errors)[0]
    return useful[-1] if useful else f"ffmpeg exited with code {returncode}"
