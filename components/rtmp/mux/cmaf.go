package mux

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
)

const (
	// fragment: pending samples go out as one moof + mdat after this much video (90 kHz), at a
	// segment's end, or once fragmentBytes are pending, so what is held stays bounded.
	fragment      = 90000
	fragmentBytes = 2 << 20
	initName      = "init.mp4"
)

type sample struct {
	dts  int64 // in the track's time scale
	cts  int32
	dur  uint32
	key  bool
	size uint32
}

// cmafSegmenter writes the cmaf/ flavour: init.mp4 once (through mediacommon: once a session),
// then segments starting at keyframes, each a run of fragments (moof + mdat, audio and video in one
// track set) built by hand into one reused buffer.
type cmafSegmenter struct {
	segmentFile
	aacFrames  int64
	aacRate    int64
	v, a       []sample
	vdata      []byte // pending video samples (4-byte lengths), then audio, in mdat order
	adata      []byte
	audioNext  int64 // where the next audio sample would start if contiguous, -1 before any
	seq        uint32
	out        []byte
	startDTS   int64 // first video dts of the session, for the data written so far
	audioTrack bool
}

func newCMAFSegmenter(cfg Config, avc *avcConfig, aac *aacConfig, now time.Time) (*cmafSegmenter, error) {
	s := &cmafSegmenter{segmentFile: segmentFile{dir: cfg.CMAFDir}, audioNext: -1}
	init := fmp4.Init{Tracks: []*fmp4.InitTrack{{ID: 1, TimeScale: 90000, Codec: &fmp4.CodecH264{SPS: avc.sps, PPS: avc.pps}}}}
	if aac != nil {
		s.audioTrack, s.aacRate, s.aacFrames = true, int64(aac.asc.SampleRate), aac.frames
		init.Tracks = append(init.Tracks, &fmp4.InitTrack{ID: 2, TimeScale: uint32(aac.asc.SampleRate),
			Codec: &fmp4.CodecMPEG4Audio{Config: aac.asc}})
	}
	var buf seekablebuffer.Buffer
	if err := init.Marshal(&buf); err != nil {
		return nil, fmt.Errorf("%w: the init segment: %v", ErrUnsupported, err)
	}
	tmp := filepath.Join(s.dir, initName+".tmp")
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return nil, fmt.Errorf("mux: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, initName)); err != nil {
		return nil, fmt.Errorf("mux: %w", err)
	}
	s.list = newPlaylist(cfg, cfg.CMAFDir, "m4s", 7, initName, now)
	return s, nil
}

func (s *cmafSegmenter) open(int64) error { return s.openNext() }

// video takes a frame (90 kHz); a sample's duration is known when the next one comes.
func (s *cmafSegmenter) video(pts, dts int64, nalus [][]byte, key bool) error {
	if n := len(s.v); n > 0 {
		s.v[n-1].dur = uint32(dts - s.v[n-1].dts)
		if s.v[n-1].dur > 0 && (dts-s.v[0].dts >= fragment || len(s.vdata)+len(s.adata) >= fragmentBytes) {
			if err := s.flush(false); err != nil { // every pending duration is known now
				return err
			}
		}
	}
	size := 0
	for _, n := range nalus {
		if n[0]&0x1f == 9 {
			continue // access unit delimiters: not in MP4 samples
		}
		s.vdata = binary.BigEndian.AppendUint32(s.vdata, uint32(len(n)))
		s.vdata = append(s.vdata, n...)
		size += 4 + len(n)
	}
	s.v = append(s.v, sample{dts: dts, cts: int32(pts - dts), key: key, size: uint32(size)})
	return nil
}

// audio takes an AAC frame, its dts at 90 kHz; in the track it follows the previous frame exactly
// unless the publisher's timestamp moved more than half a frame away (a gap).
func (s *cmafSegmenter) audio(dts90 int64, frame []byte) error {
	if !s.audioTrack {
		return nil
	}
	if len(s.a) == 0 {
		at := dts90 * s.aacRate / 90000
		if s.audioNext >= 0 && abs(at-s.audioNext) <= s.aacFrames/2 {
			at = s.audioNext
		}
		s.audioNext = at
		s.a = append(s.a, sample{dts: at, dur: uint32(s.aacFrames), size: uint32(len(frame))})
	} else {
		s.a = append(s.a, sample{dur: uint32(s.aacFrames), size: uint32(len(frame))})
	}
	s.audioNext += s.aacFrames
	s.adata = append(s.adata, frame...)
	// Video that stops while audio goes on must not make the audio pile up: a second of it (or
	// 2 MiB) goes out on its own, the last video sample staying pending.
	if int64(len(s.a))*s.aacFrames >= s.aacRate || len(s.vdata)+len(s.adata) >= fragmentBytes {
		return s.flush(true)
	}
	return nil
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// flush writes the pending samples as one fragment. keepLast: the last video sample, whose
// duration is not known yet, stays pending.
func (s *cmafSegmenter) flush(keepLast bool) error {
	nv := len(s.v)
	if keepLast && nv > 0 {
		nv--
	}
	if nv == 0 && len(s.a) == 0 {
		return nil
	}
	vsize := 0
	for _, smp := range s.v[:nv] {
		vsize += int(smp.size)
	}
	b := s.out[:0]
	b = append(b, 0, 0, 0, 0, 'm', 'o', 'o', 'f')
	s.seq++
	b = append(b, 0, 0, 0, 16, 'm', 'f', 'h', 'd', 0, 0, 0, 0)
	b = binary.BigEndian.AppendUint32(b, s.seq)
	vOff, aOff := -1, -1
	if nv > 0 {
		vOff = traf(&b, 1, s.v[0].dts, s.v[:nv], true)
	}
	if len(s.a) > 0 {
		aOff = traf(&b, 2, s.a[0].dts, s.a, false)
	}
	moofSize := len(b)
	binary.BigEndian.PutUint32(b, uint32(moofSize))
	if vOff >= 0 {
		binary.BigEndian.PutUint32(b[vOff:], uint32(moofSize+8))
	}
	if aOff >= 0 {
		binary.BigEndian.PutUint32(b[aOff:], uint32(moofSize+8+vsize))
	}
	b = binary.BigEndian.AppendUint32(b, uint32(8+vsize+len(s.adata)))
	b = append(b, 'm', 'd', 'a', 't')
	b = append(b, s.vdata[:vsize]...)
	b = append(b, s.adata...)
	s.out = b
	if _, err := s.w.Write(b); err != nil {
		return fmt.Errorf("mux: %s: %w", s.name, err)
	}
	// What stays: the last video sample, if its duration was unknown.
	s.vdata = append(s.vdata[:0], s.vdata[vsize:]...)
	s.v = append(s.v[:0], s.v[nv:]...)
	s.a, s.adata = s.a[:0], s.adata[:0]
	return nil
}

// traf appends one track fragment and returns the offset of its trun's data_offset field.
func traf(b *[]byte, id uint32, base int64, samples []sample, video bool) int {
	at := len(*b)
	*b = append(*b, 0, 0, 0, 0, 't', 'r', 'a', 'f')
	*b = append(*b, 0, 0, 0, 16, 't', 'f', 'h', 'd', 0, 0x02, 0, 0) // default-base-is-moof
	*b = binary.BigEndian.AppendUint32(*b, id)
	*b = append(*b, 0, 0, 0, 20, 't', 'f', 'd', 't', 1, 0, 0, 0)
	*b = binary.BigEndian.AppendUint64(*b, uint64(base))
	per := 8
	flags := uint32(0x000301) // data offset, sample durations and sizes
	if video {
		per, flags = 16, 0x000f01 // and sample flags and composition offsets
	}
	*b = binary.BigEndian.AppendUint32(*b, uint32(20+per*len(samples)))
	*b = append(*b, 't', 'r', 'u', 'n')
	*b = binary.BigEndian.AppendUint32(*b, 1<<24|flags) // version 1: signed composition offsets
	*b = binary.BigEndian.AppendUint32(*b, uint32(len(samples)))
	off := len(*b)
	*b = append(*b, 0, 0, 0, 0)
	for _, smp := range samples {
		*b = binary.BigEndian.AppendUint32(*b, smp.dur)
		*b = binary.BigEndian.AppendUint32(*b, smp.size)
		if video {
			f := uint32(0x01010000) // depends on others, not a sync sample
			if smp.key {
				f = 0x02000000 // depends on no other
			}
			*b = binary.BigEndian.AppendUint32(*b, f)
			*b = binary.BigEndian.AppendUint32(*b, uint32(smp.cts))
		}
	}
	binary.BigEndian.PutUint32((*b)[at:], uint32(len(*b)-at))
	return off
}

// finish ends the current segment at end (90 kHz: the next segment's first dts, or the last
// frame's end), lists it (dur at 90 kHz) and writes the playlist.
func (s *cmafSegmenter) finish(end, dur int64, last bool) error {
	if n := len(s.v); n > 0 {
		s.v[n-1].dur = uint32(end - s.v[n-1].dts)
	}
	err := s.flush(false)
	if ferr := s.w.Flush(); err == nil {
		err = ferr
	}
	if cerr := s.file.Close(); err == nil {
		err = cerr
	}
	s.file = nil
	if err != nil {
		return err
	}
	return s.list.add(float64(dur)/90000, last)
}

func (s *cmafSegmenter) close(end, dur int64, list bool) error {
	if s.file == nil {
		return nil
	}
	if !list {
		s.file.Close()
		return nil
	}
	return s.finish(end, dur, true)
}
