package main

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"
)

// socketBuffer: every viewer's media leaves through the one UDP socket (50 viewers of 2.5 Mbit/s
// ≈ 16 MB/s); the kernel caps it at net.core.[rw]mem_max.
const socketBuffer = 4 << 20

// iceTransport owns the one UDP port (and the one TCP port) that every peer connection shares.
type iceTransport struct {
	udpMux  ice.UDPMux
	tcpMux  ice.TCPMux
	udpAddr []net.Addr // what the UDP mux listens on (tests read the port)
	tcpAddr net.Addr
}

// candidateFilter decides which local IPs and interfaces may appear in candidates. It is the
// network-confinement switch: tests allow 127.0.0.0/8 only.
type candidateFilter struct {
	nets   []netip.Prefix
	ifaces []string
}

// allowsIP: with no --ice-allow-ip, every address but loopback (a Pod's lo is useless to peers).
func (f candidateFilter) allowsIP(ip net.IP) bool {
	if len(f.nets) == 0 {
		return !ip.IsLoopback()
	}
	return containsIP(f.nets, ip)
}

func (f candidateFilter) allowsInterface(name string) bool {
	return len(f.ifaces) == 0 || slices.Contains(f.ifaces, name)
}

// allowsLoopback: pion drops loopback candidates unless told otherwise.
func (f candidateFilter) allowsLoopback() bool {
	return containsIP(f.nets, net.IPv4(127, 0, 0, 1)) || containsIP(f.nets, net.IPv6loopback)
}

func newICETransport(c Config, f candidateFilter, lf logging.LoggerFactory) (*iceTransport, error) {
	t := &iceTransport{}
	host, portStr, _ := net.SplitHostPort(c.ICEUDP)
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("--ice-udp port: %w", err)
	}
	if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
		// A fixed address: one socket.
		conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: ip, Port: port})
		if err != nil {
			return nil, fmt.Errorf("ICE UDP: %w", err)
		}
		_ = conn.SetReadBuffer(socketBuffer)
		_ = conn.SetWriteBuffer(socketBuffer)
		t.udpMux = webrtc.NewICEUDPMux(lf.NewLogger("udpmux"), conn)
		t.udpAddr = []net.Addr{conn.LocalAddr()}
	} else {
		// Any address: the same port on every allowed local IP (a Pod has one, a host network may
		// have several), gathered with the same filters as the candidates.
		if port == 0 {
			return nil, fmt.Errorf("--ice-udp %q: a port is needed when no address is given", c.ICEUDP)
		}
		opts := []ice.UDPMuxFromPortOption{
			ice.UDPMuxFromPortWithIPFilter(f.allowsIP),
			ice.UDPMuxFromPortWithInterfaceFilter(f.allowsInterface),
			ice.UDPMuxFromPortWithNetworks(ice.NetworkTypeUDP4),
			ice.UDPMuxFromPortWithLogger(lf.NewLogger("udpmux")),
			ice.UDPMuxFromPortWithReadBufferSize(socketBuffer),
			ice.UDPMuxFromPortWithWriteBufferSize(socketBuffer),
		}
		if f.allowsLoopback() {
			opts = append(opts, ice.UDPMuxFromPortWithLoopback())
		}
		m, err := ice.NewMultiUDPMuxFromPort(port, opts...)
		if err != nil {
			return nil, fmt.Errorf("ICE UDP: %w", err)
		}
		t.udpMux = m
		t.udpAddr = m.GetListenAddresses()
	}
	if c.ICETCP != "" {
		l, err := net.Listen("tcp4", c.ICETCP)
		if err != nil {
			t.close()
			return nil, fmt.Errorf("ICE TCP: %w", err)
		}
		t.tcpMux = webrtc.NewICETCPMux(lf.NewLogger("tcpmux"), newClosingListener(l), 8)
		t.tcpAddr = l.Addr()
	}
	return t, nil
}

func (t *iceTransport) close() {
	if t.udpMux != nil {
		_ = t.udpMux.Close()
	}
	if t.tcpMux != nil {
		_ = t.tcpMux.Close()
	}
}

// closingListener closes, with itself, every connection it accepted. pion's TCP mux reads a new
// connection's first STUN message for up to 30 s (FirstStunBindTimeout), and its Close waits for
// that read: a peer that connected and then fell silent (unreachable, or dropped by a firewall)
// held the component's exit on SIGTERM that long, so the worker KILLed it after its 3 s grace
// (docs/design/webrtc.md). The connections the mux took over it closes itself; a second Close of
// one only returns an error.
type closingListener struct {
	net.Listener
	mu     sync.Mutex
	closed bool
	conns  map[*closingConn]struct{}
}

func newClosingListener(l net.Listener) *closingListener {
	return &closingListener{Listener: l, conns: map[*closingConn]struct{}{}}
}

func (l *closingListener) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed { // accepted as Close ran: it would be missed
		_ = conn.Close()
		return nil, net.ErrClosed
	}
	c := &closingConn{Conn: conn, l: l}
	l.conns[c] = struct{}{}
	return c, nil
}

func (l *closingListener) Close() error {
	l.mu.Lock()
	l.closed = true
	conns := l.conns
	l.conns = map[*closingConn]struct{}{}
	l.mu.Unlock()
	err := l.Listener.Close()
	for c := range conns {
		_ = c.Conn.Close()
	}
	return err
}

// closingConn leaves its listener's set when closed (sessions come and go on a long-lived mux).
type closingConn struct {
	net.Conn
	l *closingListener
}

func (c *closingConn) Close() error {
	c.l.mu.Lock()
	delete(c.l.conns, c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}

// settingEngine: host candidates only (no STUN, no TURN, no mDNS), on the shared ports, with the
// advertised address in place of the local one when the worker gives one.
func settingEngine(c Config, f candidateFilter, t *iceTransport, lf logging.LoggerFactory) (webrtc.SettingEngine, error) {
	var s webrtc.SettingEngine
	s.LoggerFactory = lf
	s.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	s.SetIPFilter(f.allowsIP)
	s.SetInterfaceFilter(f.allowsInterface)
	s.SetIncludeLoopbackCandidate(f.allowsLoopback())
	// A publisher that vanishes frees its slot (one publisher at a time) within ~10 s.
	s.SetICETimeouts(5*time.Second, 10*time.Second, 2*time.Second)
	s.SetICEUDPMux(t.udpMux)
	networks := []webrtc.NetworkType{webrtc.NetworkTypeUDP4}
	if t.tcpMux != nil {
		s.SetICETCPMux(t.tcpMux)
		networks = append(networks, webrtc.NetworkTypeTCP4)
	}
	s.SetNetworkTypes(networks)
	if len(c.AdvertiseIPs) > 0 {
		rules := []webrtc.ICEAddressRewriteRule{advertiseRule(c.AdvertiseIPs, webrtc.NetworkTypeUDP4, t.udpAddr[0], c.AdvertiseUDPPort)}
		if t.tcpMux != nil {
			rules = append(rules, advertiseRule(c.AdvertiseIPs, webrtc.NetworkTypeTCP4, t.tcpAddr, c.AdvertiseTCPPort))
		}
		if err := s.SetICEAddressRewriteRules(rules...); err != nil {
			return s, fmt.Errorf("advertised addresses: %w", err)
		}
	}
	return s, nil
}

func containsIP(nets []netip.Prefix, ip net.IP) bool {
	addr, ok := netip.AddrFromSlice(ip)
	if !ok {
		return false
	}
	addr = addr.Unmap()
	for _, n := range nets {
		if n.Contains(addr) {
			return true
		}
	}
	return false
}

// advertiseRule puts the advertised IPs (and port, when the Service maps it) in place of the
// local ones. pion matches a port rewrite by the original port only, not by network: hence
// OriginalPort (and the check in validate that UDP and TCP do not share a port then).
func advertiseRule(ips []string, network webrtc.NetworkType, listen net.Addr, port int) webrtc.ICEAddressRewriteRule {
	r := webrtc.ICEAddressRewriteRule{
		External:        ips,
		AsCandidateType: webrtc.ICECandidateTypeHost,
		Mode:            webrtc.ICEAddressRewriteReplace,
		Networks:        []webrtc.NetworkType{network},
	}
	if port != 0 {
		r.OriginalPort, r.NewPort = addrPort(listen), port
	}
	return r
}

func addrPort(a net.Addr) int {
	switch a := a.(type) {
	case *net.UDPAddr:
		return a.Port
	case *net.TCPAddr:
		return a.Port
	}
	return 0
}
