"""The scopes tests run in (devtools.test_scopes) and the summary of a run's timeline
(devtools.test_timeline)."""

from __future__ import annotations

from devtools.test_scopes import scope_name
from devtools.test_timeline import summary


def test_scopes():
    assert scope_name("tests/multinode/test_network.py::test_x") == "host"
    assert scope_name("tests/e2e/test_installed.py::test_x") == "host"
    assert scope_name("tests/e2e/node/test_node_flow.py::test_x") == "e2e/node/test_node_flow.py"
    assert scope_name("tests/cluster/test_clips.py::test_x[a]") == "cluster"
    assert scope_name("tests/media/test_ingest.py::test_x") == "media/test_ingest.py"


def test_summary_shows_each_workers_idle_tail_and_the_longest_scope_first():
    lines = [
        "100.00 start gw0 tests/multinode/test_a.py::t",
        "100.00 start gw1 tests/media/test_b.py::t",
        "160.00 finish gw1 tests/media/test_b.py::t",
        "400.00 finish gw0 tests/multinode/test_a.py::t",
        "500.00 start gw1 tests/media/test_c.py::t",  # never finished: not counted
        "100.00 start main tests/media/test_b.py::t",  # the controller's relay of gw1's
        "160.00 finish main tests/media/test_b.py::t",
    ]
    text = summary(lines, scope_name).splitlines()
    assert text[0] == "wall 5.0 min, 2 tests, 6.0 min of tests"
    assert text[2].split() == ["gw0", "5.0", "5.0", "0.0"]
    assert text[3].split() == ["gw1", "1.0", "1.0", "4.0"]
    assert text[5].split()[:3] == ["host", "0.0", "5.0"]


def test_the_cpu_of_each_test_is_its_workers_and_reaped_childrens_difference_from_start_to_finish():
    lines = [
        "100.00 start gw0 cpu=10.00 tests/media/test_b.py::t[with space]",
        "110.00 finish gw0 cpu=14.50 tests/media/test_b.py::t[with space]",
        "110.00 start gw0 cpu=14.50 tests/media/test_b.py::u",
        "130.00 finish gw0 cpu=15.00 tests/media/test_b.py::u",
    ]
    text = summary(lines, scope_name).splitlines()
    assert text[0] == "wall 0.5 min, 2 tests, 0.5 min of tests, 0.1 core-min in the workers and their reaped children"
    assert text[4].split()[-1] == "5"  # the module's scope: 4.5 + 0.5 s
    assert text[6].split() == ["4.5", "10.0", "tests/media/test_b.py::t[with", "space]"]
    assert text[7].split()[:2] == ["0.5", "20.0"]
