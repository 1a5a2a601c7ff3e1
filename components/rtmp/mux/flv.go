package mux

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
)

const (
	codecAVC = 7  // FLV video codec ID
	codecAAC = 10 // FLV sound format

	// maxAACFrame: an AAC frame is at most 6144 bits per channel; 8 channels fit in 8 KiB.
	maxAACFrame = 8 << 10
	// maxNALUs bounds the NAL units of one access unit (a 1-byte length size could split a frame
	// into a great many; x264 writes ≈ 1–10, slices included).
	maxNALUs = 1024
)

type videoKind int

const (
	videoConfig videoKind = iota // AVC sequence header: AVCDecoderConfigurationRecord
	videoFrame                   // NAL units, length-prefixed
	videoEnd                     // end of sequence
)

type videoTag struct {
	kind videoKind
	key  bool
	cts  int32 // composition time offset, ms
	data []byte
}

// parseVideo reads an FLV video tag body: legacy AVC only (an Enhanced RTMP header, HEVC, AV1,
// VP9, H.263 … is refused).
func parseVideo(b []byte) (videoTag, error) {
	if len(b) < 1 {
		return videoTag{}, fmt.Errorf("%w: an empty video tag", ErrMalformed)
	}
	if b[0]&0x80 != 0 {
		return videoTag{}, fmt.Errorf("%w: Enhanced RTMP video (HEVC, AV1, VP9)", ErrUnsupported)
	}
	if codec := b[0] & 0x0f; codec != codecAVC {
		return videoTag{}, fmt.Errorf("%w: FLV video codec %d (only H.264, 7)", ErrUnsupported, codec)
	}
	frameType := b[0] >> 4
	if frameType == 5 { // video info/command frame: no media
		return videoTag{kind: videoEnd}, nil
	}
	if len(b) < 5 {
		return videoTag{}, fmt.Errorf("%w: a %d-byte AVC tag", ErrMalformed, len(b))
	}
	cts := int32(uint32(b[2])<<16|uint32(b[3])<<8|uint32(b[4])) << 8 >> 8 // signed 24 bits
	switch b[1] {
	case 0:
		return videoTag{kind: videoConfig, data: b[5:]}, nil
	case 1:
		return videoTag{kind: videoFrame, key: frameType == 1, cts: cts, data: b[5:]}, nil
	case 2:
		return videoTag{kind: videoEnd}, nil
	}
	return videoTag{}, fmt.Errorf("%w: AVC packet type %d", ErrMalformed, b[1])
}

// avcConfig is what the AVCDecoderConfigurationRecord gives: the NAL unit length size and the
// first SPS and PPS.
type avcConfig struct {
	lengthSize int
	sps, pps   []byte
	nalus      [][]byte // reused by split
}

func parseAVCConfig(b []byte) (*avcConfig, error) {
	bad := func(what string) (*avcConfig, error) {
		return nil, fmt.Errorf("%w: AVC sequence header: %s", ErrMalformed, what)
	}
	if len(b) < 7 || b[0] != 1 {
		return bad("too short or not version 1")
	}
	c := &avcConfig{lengthSize: int(b[4]&0x03) + 1}
	if c.lengthSize == 3 {
		return bad("NAL unit length size 3")
	}
	p := 5
	for _, list := range []int{0x1f, 0xff} { // SPS count in 5 bits, then the PPS count in 8
		if p >= len(b) {
			return bad("truncated")
		}
		n := int(b[p]) & list
		p++
		for i := 0; i < n; i++ {
			if p+2 > len(b) {
				return bad("truncated")
			}
			l := int(binary.BigEndian.Uint16(b[p:]))
			p += 2
			if l == 0 || p+l > len(b) {
				return bad("a parameter set runs past the end")
			}
			set := bytes.Clone(b[p : p+l])
			p += l
			if list == 0x1f && c.sps == nil {
				c.sps = set
			} else if list == 0xff && c.pps == nil {
				c.pps = set
			}
		}
	}
	if c.sps == nil || c.pps == nil || c.sps[0]&0x1f != 7 || c.pps[0]&0x1f != 8 {
		return bad("no SPS or no PPS")
	}
	return c, nil
}

func (c *avcConfig) equal(o *avcConfig) bool {
	return c.lengthSize == o.lengthSize && bytes.Equal(c.sps, o.sps) && bytes.Equal(c.pps, o.pps)
}

// split cuts a frame's length-prefixed NAL units (slices of b; the returned slice is reused).
func (c *avcConfig) split(b []byte) ([][]byte, error) {
	out := c.nalus[:0]
	for len(b) > 0 {
		if len(b) < c.lengthSize {
			return nil, fmt.Errorf("%w: a truncated NAL unit length", ErrMalformed)
		}
		var l int
		for _, v := range b[:c.lengthSize] {
			l = l<<8 | int(v)
		}
		b = b[c.lengthSize:]
		if l == 0 || l > len(b) {
			return nil, fmt.Errorf("%w: a NAL unit of %d bytes in %d", ErrMalformed, l, len(b))
		}
		if len(out) == maxNALUs {
			return nil, fmt.Errorf("%w: more than %d NAL units in a frame", ErrMalformed, maxNALUs)
		}
		out = append(out, b[:l])
		b = b[l:]
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: a frame without NAL units", ErrMalformed)
	}
	c.nalus = out
	return out, nil
}

type audioTag struct {
	config bool // AudioSpecificConfig, else a raw AAC frame
	data   []byte
}

// parseAudio reads an FLV audio tag body: AAC only (MP3, Speex, G.711, Enhanced RTMP's Opus … are
// refused).
func parseAudio(b []byte) (audioTag, error) {
	if len(b) < 1 {
		return audioTag{}, fmt.Errorf("%w: an empty audio tag", ErrMalformed)
	}
	if format := b[0] >> 4; format != codecAAC {
		return audioTag{}, fmt.Errorf("%w: FLV sound format %d (only AAC, 10)", ErrUnsupported, format)
	}
	if len(b) < 2 {
		return audioTag{}, fmt.Errorf("%w: a 1-byte AAC tag", ErrMalformed)
	}
	switch b[1] {
	case 0:
		return audioTag{config: true, data: b[2:]}, nil
	case 1:
		return audioTag{data: b[2:]}, nil
	}
	return audioTag{}, fmt.Errorf("%w: AAC packet type %d", ErrMalformed, b[1])
}

// aacConfig is the AudioSpecificConfig, and the fixed part of the ADTS header TS segments carry.
type aacConfig struct {
	raw    []byte
	asc    mpeg4audio.AudioSpecificConfig
	adts   [7]byte // the length fields are filled per frame
	frames int64   // samples per frame at asc.SampleRate (1024; 2048 when SBR is explicit)
}

func parseAACConfig(b []byte) (*aacConfig, error) {
	c := &aacConfig{raw: bytes.Clone(b)}
	if err := c.asc.Unmarshal(b); err != nil {
		return nil, fmt.Errorf("%w: AudioSpecificConfig: %v", ErrUnsupported, err)
	}
	// ADTS carries object types 1–4 and the channel configurations 1–7 (0: a program config
	// element); the written TS needs it.
	if c.asc.Type < 1 || c.asc.Type > 4 || c.asc.ChannelConfig < 1 || c.asc.ChannelConfig > 7 || c.asc.FrameLengthFlag {
		return nil, fmt.Errorf("%w: AAC object type %d, channel configuration %d, 960-sample frames %v",
			ErrUnsupported, c.asc.Type, c.asc.ChannelConfig, c.asc.FrameLengthFlag)
	}
	idx := -1
	for i, r := range adtsRates {
		if r == c.asc.SampleRate {
			idx = i
		}
	}
	if idx < 0 {
		return nil, fmt.Errorf("%w: AAC sample rate %d", ErrUnsupported, c.asc.SampleRate)
	}
	c.frames = 1024
	if c.asc.ExtensionSampleRate != 0 && c.asc.ExtensionSampleRate != c.asc.SampleRate {
		// Explicit SBR: the frame is 2048 samples at the output rate the track's time scale uses.
		return nil, fmt.Errorf("%w: explicitly signalled HE-AAC", ErrUnsupported)
	}
	ch := c.asc.ChannelConfig
	c.adts = [7]byte{0xff, 0xf1, byte(int(c.asc.Type-1)<<6 | idx<<2 | int(ch>>2)), (ch & 3) << 6, 0, 0x1f, 0xfc}
	return c, nil
}

func (c *aacConfig) equal(o *aacConfig) bool { return bytes.Equal(c.raw, o.raw) }

var adtsRates = []int{96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350}
