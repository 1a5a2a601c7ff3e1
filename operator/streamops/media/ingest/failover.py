"""Which source a primary ingest puts on air, its own publisher's media or its backup's, and when it
asks the backup for its media. Pure: on_air.py feeds it what it saw and when, and applies the
answer. The rules and their numbers: docs/design/backup-failover.md (section 3).
"""

from __future__ import annotations

from dataclasses import dataclass

from streamops.contract.ingest import Role

# A healthy encoder sends every frame (≤ 40 ms apart at 25 fps, audio every ≈21 ms): 2 s without a
# byte is a source that stopped or froze, not jitter. The same span turns the ingest's `live` false.
SWITCH_SILENCE_SECONDS = 2.0
# Asking early costs a short uplink when the primary recovers; asking late costs failover time.
PREPARE_SILENCE_SECONDS = 1.0
# A gap longer than this restarts the primary's stability count (it is not "back and stable").
BREAK_SECONDS = PREPARE_SILENCE_SECONDS


@dataclass(frozen=True)
class Flow:
    """One source's media as seen so far: when its current unbroken run began and when its last
    byte came (monotonic seconds); Flow() while it has no session."""

    since: float | None = None
    last: float | None = None

    @staticmethod
    def started(now: float) -> Flow:
        return Flow(since=now, last=now)

    def media(self, now: float) -> Flow:
        """The flow after a byte at `now`: a gap longer than BREAK_SECONDS begins a new run."""
        if self.last is None or self.since is None or now - self.last > BREAK_SECONDS:
            return Flow(since=now, last=now)
        return Flow(since=self.since, last=now)

    def sending(self, now: float, silence: float = SWITCH_SILENCE_SECONDS) -> bool:
        return self.last is not None and now - self.last < silence

    def steady_for(self, now: float) -> float:
        """Seconds of media without a break up to `now` (0 when not sending)."""
        if self.since is None or not self.sending(now, BREAK_SECONDS):
            return 0.0
        return now - self.since


@dataclass(frozen=True)
class Decision:
    on_air: Role | None  # whose media to serve (unchanged when neither sends)
    wanted: bool  # ask the backup for its media


def decide(
    now: float, own: Flow, backup: Flow, on_air: Role | None, stable_seconds: float, yielding: bool = False
) -> Decision:
    """The primary's choice at `now`: `own` its own session's media, `backup` what its relay of the
    backup delivers, `on_air` whose media it serves now; `yielding`: a planned switchover puts the
    backup on air while it sends, own media or not (the primary is about to be replaced)."""
    own_sending, backup_sending = own.sending(now), backup.sending(now)
    choice: Role | None
    if yielding:  # the backup is asked at once; until its relay flows, the air stays as it is
        return Decision(on_air="backup" if backup_sending else "primary" if own_sending else on_air, wanted=True)
    if on_air == "backup" and backup_sending:
        choice = "primary" if own.steady_for(now) >= stable_seconds else "backup"
    elif own_sending:
        choice = "primary"
    elif backup_sending:
        choice = "backup"
    else:
        choice = on_air  # nothing sends: whatever was on air stays (its feed says it is over)
    wanted = choice == "backup" or not own.sending(now, PREPARE_SILENCE_SECONDS)
    return Decision(on_air=choice, wanted=wanted)
