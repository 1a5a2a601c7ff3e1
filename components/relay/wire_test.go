package main

// The shared bytes are those gortmplib's own writer makes of the same message, chunk boundaries
// included; the message made again from them (the extended-timestamp path) is the same message.

import (
	"bytes"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib/pkg/bytecounter"
	"github.com/bluenviron/gortmplib/pkg/message"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
)

// byGortmplib is what follows the first chunk header when gortmplib's writer (chunk size 65536)
// writes msg at DTS 0.
func byGortmplib(t *testing.T, msg message.Message) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := message.NewWriter(&buf, bytecounter.NewWriter(io.Discard), false)
	if err := w.Write(&message.SetChunkSize{Value: chunkSize}); err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	if err := w.Write(msg); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	return b[headerLen:]
}

func filled(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	return b
}

func TestTheSharedBytesAreGortmplibsChunks(t *testing.T) {
	for _, sizes := range [][]int{{10}, {1, 0, 300}, {chunkSize - 9}, {chunkSize - 8}, {chunkSize - 7}, {30000, 40000}, {3*chunkSize + 5}, {chunkSize, chunkSize, 17}} {
		au := make([][]byte, len(sizes))
		for i, n := range sizes {
			au[i] = filled(n, byte(i))
		}
		for _, key := range []bool{false, true} {
			delta := 66 * time.Millisecond
			avcc, _ := h264.AVCC(au).Marshal()
			msg := &message.Video{ChunkStreamID: videoStream, MessageStreamID: 0x1000000, Codec: message.CodecH264,
				IsKeyFrame: key, Type: message.VideoTypeAU, AU: avcc, PTSDelta: delta}
			w := videoWire(key, delta, au)
			if want := byGortmplib(t, msg); !bytes.Equal(w.rest, want) {
				t.Fatalf("video %v key=%v: %d bytes, gortmplib's %d", sizes, key, len(w.rest), len(want))
			}
			if cap(w.rest) != len(w.rest) || int(w.length) != 5+len(avcc) || w.msgType != byte(message.TypeVideo) {
				t.Fatalf("video %v: cap %d len %d length %d type %d", sizes, cap(w.rest), len(w.rest), w.length, w.msgType)
			}
			msg.DTS = 5 * time.Hour
			if got := w.message(5 * time.Hour); !reflect.DeepEqual(got, msg) {
				t.Fatalf("video %v: made again as %+v", sizes, got)
			}
		}
		aac := filled(sizes[0], 3)
		msg := &message.Audio{ChunkStreamID: audioStream, MessageStreamID: 0x1000000, Codec: message.CodecMPEG4Audio,
			Rate: message.AudioRate44100, Depth: message.AudioDepth16, IsStereo: true, AACType: message.AudioAACTypeAU, AU: aac}
		w := audioWire(aac)
		if want := byGortmplib(t, msg); !bytes.Equal(w.rest, want) {
			t.Fatalf("audio %d: %d bytes, gortmplib's %d", len(aac), len(w.rest), len(want))
		}
		msg.DTS = time.Minute
		if got := w.message(time.Minute); !reflect.DeepEqual(got, msg) {
			t.Fatalf("audio %d: made again as %+v", len(aac), got)
		}
	}
}
