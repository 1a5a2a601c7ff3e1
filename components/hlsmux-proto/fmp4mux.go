package main

// A hand-written fMP4 part writer (--own-fmp4): LL-HLS parts as moof + mdat built straight into one
// reused buffer (no go-mp4 reflection on the hot path), appended to CMAF segment files that start
// at keyframes; the init segment, written once a session, goes through mediacommon. What "muxers
// written for it" would cost for the fMP4 half, for the measurement only (H.264 + AAC).

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
)

type fsample struct {
	dts  int64 // in the track's time scale
	cts  int32
	dur  uint32
	key  bool
	size uint32
}

type ownFMP4 struct {
	dir              string
	part, segment    int64 // 90 kHz
	audioRate        int64
	v, a             []fsample
	vdata, adata     []byte // the pending samples' bytes, mdat order
	partStart        int64  // video dts (90 kHz) of the part's first sample
	segStart         int64
	seq              uint32
	segFile          *os.File
	segW             *bufio.Writer
	segN             int
	out              []byte
	audioBase        int64 // decode time of the first pending audio sample
	haveAudioPending bool
}

func newOwnFMP4(dir string, part, segment time.Duration, sps, pps []byte, audio *mpeg4audio.AudioSpecificConfig) *ownFMP4 {
	o := &ownFMP4{dir: dir, part: int64(part) * 90000 / int64(time.Second), segment: int64(segment) * 90000 / int64(time.Second), partStart: -1, segStart: -1}
	init := fmp4.Init{Tracks: []*fmp4.InitTrack{{ID: 1, TimeScale: 90000, Codec: &fmp4.CodecH264{SPS: sps, PPS: pps}}}}
	if audio != nil {
		o.audioRate = int64(audio.SampleRate)
		init.Tracks = append(init.Tracks, &fmp4.InitTrack{ID: 2, TimeScale: uint32(audio.SampleRate), Codec: &fmp4.CodecMPEG4Audio{Config: *audio}})
	}
	var buf seekablebuffer.Buffer
	if err := init.Marshal(&buf); err == nil {
		os.WriteFile(filepath.Join(dir, "init.mp4"), buf.Bytes(), 0o644)
	}
	return o
}

// video takes an access unit at 90 kHz; a sample's duration is known when the next one comes.
func (o *ownFMP4) video(pts, dts int64, au [][]byte, key bool) {
	if n := len(o.v); n > 0 {
		o.v[n-1].dur = uint32(dts - o.v[n-1].dts)
	}
	if o.partStart >= 0 && (dts-o.partStart >= o.part || key && dts-o.segStart >= o.segment) {
		o.flush()
	}
	if key && (o.segStart < 0 || dts-o.segStart >= o.segment) {
		o.rotate(dts)
	}
	if o.segW == nil {
		return // before the first keyframe
	}
	if o.partStart < 0 {
		o.partStart = dts
	}
	size := 0
	for _, n := range au {
		if h264.NALUType(n[0]&0x1f) == h264.NALUTypeAccessUnitDelimiter {
			continue
		}
		o.vdata = binary.BigEndian.AppendUint32(o.vdata, uint32(len(n)))
		o.vdata = append(o.vdata, n...)
		size += 4 + len(n)
	}
	o.v = append(o.v, fsample{dts: dts, cts: int32(pts - dts), key: key, size: uint32(size)})
}

// audio takes an AAC frame, its pts at 90 kHz (1024 samples a frame).
func (o *ownFMP4) audio(pts90 int64, au []byte) {
	if o.segW == nil || o.audioRate == 0 {
		return
	}
	if !o.haveAudioPending {
		o.audioBase, o.haveAudioPending = pts90*o.audioRate/90000, true
	}
	o.adata = append(o.adata, au...)
	o.a = append(o.a, fsample{dur: 1024, size: uint32(len(au))})
}

// flush writes the pending samples as one part: moof + mdat, into the segment file. The last video
// sample stays pending when its duration is not known yet.
func (o *ownFMP4) flush() {
	nv := len(o.v)
	if nv > 0 && o.v[nv-1].dur == 0 {
		nv--
	}
	if nv == 0 {
		return
	}
	vsize := 0
	for _, s := range o.v[:nv] {
		vsize += int(s.size)
	}
	b := o.out[:0]
	moofAt := len(b)
	b = append(b, 0, 0, 0, 0, 'm', 'o', 'o', 'f')
	o.seq++
	b = append(b, 0, 0, 0, 16, 'm', 'f', 'h', 'd', 0, 0, 0, 0)
	b = binary.BigEndian.AppendUint32(b, o.seq)
	vOff := traf(&b, 1, o.v[0].dts, o.v[:nv], true)
	aOff := -1
	if len(o.a) > 0 {
		aOff = traf(&b, 2, o.audioBase, o.a, false)
	}
	moofSize := len(b) - moofAt
	binary.BigEndian.PutUint32(b[moofAt:], uint32(moofSize))
	binary.BigEndian.PutUint32(b[vOff:], uint32(moofSize+8))
	if aOff >= 0 {
		binary.BigEndian.PutUint32(b[aOff:], uint32(moofSize+8+vsize))
	}
	b = binary.BigEndian.AppendUint32(b, uint32(8+vsize+len(o.adata)))
	b = append(b, 'm', 'd', 'a', 't')
	b = append(b, o.vdata[:vsize]...)
	b = append(b, o.adata...)
	o.segW.Write(b)
	o.segW.Flush() // a part is served as soon as it is complete
	o.out = b
	// what stays: the last video sample, if its duration was unknown
	rest := o.v[nv:]
	o.vdata = append(o.vdata[:0], o.vdata[vsize:]...)
	o.v = append(o.v[:0], rest...)
	o.a, o.adata, o.haveAudioPending = o.a[:0], o.adata[:0], false
	if len(o.v) > 0 {
		o.partStart = o.v[0].dts
	} else {
		o.partStart = -1
	}
}

// traf appends one track fragment and returns the offset of its trun's data_offset field.
func traf(b *[]byte, id uint32, base int64, samples []fsample, video bool) int {
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
	for _, s := range samples {
		*b = binary.BigEndian.AppendUint32(*b, s.dur)
		*b = binary.BigEndian.AppendUint32(*b, s.size)
		if video {
			f := uint32(0x01010000) // depends on others, not a sync sample
			if s.key {
				f = 0x02000000
			}
			*b = binary.BigEndian.AppendUint32(*b, f)
			*b = binary.BigEndian.AppendUint32(*b, uint32(s.cts))
		}
	}
	binary.BigEndian.PutUint32((*b)[at:], uint32(len(*b)-at))
	return off
}

func (o *ownFMP4) rotate(dts int64) {
	if o.segFile != nil {
		o.segW.Flush()
		o.segFile.Close()
	}
	f, err := os.Create(filepath.Join(o.dir, fmt.Sprintf("seg-%06d.m4s", o.segN)))
	if err != nil {
		return
	}
	o.segN++
	o.segFile, o.segW, o.segStart = f, bufio.NewWriterSize(f, 256*1024), dts
	if len(o.v) > 0 {
		o.partStart = o.v[0].dts
	}
}
