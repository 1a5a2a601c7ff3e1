"""The worker's loopback port picks stay out of the kernel's ephemeral range, where any socket's
bind(0) or connect() could take a port between the pick and the child's bind."""

from __future__ import annotations

import socket

from streamops.media.loopback_ports import (
    ephemeral_range,
    free_rtp_port,
    pickable_ports,
)


def test_the_sysctl_text_is_read_and_a_bad_one_falls_back_to_linux_default() -> None:
    assert ephemeral_range("32768\t60999\n") == (32768, 60999)
    assert ephemeral_range("1024 40000") == (1024, 40000)
    assert ephemeral_range("garbage") == (32768, 60999)


def test_picks_come_from_above_the_range_else_below_else_anywhere() -> None:
    assert pickable_ports((32768, 60999)) == range(61000, 65536)
    assert pickable_ports((10000, 65000)) == range(1024, 10000)  # 535 above: too few to pick from
    assert pickable_ports((1024, 65000)) == range(65001, 65536)  # nothing below: the few above
    assert pickable_ports((1024, 65535)) == range(1024, 65536)  # nothing outside at all


def test_picks_on_this_machine_are_free_and_outside_its_ephemeral_range() -> None:
    first, last = ephemeral_range()
    taken: set[int] = set()
    rtp = [free_rtp_port(taken) for _ in range(4)]
    assert taken == {p for port in rtp for p in (port, port + 1)}  # four disjoint pairs
    for port in taken:
        assert not first <= port <= last
    for port in taken:  # still free: a child can bind them
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", port))
