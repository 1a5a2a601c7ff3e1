package main

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/logging"
)

// candidates returns the a=candidate lines of an SDP.
func candidates(sdp string) []string {
	var out []string
	for _, l := range strings.Split(sdp, "\r\n") {
		if strings.HasPrefix(l, "a=candidate:") {
			out = append(out, l)
		}
	}
	return out
}

// The answer carries host candidates on the shared ports only, on loopback here.
func TestAnswerCandidatesUseTheSharedPorts(t *testing.T) {
	c, base := startComponent(t, testConfig())
	_, offer := newTestPublisher(t, allCodecs)
	code, _, answer := postSDP(t, base+"/whip", "application/sdp", offer)
	if code != http.StatusCreated {
		t.Fatalf("%d %s", code, answer)
	}
	st := c.status()
	udp, tcp := strings.Split(st.ICEUDP[0], ":")[1], strings.Split(st.ICETCP, ":")[1]
	cands := candidates(answer)
	if len(cands) == 0 {
		t.Fatal("no candidates")
	}
	var sawUDP, sawTCP bool
	for _, cand := range cands {
		f := strings.Fields(cand) // foundation component transport priority address port typ type
		if f[4] != "127.0.0.1" || f[7] != "host" {
			t.Errorf("candidate not a loopback host candidate: %s", cand)
		}
		switch strings.ToLower(f[2]) {
		case "udp":
			sawUDP = f[5] == udp
		case "tcp":
			sawTCP = f[5] == tcp
		}
	}
	if !sawUDP || !sawTCP {
		t.Errorf("want UDP port %s and TCP port %s in %v", udp, tcp, cands)
	}
}

// The advertised address and ports (a NodePort) replace the local ones in the candidates.
// 127.0.0.2 stands for the node address: no packet is sent here, only the answer is read.
func TestAdvertisedAddressReplacesTheLocalOne(t *testing.T) {
	cfg := testConfig()
	cfg.AdvertiseIPs = []string{"127.0.0.2"}
	cfg.AdvertiseUDPPort, cfg.AdvertiseTCPPort = 30189, 30190
	_, base := startComponent(t, cfg)
	_, offer := newTestPublisher(t, allCodecs)
	code, _, answer := postSDP(t, base+"/whip", "application/sdp", offer)
	if code != http.StatusCreated {
		t.Fatalf("%d %s", code, answer)
	}
	for _, cand := range candidates(answer) {
		f := strings.Fields(cand)
		want := strconv.Itoa(cfg.AdvertiseUDPPort)
		if strings.EqualFold(f[2], "tcp") {
			want = strconv.Itoa(cfg.AdvertiseTCPPort)
		}
		if f[4] != "127.0.0.2" || f[5] != want {
			t.Errorf("candidate %s: want 127.0.0.2:%s", cand, want)
		}
	}
}

func TestConfigRefusesAControlAPIOffLoopback(t *testing.T) {
	if _, err := parseConfig([]string{"--control", "0.0.0.0:8190"}); err == nil {
		t.Error("a control API on 0.0.0.0 was accepted")
	}
	c, err := parseConfig([]string{"--control", "127.0.0.1:9", "--ice-allow-ip", "10.0.0.0/8, 127.0.0.0/8", "--advertise-ip", "192.0.2.1"})
	if err != nil || len(c.ICEAllowedNets) != 2 || c.AdvertiseIPs[0] != "192.0.2.1" {
		t.Errorf("%+v %v", c, err)
	}
}

// With no address in --ice-udp the port is bound on every allowed local IP, and only there:
// 127.0.0.1 here (the filter is what keeps the tests on loopback).
func TestICEUDPPortOnAllowedAddressesOnly(t *testing.T) {
	port := freeUDPPort(t)
	cfg := testConfig()
	cfg.ICEUDP = ":" + strconv.Itoa(port)
	c, _ := startComponent(t, cfg)
	got := c.status().ICEUDP
	if len(got) == 0 {
		t.Fatal("no UDP address")
	}
	for _, a := range got {
		if a != "127.0.0.1:"+strconv.Itoa(port) {
			t.Errorf("UDP mux bound on %s", a)
		}
	}
}

// lineSignal is a pion log writer that signals once a line containing `text` is written.
type lineSignal struct {
	text string
	seen chan struct{}
}

func (w lineSignal) Write(p []byte) (int, error) {
	if strings.Contains(string(p), w.text) {
		select {
		case w.seen <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

// A peer that opened an ICE-TCP connection and then sent nothing (unreachable since, or its packets
// dropped by a firewall) does not hold the transport's close: pion's TCP mux waits up to 30 s for
// a connection's first STUN message, and the component's exit on SIGTERM waited with it (the
// worker KILLs it after 3 s).
func TestClosingDoesNotWaitForASilentICETCPPeer(t *testing.T) {
	accepted := lineSignal{"Accepted connection", make(chan struct{}, 1)}
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelError
	lf.ScopeLevels["tcpmux"] = logging.LogLevelDebug
	lf.Writer = accepted
	cfg := testConfig()
	tr, err := newICETransport(cfg, candidateFilter{nets: cfg.ICEAllowedNets}, lf)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp4", tr.tcpAddr.String())
	if err != nil {
		tr.close()
		t.Fatal(err)
	}
	defer conn.Close()
	select {
	case <-accepted.seen: // the mux holds it, waiting for its first message
	case <-time.After(10 * time.Second):
		tr.close()
		t.Fatal("the TCP mux never accepted the connection")
	}
	closed := make(chan struct{})
	go func() {
		tr.close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(10 * time.Second): // a third of the mux's 30 s wait: well apart either way
		t.Fatal("closing the ICE transport waited for the silent peer's first STUN message")
	}
}
