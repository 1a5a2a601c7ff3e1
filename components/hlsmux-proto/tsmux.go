package main

// A hand-written MPEG-TS writer and HLS segmenter (--own): what "muxers written for it" would cost
// against gohlslib's MPEG-TS variant (go-astits) and mediacommon's writer. Pre-built PAT/PMT, one
// reused buffer, no per-field reflection or bit writer: a PES is framed straight into 188-byte
// packets. Enough for H.264 + AAC, for the measurement only.

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

const (
	pmtPID   = 0x1000
	videoPID = 0x100
	audioPID = 0x101
)

// crc32MPEG is CRC-32/MPEG-2 (no reflection, no final xor), which hash/crc32 does not compute.
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

type tsWriter struct {
	cc     map[uint16]uint8
	tables []byte // PAT + PMT, built once (continuity counters patched per write)
	buf    []byte
	src    [][]byte // reused: the PES header and payload parts
	af     []byte   // reused: an adaptation field
}

func newTSWriter(audio bool) *tsWriter {
	t := &tsWriter{cc: map[uint16]uint8{}}
	pat := []byte{0x00, 0x00, 0xb0, 0x0d, 0x00, 0x01, 0xc1, 0x00, 0x00, 0x00, 0x01, 0xe0 | pmtPID>>8, pmtPID & 0xff}
	pmt := []byte{0x02, 0xb0, 0x00, 0x00, 0x01, 0xc1, 0x00, 0x00, 0xe0 | videoPID>>8, videoPID & 0xff, 0xf0, 0x00,
		0x1b, 0xe0 | videoPID>>8, videoPID & 0xff, 0xf0, 0x00}
	if audio {
		pmt = append(pmt, 0x0f, 0xe0|audioPID>>8, audioPID&0xff, 0xf0, 0x00)
	}
	pmt[2] = byte(len(pmt) - 3 + 4) // section length: after the length field, CRC included
	t.tables = append(t.tables, t.section(0, append([]byte{0x00}, withCRC(pat[1:])...))...)
	t.tables = append(t.tables, t.section(pmtPID, append([]byte{0x00}, withCRC(pmt)...))...)
	return t
}

func withCRC(section []byte) []byte {
	c := crc32MPEG(section)
	return append(section, byte(c>>24), byte(c>>16), byte(c>>8), byte(c))
}

// section is one packet carrying a PSI section (pointer field included), 0xff stuffed.
func (t *tsWriter) section(pid uint16, payload []byte) []byte {
	p := make([]byte, 188)
	p[0], p[1], p[2], p[3] = 0x47, 0x40|byte(pid>>8), byte(pid), 0x10
	copy(p[4:], payload)
	for i := 4 + len(payload); i < 188; i++ {
		p[i] = 0xff
	}
	return p
}

func (t *tsWriter) next(pid uint16) byte {
	c := t.cc[pid]
	t.cc[pid] = (c + 1) & 0x0f
	return c
}

// writeTables appends PAT and PMT with their continuity counters.
func (t *tsWriter) writeTables() {
	start := len(t.buf)
	t.buf = append(t.buf, t.tables...)
	t.buf[start+3] = t.buf[start+3]&0xf0 | t.next(0)
	t.buf[start+188+3] = t.buf[start+188+3]&0xf0 | t.next(pmtPID)
}

func putTS(b []byte, marker byte, ts int64) {
	b[0] = marker<<4 | byte(ts>>29)&0x0e | 1
	b[1], b[2] = byte(ts>>22), byte(ts>>14)|1
	b[3], b[4] = byte(ts>>7), byte(ts<<1)|1
}

// writePES appends one PES (header + the payload parts) as TS packets; key puts the random access
// indicator and a PCR (from dts) in the first packet's adaptation field.
func (t *tsWriter) writePES(pid uint16, streamID byte, pts, dts int64, key bool, parts ...[]byte) {
	var hdr [19]byte
	n := 0
	size := 0
	for _, p := range parts {
		size += len(p)
	}
	hdr[0], hdr[1], hdr[2], hdr[3] = 0, 0, 1, streamID
	hdr[6] = 0x80
	if dts != pts {
		hdr[7], hdr[8] = 0xc0, 10
		putTS(hdr[9:], 3, pts)
		putTS(hdr[14:], 1, dts)
		n = 19
	} else {
		hdr[7], hdr[8] = 0x80, 5
		putTS(hdr[9:], 2, pts)
		n = 14
	}
	if l := n - 6 + size; streamID != 0xe0 && l <= 0xffff {
		hdr[4], hdr[5] = byte(l>>8), byte(l)
	}
	total := n + size
	src := append(append(t.src[:0], hdr[:n]), parts...)
	si, so := 0, 0 // the part and offset being read
	for first := true; total > 0; first = false {
		start := len(t.buf)
		t.buf = append(t.buf, 0x47, byte(pid>>8), byte(pid), 0)
		if first {
			t.buf[start+1] |= 0x40
		}
		var af []byte // the adaptation field after its length byte
		hasAF := first && key
		if hasAF {
			base := dts
			af = append(t.af[:0], 0x50, byte(base>>25), byte(base>>17), byte(base>>9), byte(base>>1), byte(base<<7)|0x7e, 0)
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
			t.buf[start+3] = 0x30 | t.next(pid)
			t.buf = append(t.buf, byte(len(af)))
			t.buf = append(t.buf, af...)
		} else {
			t.buf[start+3] = 0x10 | t.next(pid)
		}
		for need := min(space, total); need > 0; {
			c := min(len(src[si])-so, need)
			t.buf = append(t.buf, src[si][so:so+c]...)
			so, need, total = so+c, need-c, total-c
			if so == len(src[si]) {
				si, so = si+1, 0
			}
		}
	}
	t.src = src
}

var aud = []byte{0, 0, 0, 1, 9, 0xf0}
var startCode = []byte{0, 0, 0, 1}

var adtsRates = []int{96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350}

// ownTSWriter writes TS HLS segments (a keyframe at ≥ the segment length starts the next) and the feed.
type ownTSWriter struct {
	dir     string
	segment time.Duration
	count   int
	tw      *tsWriter
	file    *os.File
	fileW   *bufio.Writer
	seq     int
	started int64 // dts (90 kHz) of the segment's first keyframe
	list    []string
	durs    []float64
	feed    *bufio.Writer
	flushed time.Time
	adts    [7]byte
	parts   [][]byte
}

func newOwnTS(dir string, segment time.Duration, count int, feed io.Writer, rate, channels, object int) *ownTSWriter {
	o := &ownTSWriter{dir: dir, segment: segment, count: count, tw: newTSWriter(true), started: -1}
	if feed != nil {
		o.feed = bufio.NewWriterSize(feed, 256*1024)
	}
	idx := 3
	for i, r := range adtsRates {
		if r == rate {
			idx = i
		}
	}
	o.adts = [7]byte{0xff, 0xf1, byte((object-1)<<6 | idx<<2 | channels>>2), byte(channels&3) << 6, 0, 0x1f, 0xfc}
	return o
}

// video takes one access unit (with SPS/PPS before an IDR), its pts/dts at 90 kHz.
func (o *ownTSWriter) video(pts, dts int64, au [][]byte, key bool) {
	if key && o.dir != "" && (o.started < 0 || time.Duration(dts-o.started)*time.Second/90000 >= o.segment) {
		o.rotate(dts)
	}
	o.parts = append(o.parts[:0], aud)
	for _, n := range au {
		o.parts = append(o.parts, startCode, n)
	}
	if key {
		o.tw.writeTables()
	}
	o.tw.writePES(videoPID, 0xe0, pts, dts, key, o.parts...)
	o.emit()
}

func (o *ownTSWriter) audio(pts int64, au []byte) {
	l := len(au) + 7
	h := o.adts
	h[3] |= byte(l >> 11)
	h[4] = byte(l >> 3)
	h[5] = byte(l<<5) | 0x1f
	o.tw.writePES(audioPID, 0xc0, pts, pts, false, h[:], au)
	o.emit()
}

// emit hands the packets to the segment file and the feed; the feed is flushed every 20 ms, as the
// front batches its reads and the Python feed its pipe reads.
func (o *ownTSWriter) emit() {
	if o.fileW != nil {
		o.fileW.Write(o.tw.buf)
	}
	if o.feed != nil {
		o.feed.Write(o.tw.buf)
		if now := time.Now(); now.Sub(o.flushed) >= 20*time.Millisecond {
			o.feed.Flush()
			o.flushed = now
		}
	}
	o.tw.buf = o.tw.buf[:0]
}

func (o *ownTSWriter) rotate(dts int64) {
	if o.file != nil {
		o.fileW.Flush()
		o.file.Close()
		o.durs = append(o.durs, float64(dts-o.started)/90000)
		o.writePlaylist()
	}
	name := fmt.Sprintf("seg-%06d.ts", o.seq)
	o.seq++
	f, err := os.Create(filepath.Join(o.dir, name))
	if err != nil {
		return
	}
	o.file, o.fileW, o.started = f, bufio.NewWriterSize(f, 256*1024), dts
	o.list = append(o.list, name)
}

func (o *ownTSWriter) writePlaylist() {
	done := o.list[:len(o.durs)]
	first := max(0, len(done)-o.count)
	for _, old := range done[:max(0, first-2)] {
		os.Remove(filepath.Join(o.dir, old))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:%d\n#EXT-X-MEDIA-SEQUENCE:%d\n", int(o.segment.Seconds()+0.999), first)
	for i := first; i < len(done); i++ {
		fmt.Fprintf(&b, "#EXTINF:%.6f,\n%s\n", o.durs[i], done[i])
	}
	tmp := filepath.Join(o.dir, ".index.m3u8")
	os.WriteFile(tmp, []byte(b.String()), 0o644)
	os.Rename(tmp, filepath.Join(o.dir, "index.m3u8"))
}
