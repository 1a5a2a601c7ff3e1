package main

// The RTMP bytes of a media message, made once for every target: its body cut into chunks of the
// size every connection announced (gortmplib's client sends SetChunkSize 65536 at connect), the
// continuation chunks' one-byte headers included, written straight from the demuxed access unit
// into one buffer of the exact size (the bytes gortmplib's writer makes: wire_test.go). A target writes its own 12-byte first header
// (its timestamp) and these bytes, with one writev: no per-target copy of the media. Its chunk
// stream ids are not gortmplib's (4, 6), whose header compression state this never disturbs.

import (
	"encoding/binary"
	"time"

	"github.com/bluenviron/gortmplib/pkg/message"
)

const (
	chunkSize      = 65536 // what gortmplib's client announces (client.go initialize3)
	videoStream    = 7     // chunk stream ids of the relayed media (gortmplib's own: 2, 3, 4, 6)
	audioStream    = 5
	maxTimestamp   = 0xFFFFFF // from here an extended timestamp follows every chunk header: per target
	headerLen      = 12
	messageStream1 = 1 // the stream createStream made (gortmplib's 0x1000000: 1 little-endian)
)

// wire is a message's chunked bytes after its first header, and what that header says.
type wire struct {
	rest    []byte
	length  uint32
	msgType byte
	csid    byte
}

// chunker writes a message body into its chunked bytes: a one-byte continuation header (format 3,
// no extended timestamp: the shared bytes carry DTS 0) before each chunkSize bytes after the first.
type chunker struct {
	w *wire
	n int // body bytes written
}

// newChunker allocates the chunked bytes of a body of length bytes once, exactly.
func newChunker(msgType, csid byte, length int) chunker {
	size := length
	if length > 0 {
		size += (length - 1) / chunkSize
	}
	return chunker{w: &wire{rest: make([]byte, 0, size), length: uint32(length), msgType: msgType, csid: csid}}
}

func (c *chunker) put(p []byte) {
	for len(p) > 0 {
		if c.n > 0 && c.n%chunkSize == 0 {
			c.w.rest = append(c.w.rest, 3<<6|c.w.csid)
		}
		k := min(chunkSize-c.n%chunkSize, len(p))
		c.w.rest = append(c.w.rest, p[:k]...)
		c.n += k
		p = p[k:]
	}
}

// videoWire is an H.264 access unit's RTMP video message (FLV tag body: frame type and codec, AVC
// packet type 1, the composition time, then the AU in AVCC form), chunked, as gortmplib's
// message.Video{Type: VideoTypeAU} marshals and its writer chunks it: the NALUs are copied once,
// straight into the shared bytes.
func videoWire(key bool, ptsDelta time.Duration, au [][]byte) *wire {
	length := 5
	for _, nalu := range au {
		length += 4 + len(nalu)
	}
	c := newChunker(byte(message.TypeVideo), videoStream, length)
	frameType := byte(2) // inter frame
	if key {
		frameType = 1
	}
	cts := uint32(ptsDelta / time.Millisecond)
	c.put([]byte{frameType<<4 | message.CodecH264, byte(message.VideoTypeAU), byte(cts >> 16), byte(cts >> 8), byte(cts)})
	var size [4]byte
	for _, nalu := range au {
		binary.BigEndian.PutUint32(size[:], uint32(len(nalu)))
		c.put(size[:])
		c.put(nalu)
	}
	return c.w
}

// aacHeader is the FLV audio tag's header of the relayed AAC (as message.Audio marshals it: AAC,
// "44.1 kHz", 16 bits, stereo, as FLV requires for AAC whatever the stream's own configuration).
var aacHeader = [2]byte{
	message.CodecMPEG4Audio<<4 | byte(message.AudioRate44100)<<2 | byte(message.AudioDepth16)<<1 | 1,
	byte(message.AudioAACTypeAU),
}

// audioWire is one AAC frame's RTMP audio message, chunked.
func audioWire(au []byte) *wire {
	c := newChunker(byte(message.TypeAudio), audioStream, len(aacHeader)+len(au))
	c.put(aacHeader[:])
	c.put(au)
	return c.w
}

// body is the message body again (the continuation headers left out): the rare write that goes
// through gortmplib's writer (a timestamp past maxTimestamp needs an extended one in every chunk).
func (w *wire) body() []byte {
	body := make([]byte, 0, w.length)
	for rest := w.rest; len(rest) > 0; {
		k := min(chunkSize, len(rest))
		body = append(body, rest[:k]...)
		rest = rest[k:]
		if len(rest) > 0 {
			rest = rest[1:] // the next chunk's one-byte header
		}
	}
	return body
}

// message is w as gortmplib's message at the target's DTS (its body a copy).
func (w *wire) message(dts time.Duration) message.Message {
	body := w.body()
	if w.msgType == byte(message.TypeVideo) {
		cts := int32(uint32(body[2])<<24|uint32(body[3])<<16|uint32(body[4])<<8) >> 8
		return &message.Video{
			ChunkStreamID:   w.csid,
			MessageStreamID: 0x1000000,
			Codec:           message.CodecH264,
			IsKeyFrame:      body[0]>>4 == 1,
			Type:            message.VideoTypeAU,
			AU:              body[5:],
			DTS:             dts,
			PTSDelta:        time.Duration(cts) * time.Millisecond,
		}
	}
	return &message.Audio{
		ChunkStreamID:   w.csid,
		MessageStreamID: 0x1000000,
		Codec:           message.CodecMPEG4Audio,
		Rate:            message.AudioRate44100,
		Depth:           message.AudioDepth16,
		IsStereo:        true,
		AACType:         message.AudioAACTypeAU,
		AU:              body[len(aacHeader):],
		DTS:             dts,
	}
}

// header is a target's first chunk header for w at its own timestamp (milliseconds < maxTimestamp).
func (w *wire) header(dst *[headerLen]byte, ms uint32) {
	dst[0] = w.csid // format 0
	dst[1], dst[2], dst[3] = byte(ms>>16), byte(ms>>8), byte(ms)
	dst[4], dst[5], dst[6] = byte(w.length>>16), byte(w.length>>8), byte(w.length)
	dst[7] = w.msgType
	binary.LittleEndian.PutUint32(dst[8:], messageStream1)
}
