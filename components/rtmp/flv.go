package main

import (
	"bufio"
	"bytes"
)

// FLV tag types, the same numbers as the RTMP message types they come from.
const (
	tagAudio     = 8
	tagVideo     = 9
	tagData      = 18
	msgAggregate = 22
)

// maxHeld bounds what is held back before the FLV header can be written (a publisher that sends
// only data messages): past it the header goes out with what is known.
const maxHeld = 1 << 20

var (
	setDataFrame = []byte("\x02\x00\x0d@setDataFrame")
	onMetaData   = []byte("\x02\x00\x0aonMetaData")
)

// flvWriter turns the publisher's media messages into the FLV stream FFmpeg reads from the FIFO,
// the way FFmpeg's own RTMP input builds one (libavformat/rtmpproto.c): the header's audio/video
// flags come from the first audio/video message or from onMetaData, whichever is first, so the
// messages before are held; data messages lose a leading `@setDataFrame`; aggregates are split;
// bodies are never touched (Enhanced RTMP FourCC video passes byte for byte).
type flvWriter struct {
	out      *bufio.Writer
	started  bool
	hasAudio bool
	hasVideo bool
	metadata bool
	held     []byte // tags before the header
	scratch  [11]byte
	// tee, when set, gets each audio and video tag as it goes into the FLV (the Go HLS writers).
	tee func(typ uint8, ts uint32, body []byte)
}

func newFLVWriter(out *bufio.Writer) *flvWriter {
	return &flvWriter{out: out}
}

// message writes one RTMP message (other types than audio, video, data and aggregate: ignored).
func (f *flvWriter) message(typ uint8, ts uint32, body []byte) error {
	switch typ {
	case tagAudio, tagVideo, tagData:
		return f.tag(typ, ts, body)
	case msgAggregate:
		return f.aggregate(ts, body)
	}
	return nil
}

func (f *flvWriter) tag(typ uint8, ts uint32, body []byte) error {
	switch typ {
	case tagData:
		// `@setDataFrame` tells a server to keep the data; the FLV demuxer expects `onMetaData`
		// first. FFmpeg strips it the same way.
		body = bytes.TrimPrefix(body, setDataFrame)
		if !f.started {
			if audio, video, ok := metadataStreams(body); ok {
				f.metadata = true
				f.hasAudio = f.hasAudio || audio
				f.hasVideo = f.hasVideo || video
			}
		}
	case tagAudio:
		f.hasAudio = true
	case tagVideo:
		f.hasVideo = true
	}
	if len(body) == 0 {
		return nil // FFmpeg drops empty messages too
	}
	if f.tee != nil && typ != tagData {
		f.tee(typ, ts, body)
	}
	if f.started {
		return f.write(typ, ts, body)
	}
	f.held = appendTag(f.held, typ, ts, body)
	if f.hasAudio || f.hasVideo || f.metadata || len(f.held) > maxHeld {
		return f.start()
	}
	return nil
}

// start writes the header with the flags known now, then what was held.
func (f *flvWriter) start() error {
	var flags byte
	if f.hasAudio {
		flags |= 0x04
	}
	if f.hasVideo {
		flags |= 0x01
	}
	f.started = true
	f.out.Write([]byte{'F', 'L', 'V', 1, flags, 0, 0, 0, 9, 0, 0, 0, 0})
	_, err := f.out.Write(f.held)
	f.held = nil
	return err
}

// write appends one tag to the output without copying the body into a new slice.
func (f *flvWriter) write(typ uint8, ts uint32, body []byte) error {
	h := f.scratch[:]
	putTagHeader(h, typ, ts, len(body))
	f.out.Write(h)
	f.out.Write(body)
	n := uint32(len(body) + 11)
	h[0], h[1], h[2], h[3] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	_, err := f.out.Write(h[:4])
	return err // bufio.Writer's errors are sticky: the last write reports any
}

func putTagHeader(h []byte, typ uint8, ts uint32, size int) {
	h[0] = typ
	h[1], h[2], h[3] = byte(size>>16), byte(size>>8), byte(size)
	h[4], h[5], h[6], h[7] = byte(ts>>16), byte(ts>>8), byte(ts), byte(ts>>24) // low 24 bits, then the extension
	h[8], h[9], h[10] = 0, 0, 0                                                // stream ID
}

func appendTag(dst []byte, typ uint8, ts uint32, body []byte) []byte {
	var h [11]byte
	putTagHeader(h[:], typ, ts, len(body))
	dst = append(dst, h[:]...)
	dst = append(dst, body...)
	n := uint32(len(body) + 11)
	return append(dst, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// aggregate splits an aggregate message (FLV tags back to back) into its tags, their timestamps
// rebased onto the aggregate's own the way rtmpproto.c does (the first sub-tag gets the
// aggregate's timestamp, the others keep their offsets from it). A truncated tag ends the split.
func (f *flvWriter) aggregate(ts uint32, b []byte) error {
	var prev uint32
	first := true
	for len(b) >= 11 {
		typ := b[0]
		size := int(b[1])<<16 | int(b[2])<<8 | int(b[3])
		cts := uint32(b[4])<<16 | uint32(b[5])<<8 | uint32(b[6]) | uint32(b[7])<<24
		if 11+size+4 > len(b) {
			break
		}
		if first {
			prev, first = cts, false
		}
		ts += cts - prev
		prev = cts
		if typ == tagAudio || typ == tagVideo || typ == tagData {
			if err := f.tag(typ, ts, b[11:11+size]); err != nil {
				return err
			}
		}
		b = b[11+size+4:]
	}
	return nil
}

// metadataStreams reads an `onMetaData` data body (after `@setDataFrame` is stripped): ok when it
// is one with an ECMA array or object, audio/video when it has an `audiocodecid`/`videocodecid`
// key (what rtmpproto.c looks for).
func metadataStreams(b []byte) (audio, video, ok bool) {
	if !bytes.HasPrefix(b, onMetaData) || len(b) <= len(onMetaData) {
		return false, false, false
	}
	p := len(onMetaData)
	switch b[p] {
	case 0x08: // ECMA array: a count, then properties
		p += 5
	case 0x03:
		p++
	default:
		return false, false, false
	}
	for p+2 <= len(b) {
		n := int(b[p])<<8 | int(b[p+1])
		p += 2
		if n == 0 || p+n > len(b) {
			break
		}
		q, err := amfSkip(b, p+n, maxAMFDepth)
		switch string(b[p : p+n]) {
		case "audiocodecid":
			audio = true
		case "videocodecid":
			video = true
		}
		if err != nil {
			break
		}
		p = q
	}
	return audio, video, true
}
