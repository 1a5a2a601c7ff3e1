package main

import (
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
)

func TestIsKeyframeStart(t *testing.T) {
	for _, tc := range []struct {
		name    string
		payload []byte
		want    bool
	}{
		{"SPS", []byte{0x67, 1}, true},
		{"IDR", []byte{0x65, 1}, true},
		{"P slice", []byte{0x41, 1}, false},
		{"FU-A IDR start", []byte{0x7c, 0x85, 1}, true},
		{"FU-A IDR middle", []byte{0x7c, 0x05, 1}, false},
		{"FU-A P start", []byte{0x7c, 0x81, 1}, false},
		{"STAP-A SPS PPS", []byte{0x78, 0, 2, 0x67, 1, 0, 2, 0x68, 1}, true},
		{"STAP-A SEI P", []byte{0x78, 0, 2, 0x06, 1, 0, 2, 0x41, 1}, false},
		{"STAP-A truncated", []byte{0x78, 0, 9}, false},
		{"empty", nil, false},
	} {
		if got := isKeyframeStart(tc.payload); got != tc.want {
			t.Errorf("%s: %v", tc.name, got)
		}
	}
}

func pkt(seq uint16, ts uint32, payload ...byte) *rtp.Packet {
	return &rtp.Packet{Header: rtp.Header{SequenceNumber: seq, Timestamp: ts, SSRC: 1}, Payload: payload}
}

// The cache keeps SPS, PPS and IDR of one access unit together and restarts at the next one.
func TestGOPCache(t *testing.T) {
	var g gopCache
	g.add(pkt(1, 0, 0x41)) // P before any keyframe: not cached
	if len(g.pkts) != 0 {
		t.Fatal("cached a P frame without a keyframe")
	}
	g.add(pkt(2, 100, 0x67))       // SPS
	g.add(pkt(3, 100, 0x68))       // PPS
	g.add(pkt(4, 100, 0x7c, 0x85)) // IDR start, same access unit
	g.add(pkt(5, 200, 0x41))
	if len(g.pkts) != 4 || g.keyframes != 1 {
		t.Fatalf("cache %d packets, %d keyframes", len(g.pkts), g.keyframes)
	}
	g.add(pkt(6, 300, 0x65))
	if len(g.pkts) != 1 || g.pkts[0].SequenceNumber != 6 || g.keyframes != 2 {
		t.Fatalf("new GOP: %d packets", len(g.pkts))
	}
}

// A new source (another SSRC) continues the numbering of the old one.
func TestSequencerContinuesAcrossSources(t *testing.T) {
	s := sequencer{clockRate: 90000}
	now := time.Now()
	a := s.rewrite(&rtp.Packet{Header: rtp.Header{SequenceNumber: 100, Timestamp: 5000, SSRC: 1}, Payload: []byte{1}}, 1, now)
	b := s.rewrite(&rtp.Packet{Header: rtp.Header{SequenceNumber: 101, Timestamp: 8000, SSRC: 1}, Payload: []byte{1}}, 1, now)
	s.skip() // a padding packet dropped
	c := s.rewrite(&rtp.Packet{Header: rtp.Header{SequenceNumber: 103, Timestamp: 11000, SSRC: 1}, Payload: []byte{1}}, 1, now)
	d := s.rewrite(&rtp.Packet{Header: rtp.Header{SequenceNumber: 40000, Timestamp: 7, SSRC: 2}, Payload: []byte{1}}, 2, now.Add(time.Second))
	if a.SequenceNumber != 100 || b.SequenceNumber != 101 || c.SequenceNumber != 102 || d.SequenceNumber != 103 {
		t.Errorf("sequence %d %d %d %d", a.SequenceNumber, b.SequenceNumber, c.SequenceNumber, d.SequenceNumber)
	}
	if d.Timestamp != c.Timestamp+90000 {
		t.Errorf("timestamp after the switch %d, want %d", d.Timestamp, c.Timestamp+90000)
	}
}

// A port that cannot be bound is an error naming it, with what was opened before released (a
// deferred close on a nil component once panicked here instead).
func TestStartFailsCleanlyOnABusyPort(t *testing.T) {
	busy, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := testConfig()
	cfg.RTPInVideoPort = busy.LocalAddr().(*net.UDPAddr).Port
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	c, err := newComponent(cfg, log)
	if err == nil || c != nil || !strings.Contains(err.Error(), "RTP input") {
		t.Fatalf("component %v, error %v", c, err)
	}
}
