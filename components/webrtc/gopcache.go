package main

import "github.com/pion/rtp"

// gopCacheMaxPackets bounds the cache (≈ 1.8 MB, ≈ 5 s of 2.5 Mbit/s video): a source whose
// keyframes are further apart is not cached and joiners wait for its next keyframe instead. It
// stays below viewerMaxQueue so a whole cache always fits a joiner's queue.
const gopCacheMaxPackets = 1536

// gopCache holds the video RTP packets since the last keyframe start. A viewer that joins gets
// them first, so its decoder starts on a keyframe at once, without asking the encoder for a new
// one per joiner (which would cost every viewer a bitrate spike and the publisher a keyframe).
type gopCache struct {
	pkts      []*rtp.Packet
	bytes     int
	keyframes uint64 // keyframes seen since start
}

// add appends p; a packet that starts a new keyframe (an access unit with a new timestamp)
// replaces the cache. It reports whether p starts a keyframe.
func (g *gopCache) add(p *rtp.Packet) bool {
	key := isKeyframeStart(p.Payload)
	// SPS, PPS and the IDR's first fragment all look like a start: only the first packet of the
	// access unit (a new timestamp) opens a new GOP.
	if key && (len(g.pkts) == 0 || p.Timestamp != g.pkts[0].Timestamp) {
		g.reset()
		g.keyframes++
		g.pkts = append(g.pkts, p)
		g.bytes += len(p.Payload)
		return true
	}
	if len(g.pkts) == 0 {
		return key // no keyframe yet: nothing a joiner could start from
	}
	if len(g.pkts) >= gopCacheMaxPackets {
		g.reset()
		return key
	}
	g.pkts = append(g.pkts, p)
	g.bytes += len(p.Payload)
	return key
}

func (g *gopCache) reset() {
	clear(g.pkts) // let the packets go
	g.pkts = g.pkts[:0]
	g.bytes = 0
}

// snapshot returns the cached packets (shared, read-only).
func (g *gopCache) snapshot() []*rtp.Packet {
	return append([]*rtp.Packet(nil), g.pkts...)
}
