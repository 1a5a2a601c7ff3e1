package mux

import (
	"fmt"
	"time"
)

const (
	pmtPID   = 0x1000
	videoPID = 0x100
	audioPID = 0x101

	// tsOffset moves every timestamp 1.4 s up and the PCR runs 0.7 s behind the DTS, as FFmpeg's
	// mpegts muxer does (its default max_delay): a decoder's buffer model has room, and the first
	// PTS (before the first DTS with B-frames) stays positive.
	tsOffset  = 126000
	pcrBehind = 63000
	tsMask    = 1<<33 - 1
)

// crc32MPEG is CRC-32/MPEG-2 (no reflection, no final xor), which hash/crc32 does not compute. It
// runs twice a segment, on the 17- and 22-byte PSI sections.
func crc32MPEG(b []byte) uint32 {
	crc := uint32(0xffffffff)
	for _, v := range b {
		crc ^= uint32(v) << 24
		for i := 0; i < 8; i++ {
			if crc&0x80000000 != 0 {
				crc = crc<<1 ^ 0x04C11DB7
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// tsWriter frames PES packets straight into 188-byte TS packets in one reused buffer: the PAT and
// PMT are built once, nothing goes through a bit writer.
type tsWriter struct {
	ccVideo, ccAudio, ccPAT, ccPMT uint8
	tables                         []byte // PAT + PMT packets (continuity counters patched per write)
	buf                            []byte
	src                            [][]byte // reused: the PES header and payload parts
	af                             []byte   // reused: an adaptation field
}

func newTSWriter(audio bool) *tsWriter {
	t := &tsWriter{}
	pat := []byte{0x00, 0xb0, 0x0d, 0x00, 0x01, 0xc1, 0x00, 0x00, 0x00, 0x01, 0xe0 | pmtPID>>8, pmtPID & 0xff}
	pmt := []byte{0x02, 0xb0, 0x00, 0x00, 0x01, 0xc1, 0x00, 0x00, 0xe0 | videoPID>>8, videoPID & 0xff, 0xf0, 0x00,
		0x1b, 0xe0 | videoPID>>8, videoPID & 0xff, 0xf0, 0x00} // PCR on the video PID; stream type 0x1b H.264
	if audio {
		pmt = append(pmt, 0x0f, 0xe0|audioPID>>8, audioPID&0xff, 0xf0, 0x00) // 0x0f: AAC in ADTS
	}
	pmt[2] = byte(len(pmt) - 3 + 4) // section length: after the length field, CRC included
	t.tables = append(t.tables, psiPacket(0, withCRC(pat))...)
	t.tables = append(t.tables, psiPacket(pmtPID, withCRC(pmt))...)
	return t
}

func withCRC(section []byte) []byte {
	c := crc32MPEG(section)
	return append(section, byte(c>>24), byte(c>>16), byte(c>>8), byte(c))
}

// psiPacket is one packet carrying a PSI section after a zero pointer field, 0xff stuffed.
func psiPacket(pid uint16, section []byte) []byte {
	p := make([]byte, 188)
	p[0], p[1], p[2], p[3] = 0x47, 0x40|byte(pid>>8), byte(pid), 0x10
	p[4] = 0
	copy(p[5:], section)
	for i := 5 + len(section); i < 188; i++ {
		p[i] = 0xff
	}
	return p
}

func next(cc *uint8) byte {
	c := *cc
	*cc = (c + 1) & 0x0f
	return c
}

// writeTables appends PAT and PMT with their continuity counters (at each segment's start and
// keyframe, so every segment and every join point has them).
func (t *tsWriter) writeTables() {
	start := len(t.buf)
	t.buf = append(t.buf, t.tables...)
	t.buf[start+3] = t.buf[start+3]&0xf0 | next(&t.ccPAT)
	t.buf[start+188+3] = t.buf[start+188+3]&0xf0 | next(&t.ccPMT)
}

func putTS(b []byte, marker byte, ts int64) {
	b[0] = marker<<4 | byte(ts>>29)&0x0e | 1
	b[1], b[2] = byte(ts>>22), byte(ts>>14)|1
	b[3], b[4] = byte(ts>>7), byte(ts<<1)|1
}

// writePES appends one PES (header + the payload parts) as TS packets. Video PES carry a PCR in
// their first packet (every frame: well within the 100 ms the standard asks); key sets the random
// access indicator.
func (t *tsWriter) writePES(pid uint16, streamID byte, pts, dts int64, key bool, parts ...[]byte) {
	var hdr [19]byte
	size := 0
	for _, p := range parts {
		size += len(p)
	}
	hdr[0], hdr[1], hdr[2], hdr[3] = 0, 0, 1, streamID
	hdr[6] = 0x80
	n := 14
	if dts != pts {
		hdr[7], hdr[8] = 0xc0, 10
		putTS(hdr[9:], 3, pts&tsMask)
		putTS(hdr[14:], 1, dts&tsMask)
		n = 19
	} else {
		hdr[7], hdr[8] = 0x80, 5
		putTS(hdr[9:], 2, pts&tsMask)
	}
	if l := n - 6 + size; streamID != 0xe0 && l <= 0xffff { // video: 0, unbounded
		hdr[4], hdr[5] = byte(l>>8), byte(l)
	}
	cc := &t.ccAudio
	if pid == videoPID {
		cc = &t.ccVideo
	}
	total := n + size
	src := append(append(t.src[:0], hdr[:n]), parts...)
	si, so := 0, 0 // the part and offset being read
	for first := true; total > 0; first = false {
		start := len(t.buf)
		t.buf = append(t.buf, 0x47, byte(pid>>8), byte(pid), 0)
		if first {
			t.buf[start+1] |= 0x40 // payload unit start
		}
		var af []byte // the adaptation field after its length byte
		hasAF := first && pid == videoPID
		if hasAF {
			flags := byte(0x10) // PCR
			if key {
				flags |= 0x40 // random access
			}
			pcr := (dts - pcrBehind) & tsMask
			af = append(t.af[:0], flags, byte(pcr>>25), byte(pcr>>17), byte(pcr>>9), byte(pcr>>1), byte(pcr<<7)|0x7e, 0)
		}
		space := 184
		if hasAF {
			space -= 1 + len(af)
		}
		if total < space { // stuffing, in the adaptation field
			if !hasAF {
				hasAF, af = true, t.af[:0]
				space--
				if space > total {
					af = append(af, 0x00) // the flags byte
					space--
				}
			}
			for ; space > total; space-- {
				af = append(af, 0xff)
			}
		}
		if hasAF {
			t.buf[start+3] = 0x30 | next(cc)
			t.buf = append(t.buf, byte(len(af)))
			t.buf = append(t.buf, af...)
		} else {
			t.buf[start+3] = 0x10 | next(cc)
		}
		for need := min(space, total); need > 0; {
			c := min(len(src[si])-so, need)
			t.buf = append(t.buf, src[si][so:so+c]...)
			so, need, total = so+c, need-c, total-c
			if so == len(src[si]) {
				si, so = si+1, 0
			}
		}
		t.af = af[:0]
	}
	t.src = src[:0]
}

var (
	audNALU   = []byte{0x09, 0xf0} // access unit delimiter, any slice type
	startCode = []byte{0, 0, 0, 1}
)

// tsSegmenter writes the ts/ flavour: one PES per frame (audio too: pes_payload_size 0, as the
// ingest's feed), Annex B video with an AUD first and the SPS/PPS before each IDR, ADTS audio.
type tsSegmenter struct {
	segmentFile
	avc   *avcConfig
	aac   *aacConfig
	tw    *tsWriter
	parts [][]byte
	adts  [7]byte
}

func newTSSegmenter(cfg Config, avc *avcConfig, aac *aacConfig, now time.Time) (*tsSegmenter, error) {
	s := &tsSegmenter{segmentFile: segmentFile{dir: cfg.TSDir}, avc: avc, aac: aac, tw: newTSWriter(aac != nil)}
	s.list = newPlaylist(cfg, cfg.TSDir, "ts", 3, "", now)
	if aac != nil {
		s.adts = aac.adts
	}
	return s, nil
}

func (s *tsSegmenter) open(int64) error {
	if err := s.openNext(); err != nil {
		return err
	}
	s.tw.writeTables()
	return nil
}

func (s *tsSegmenter) video(pts, dts int64, nalus [][]byte, key bool) error {
	s.parts = append(s.parts[:0], startCode, audNALU)
	haveSPS := false
	for _, n := range nalus {
		switch n[0] & 0x1f {
		case 9:
			continue // ours goes first
		case 7:
			haveSPS = true
		}
	}
	if key && !haveSPS {
		s.parts = append(s.parts, startCode, s.avc.sps, startCode, s.avc.pps)
	}
	for _, n := range nalus {
		if n[0]&0x1f != 9 {
			s.parts = append(s.parts, startCode, n)
		}
	}
	if key && len(s.tw.buf) == 0 { // (open leaves the tables in buf for the segment's first keyframe)
		s.tw.writeTables() // a keyframe inside a segment (GOPs shorter than the segment): a join point
	}
	s.tw.writePES(videoPID, 0xe0, pts+tsOffset, dts+tsOffset, key, s.parts...)
	return s.emit()
}

func (s *tsSegmenter) audio(dts int64, frame []byte) error {
	if s.aac == nil {
		return nil
	}
	l := len(frame) + 7
	h := s.adts
	h[3] |= byte(l >> 11)
	h[4] = byte(l >> 3)
	h[5] = byte(l<<5) | 0x1f
	s.tw.writePES(audioPID, 0xc0, dts+tsOffset, dts+tsOffset, false, h[:], frame)
	return s.emit()
}

func (s *tsSegmenter) emit() error {
	_, err := s.w.Write(s.tw.buf)
	s.tw.buf = s.tw.buf[:0]
	if err != nil {
		return fmt.Errorf("mux: %s: %w", s.name, err)
	}
	return nil
}

// finish closes the current segment, lists it (dur at 90 kHz) and writes the playlist.
func (s *tsSegmenter) finish(dur int64, last bool) error {
	err := s.w.Flush()
	if cerr := s.file.Close(); err == nil {
		err = cerr
	}
	s.file = nil
	if err != nil {
		return fmt.Errorf("mux: %s: %w", s.name, err)
	}
	return s.list.add(float64(dur)/90000, last)
}

func (s *tsSegmenter) close(dur int64, list bool) error {
	if s.file == nil {
		return nil
	}
	if !list {
		s.file.Close()
		return nil
	}
	return s.finish(dur, true)
}
