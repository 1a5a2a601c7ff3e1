package main

import (
	"time"

	"github.com/pion/rtp"
)

// sequencer rewrites one media kind's RTP numbering so that viewers and FFmpeg see one
// continuous stream although the source changes under them (a WHIP publisher reconnecting with a
// new SSRC, FFmpeg's RTP taking over from WHIP). Without it a receiver would see sequence numbers
// and timestamps jump and discard packets as late or duplicate.
type sequencer struct {
	clockRate uint32
	started   bool
	inSSRC    uint32
	inEpoch   uint64
	seqOffset uint16
	tsOffset  uint32
	lastSeq   uint16
	lastTS    uint32
	lastAt    time.Time
}

// rewrite returns a new packet (the input is left alone) with the continuous numbering and no
// header extensions: their IDs were negotiated with the publisher, not with the receivers.
func (s *sequencer) rewrite(p *rtp.Packet, epoch uint64, now time.Time) *rtp.Packet {
	if !s.started || p.SSRC != s.inSSRC || epoch != s.inEpoch {
		if s.started {
			// Continue right after the last packet sent; the timestamp advances by the wall-clock
			// gap so players keep their clock.
			gap := uint32(now.Sub(s.lastAt).Seconds() * float64(s.clockRate))
			s.seqOffset = s.lastSeq + 1 - p.SequenceNumber
			s.tsOffset = s.lastTS + max(gap, 1) - p.Timestamp
		}
		s.started, s.inSSRC, s.inEpoch = true, p.SSRC, epoch
	}
	out := &rtp.Packet{
		Header: rtp.Header{
			Version:        2,
			Marker:         p.Marker,
			PayloadType:    p.PayloadType,
			SequenceNumber: p.SequenceNumber + s.seqOffset,
			Timestamp:      p.Timestamp + s.tsOffset,
			SSRC:           p.SSRC,
		},
		Payload: p.Payload,
	}
	// Only a newer packet moves the reference (a reordered one must not pull it back).
	if int16(out.SequenceNumber-s.lastSeq) > 0 || s.lastAt.IsZero() {
		s.lastSeq, s.lastTS, s.lastAt = out.SequenceNumber, out.Timestamp, now
	}
	return out
}

// skip accounts for a packet that is dropped (padding only), so that it leaves no gap that
// receivers would NACK forever.
func (s *sequencer) skip() {
	s.seqOffset--
}
