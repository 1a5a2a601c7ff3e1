"""The kernel's TCP counters of a process's sockets (streamops.media.pusher.tcp_info): the netlink answer
parsed from bytes, and read for real from a loopback connection of this test process."""

from __future__ import annotations

import os
import socket
import struct
import threading

import pytest
from streamops.media.pusher import tcp_info as T


def diag_message(inode: int, peer: tuple[str, int], info: bytes, family: int = socket.AF_INET) -> bytes:
    dst = socket.inet_pton(family, peer[0]).ljust(16, b"\0")
    body = T._DIAG_MSG.pack(
        family, T.TCP_ESTABLISHED, 0, 0, struct.pack("!H", 40000), struct.pack("!H", peer[1]),
        bytes(16), dst, 0, bytes(8), 0, 0, 0, 1000, inode,
    )  # fmt: skip
    attr = T._RTATTR.pack(T._RTATTR.size + len(info), T.INET_DIAG_INFO) + info
    body += attr + bytes(-len(attr) % 4)
    return T._NLMSGHDR.pack(T._NLMSGHDR.size + len(body), T.SOCK_DIAG_BY_FAMILY, 2, 1, 0) + body


def tcp_info_bytes(acked: int, notsent: int, window: int = 0, length: int = 232) -> bytes:
    info = bytearray(length)
    if length >= 128:
        struct.pack_into("=Q", info, 120, acked)
    if length >= 148:
        struct.pack_into("=I", info, 144, notsent)
    if length >= 232:
        struct.pack_into("=I", info, 228, window)
    return bytes(info)


def test_a_dump_is_parsed_into_sockets_until_done():
    done = T._NLMSGHDR.pack(T._NLMSGHDR.size + 4, T.NLMSG_DONE, 2, 1, 0) + bytes(4)
    data = diag_message(7, ("10.0.0.9", 1935), tcp_info_bytes(3_100_000, 4096, 65_483))
    data += diag_message(8, ("fd00::1", 443), tcp_info_bytes(12, 0, 1_000), socket.AF_INET6) + done
    sockets, complete = T.parse_dump(data)
    assert complete
    assert sockets == [
        T.TcpCounters(7, ("10.0.0.9", 1935), 3_100_000, 4096, 65_483),
        T.TcpCounters(8, ("fd00::1", 443), 12, 0, 1_000),
    ]
    assert sockets[0].window_edge == 3_165_483


def test_an_old_kernels_short_tcp_info_gives_none_not_garbage():
    sockets, complete = T.parse_dump(diag_message(7, ("10.0.0.9", 1935), tcp_info_bytes(1, 1, length=104)))
    assert not complete and sockets == [T.TcpCounters(7, ("10.0.0.9", 1935), None, None)]
    sockets, _ = T.parse_dump(diag_message(7, ("10.0.0.9", 1935), tcp_info_bytes(1, 1, length=224)))  # Linux < 5.4
    assert sockets == [T.TcpCounters(7, ("10.0.0.9", 1935), 1, 1, None)] and sockets[0].window_edge is None


def test_the_acknowledged_bytes_of_a_real_loopback_connection():
    """What the peer's kernel acknowledged (plus one for the SYN), as `ss -ti` shows it."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        peer, _ = server.accept()
        with client, peer:
            sent = 300_000

            reader = threading.Thread(target=lambda: read_exactly(peer, sent), daemon=True)
            reader.start()
            client.sendall(b"x" * sent)
            reader.join(5)
            counters = []
            for _ in range(100):  # the last ACK may come a moment after sendall returned
                counters = [s for s in T.process_tcp(os.getpid()) if s.peer == server.getsockname()]
                if counters and counters[0].bytes_acked == sent + 1:
                    break
                threading.Event().wait(0.01)
            [mine] = counters
            assert mine.bytes_acked == sent + 1 and mine.notsent == 0
            assert mine.inode in T.socket_inodes(os.getpid())


def test_the_window_edge_holds_still_while_the_reader_does_not_read_though_its_kernel_acknowledges():
    """What the pusher's `live` rests on, on this kernel: a reader with a big receive buffer
    (8 MiB, as autotuning grows it under load) that stops reading goes on acknowledging until the
    buffer is full, but the right edge of its window moves by a small fraction of that; reading
    moves it by what was read."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)  # the kernel doubles it
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        client = socket.create_connection(listener.getsockname())
        peer, _ = listener.accept()
        with client, peer:

            def target() -> T.TcpCounters:
                [mine] = [s for s in T.process_tcp(os.getpid()) if s.peer == listener.getsockname()]
                assert mine.window_edge is not None, "this kernel reports no snd_wnd (Linux >= 5.4)"
                return mine

            def acked_up_to(count: int) -> T.TcpCounters:
                for _ in range(200):  # the last ACK may come a moment after sendall returned
                    if (now := target()).bytes_acked == count + 1:
                        return now
                    threading.Event().wait(0.01)
                raise AssertionError(f"not acknowledged: {target()}")

            # A new connection's window opens as data arrives, read or not (rcv_ssthresh grows by
            # twice what arrives): 16 MB read first, as a stream that has been live a while.
            warm_up = 16_000_000
            reader = threading.Thread(target=lambda: read_exactly(peer, warm_up), daemon=True)
            reader.start()
            client.sendall(b"x" * warm_up)
            reader.join(10)
            client.sendall(b"z")  # a window opened by reading is told with the next ACK, this one's
            # Once the reader stops, its window may first open up to its clamp in one step (0.07 to
            # 0.53 MB measured here, whatever the unread amount: the pusher's first 0.5 s sample
            # after a stop may see it); from there the edge creeps. The creep is what `live` rests on.
            client.sendall(b"x" * 1_000_000)  # nobody reads: the peer's buffer takes it
            before = acked_up_to(warm_up + 1_000_001)
            client.sendall(b"x" * 2_000_000)
            unread = acked_up_to(warm_up + 3_000_001)
            assert unread.window_edge is not None and before.window_edge is not None
            print(f"\nMEASURED edge moved {unread.window_edge - before.window_edge} with 2 MB acknowledged unread")
            assert unread.window_edge - before.window_edge < 2_000_000 // 4, (before, unread)
            read_exactly(peer, 3_000_001)
            client.sendall(b"y")
            read = acked_up_to(warm_up + 3_000_002)
            assert read.window_edge is not None and read.window_edge - unread.window_edge >= 2_000_000 // 4


def read_exactly(sock: socket.socket, count: int) -> None:
    got = 0
    while got < count and (chunk := sock.recv(1 << 20)):
        got += len(chunk)


def test_a_process_without_sockets_or_gone_has_none():
    assert T.process_tcp(2**22 + 12345) == []  # beyond pid_max: no such process


@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6])
def test_the_dump_of_this_namespace_is_readable_unprivileged(family):
    assert isinstance(T.established_tcp((family,)), list)


def test_one_socket_is_read_again_by_its_addresses_until_it_closes():
    """The pusher finds its target's socket in a dump once, then reads just that one each tick:
    the exact lookup gives the same socket, its counters moving, and None once it is closed."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        peer, _ = server.accept()
        with peer:
            [found] = [s for s in T.process_tcp(os.getpid()) if s.peer == server.getsockname()]
            assert found.local == client.getsockname()
            client.sendall(b"x" * 5000)
            assert peer.recv(1 << 16)
            again = None
            for _ in range(100):  # the ACK may come a moment after sendall returned
                again = T.socket_counters(found)
                if again and again.bytes_acked == (found.bytes_acked or 0) + 5000:
                    break
                threading.Event().wait(0.01)
            assert again is not None and again.inode == found.inode
            assert again.bytes_acked == (found.bytes_acked or 0) + 5000
            client.close()
            assert T.socket_counters(found) is None
    gone = T.TcpCounters(found.inode, found.peer, None, None)  # no local address known
    assert T.socket_counters(gone) is None
