package main

// Connection caps: in all and per client address (an IPv6 client: its /64), for SRT callers and
// RTSP connections alike (one budget: a flood on one port cannot starve the other's readers of
// memory). A connection over a cap is refused before anything of it is parsed beyond the handshake.

import (
	"net"
	"net/netip"
	"sync"
)

type slots struct {
	mu         sync.Mutex
	max        int
	perAddress int
	total      int
	by         map[netip.Prefix]int
}

func newSlots(max, perAddress int) *slots {
	return &slots{max: max, perAddress: perAddress, by: map[netip.Prefix]int{}}
}

func source(addr net.Addr) netip.Prefix {
	var ip netip.Addr
	switch a := addr.(type) {
	case *net.UDPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p
	}
	p, _ := ip.Prefix(ip.BitLen())
	return p
}

// take reserves a slot for addr; false when a cap is full.
func (s *slots) take(addr net.Addr) (netip.Prefix, bool) {
	p := source(addr)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.total >= s.max || s.by[p] >= s.perAddress {
		return p, false
	}
	s.total++
	s.by[p]++
	return p, true
}

func (s *slots) give(p netip.Prefix) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total--
	if s.by[p]--; s.by[p] <= 0 {
		delete(s.by, p)
	}
}
