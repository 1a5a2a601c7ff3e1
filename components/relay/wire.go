package main

// The RTMP bytes of a media message, made once for every target: its body cut into chunks of the
// size every connection announced (gortmplib's client sends SetChunkSize 65536 at connect), the
// continuation chunks' one-byte headers included. A target writes its own 12-byte first header
// (its timestamp) and these bytes, with one writev: no per-target copy of the media. Its chunk
// stream ids are not gortmplib's (4, 6), whose header compression state this never disturbs.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"

	"github.com/bluenviron/gortmplib/pkg/bytecounter"
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

// wireOf serializes msg once with gortmplib's own writer (DTS 0: no extended timestamp) and keeps
// what follows its first chunk header.
func wireOf(msg message.Message, csid byte) (*wire, error) {
	var buf bytes.Buffer
	w := message.NewWriter(&buf, bytecounter.NewWriter(io.Discard), false)
	if err := w.Write(&message.SetChunkSize{Value: chunkSize}); err != nil {
		return nil, err
	}
	buf.Reset()
	if err := w.Write(msg); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	if len(b) < headerLen || b[0] != csid {
		return nil, errors.New("unexpected chunk header")
	}
	return &wire{
		rest:    b[headerLen:],
		length:  uint32(b[4])<<16 | uint32(b[5])<<8 | uint32(b[6]),
		msgType: b[7],
		csid:    csid,
	}, nil
}

// header is a target's first chunk header for w at its own timestamp (milliseconds < maxTimestamp).
func (w *wire) header(dst *[headerLen]byte, ms uint32) {
	dst[0] = w.csid // format 0
	dst[1], dst[2], dst[3] = byte(ms>>16), byte(ms>>8), byte(ms)
	dst[4], dst[5], dst[6] = byte(w.length>>16), byte(w.length>>8), byte(w.length)
	dst[7] = w.msgType
	binary.LittleEndian.PutUint32(dst[8:], messageStream1)
}
