package main

// The kernel's counters of a target's TCP socket (struct tcp_info, as `ss -ti` shows them), read
// by the relay itself with getsockopt and sent with each progress event: the Python supervisor's
// `live` and watchdog read what the target took from them (pusher/delivery.py), as they read an
// FFmpeg's socket through sock_diag, without a netlink lookup per target per tick.

import (
	"encoding/binary"
	"net"
	"syscall"
	"unsafe"
)

// Offsets in struct tcp_info (include/uapi/linux/tcp.h), as pusher/tcp_info.py reads them.
const (
	tcpInfoBytesAcked = 120 // u64, Linux 4.1
	tcpInfoNotsent    = 144 // u32, Linux 4.6
	tcpInfoSndWnd     = 228 // u32, Linux 5.4
	tcpInfoSize       = 256
)

type tcpCounters struct {
	acked, notsent, wnd *uint64 // nil: the kernel's struct is too short to hold it
}

func readTCPInfo(c *net.TCPConn) (tcpCounters, bool) {
	if c == nil {
		return tcpCounters{}, false
	}
	raw, err := c.SyscallConn()
	if err != nil {
		return tcpCounters{}, false
	}
	var buf [tcpInfoSize]byte
	size := uint32(len(buf))
	var errno syscall.Errno
	if raw.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall6(syscall.SYS_GETSOCKOPT, fd, syscall.IPPROTO_TCP, syscall.TCP_INFO,
			uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&size)), 0)
	}) != nil || errno != 0 {
		return tcpCounters{}, false
	}
	field := func(at, width int) *uint64 {
		if int(size) < at+width {
			return nil
		}
		var v uint64
		if width == 8 {
			v = binary.NativeEndian.Uint64(buf[at:])
		} else {
			v = uint64(binary.NativeEndian.Uint32(buf[at:]))
		}
		return &v
	}
	return tcpCounters{field(tcpInfoBytesAcked, 8), field(tcpInfoNotsent, 4), field(tcpInfoSndWnd, 4)}, true
}
