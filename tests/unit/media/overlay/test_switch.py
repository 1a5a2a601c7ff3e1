"""The renderer's reading of switch.json (streamops.media.overlay.switch) without Chromium: what is on
without a switch, and a new switch read once. The ingest's POST /overlays that writes it:
tests/unit/media/ingest/test_overlay_switch.py; a real renderer and ingest: tests/media/test_overlays.py."""

from __future__ import annotations

import os

from streamops.contract.overlay import SWITCH_FILE, OverlaySwitch
from streamops.media.overlay.switch import SwitchWatch, read_switch, switch_problem, switched_on, write_switch


def test_without_a_switch_every_overlay_is_off(tmp_path):
    names = ["logo", "score"]
    assert switched_on(None, names) == frozenset()
    assert switched_on(OverlaySwitch(enabled=["score"]), names) == {"score"}
    assert switch_problem(OverlaySwitch(enabled=["score", "logo"]), names) is None
    (tmp_path / SWITCH_FILE).write_text("{broken")
    assert read_switch(tmp_path) is None, "an unreadable switch turns nothing on"


def test_the_renderer_reads_the_switch_again_only_when_it_was_replaced(tmp_path):
    watch = SwitchWatch(tmp_path, ["logo", "score"])
    assert watch.poll() == frozenset(), "the first poll answers: nothing on without switch.json"
    assert watch.poll() is None
    write_switch(tmp_path, OverlaySwitch(enabled=["score"]))
    assert watch.poll() == {"score"}
    assert watch.poll() is None, "unchanged: not read again"
    stat = os.stat(tmp_path / SWITCH_FILE)
    write_switch(tmp_path, OverlaySwitch(enabled=["score", "logo"]))
    # The same mtime (a coarse clock) still counts as a change: each write is a new inode.
    os.utime(tmp_path / SWITCH_FILE, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert watch.poll() == {"logo", "score"} and watch.on == {"logo", "score"}
    (tmp_path / SWITCH_FILE).unlink()
    assert watch.poll() == frozenset(), "removed: every overlay off"
