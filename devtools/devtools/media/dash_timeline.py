"""The media timeline of one DASH Representation as the ingest wrote it: each fragment's start and
end (tfdt + its samples' durations, read by the product's own fMP4 reader), and the holes between
them. A hole in the files is a hole in the player's buffer (MSE places media by its timestamps), so a
player's 'waiting' at one would be the ingest's; none in the files puts a buffer hole on the player.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from streamops.media.ingest.llhls.fragments import Fragment, InitSegment, fragments_of

# Timestamps are in 1/90000 s (video) or 1/48000 s (audio): 1 ms is well above rounding.
HOLE_TOLERANCE_SECONDS = 0.001


@dataclass(frozen=True)
class Hole:
    segment: str  # the file whose first fragment starts late
    ended: float  # seconds: where the fragment before it ended
    starts: float

    def __str__(self) -> str:
        return f"{self.segment}: {self.ended:.3f}-{self.starts:.3f} s ({(self.starts - self.ended) * 1000:.0f} ms)"


def timeline_holes(dash_dir: Path, representation: str) -> list[Hole]:
    """Holes (and overlaps, as a negative length) between consecutive fragments of the complete
    segments chunk-<representation>-<number>.m4s in `dash_dir` (all but the newest), in number order;
    segments missing from the window (numbers skipped) are no hole of this kind and are not looked
    across."""
    init = InitSegment.parse((dash_dir / f"init-{representation}.m4s").read_bytes())
    holes: list[Hole] = []
    previous: tuple[int, float] | None = None  # number, end of its last fragment
    numbered = sorted((int(p.stem.rsplit("-", 1)[1]), p) for p in dash_dir.glob(f"chunk-{representation}-*.m4s"))
    # The newest may still be written (LL-DASH's chunks), and the oldest may leave the window while
    # read: the one is not read, the other read as missing.
    for number, path in numbered[:-1]:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            continue
        fragments = [Fragment.parse(chunk, init) for chunk in fragments_of(data)]
        for i, fragment in enumerate(fragments):
            contiguous = previous is not None and (i > 0 or previous[0] == number - 1)
            if previous is not None and contiguous and abs(fragment.start - previous[1]) > HOLE_TOLERANCE_SECONDS:
                holes.append(Hole(path.name, previous[1], fragment.start))
            previous = (number, fragment.start + fragment.duration)
    return holes
