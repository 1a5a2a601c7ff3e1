package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/bluenviron/gortmplib/pkg/amf0"
)

type flvMessage struct {
	typ  uint8
	ts   uint32
	body []byte
}

// writeFLV runs messages through a flvWriter and returns the output.
func writeFLV(t testing.TB, msgs []flvMessage) []byte {
	var out bytes.Buffer
	bw := bufio.NewWriterSize(&out, 64*1024)
	w := newFLVWriter(bw)
	for _, m := range msgs {
		if err := w.message(m.typ, m.ts, m.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// The header's flags come from the first audio/video message or onMetaData, as in rtmpproto.c.
func TestFLVHeaderFlags(t *testing.T) {
	meta := func(keys ...string) []byte {
		var arr amf0.ECMAArray
		for _, k := range keys {
			arr = append(arr, amf0.ObjectEntry{Key: k, Value: float64(7)})
		}
		return amfBody(t, "@setDataFrame", "onMetaData", arr)
	}
	audio, video := []byte{0xaf, 1, 2}, []byte{0x27, 1, 0, 0, 0, 3}
	cases := []struct {
		name  string
		msgs  []flvMessage
		flags byte
	}{
		{"video first, no metadata", []flvMessage{{9, 0, video}, {8, 0, audio}}, 0x01},
		{"audio first, no metadata", []flvMessage{{8, 0, audio}, {9, 0, video}}, 0x04},
		{"metadata with both", []flvMessage{{18, 0, meta("width", "videocodecid", "audiocodecid")}, {9, 0, video}}, 0x05},
		{"metadata video only", []flvMessage{{18, 0, meta("videocodecid")}, {8, 0, audio}}, 0x01},
		{"metadata without codecs", []flvMessage{{18, 0, meta("width")}, {8, 0, audio}}, 0x00},
		{"other data held until video", []flvMessage{{18, 0, amfBody(t, "onTextData", "x")}, {9, 0, video}}, 0x01},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := writeFLV(t, tc.msgs)
			if !bytes.Equal(got[:13], []byte{'F', 'L', 'V', 1, tc.flags, 0, 0, 0, 9, 0, 0, 0, 0}) {
				t.Fatalf("header % x, want flags %#x", got[:13], tc.flags)
			}
			if tags := parseFLV(t, got[13:]); len(tags) != len(tc.msgs) {
				t.Fatalf("%d tags, want %d", len(tags), len(tc.msgs))
			}
		})
	}
	// Nothing decides the header yet: nothing is written.
	if got := writeFLV(t, []flvMessage{{18, 0, amfBody(t, "onCuePoint")}}); len(got) != 0 {
		t.Fatalf("%d bytes before the header was decided", len(got))
	}
}

// An aggregate is split, timestamps rebased; a truncated sub-tag ends the split; empty messages
// are dropped.
func TestFLVAggregate(t *testing.T) {
	agg := appendTag(nil, 9, 0x01000010, []byte{0x17, 1})
	agg = appendTag(agg, 8, 0x01000030, []byte{0xaf, 1})
	agg = appendTag(agg, 5, 0x01000040, []byte{1}) // not audio/video/data: dropped
	agg = appendTag(agg, 9, 0x01000050, []byte{0x27, 1})
	agg = append(agg, 9, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0, 1) // truncated
	got := writeFLV(t, []flvMessage{{9, 0, nil}, {22, 500, agg}})
	tags := parseFLV(t, got[13:])
	want := []struct {
		typ byte
		ts  uint32
	}{{9, 500}, {8, 0x20 + 500}, {9, 0x40 + 500}}
	if len(tags) != len(want) {
		t.Fatalf("%d tags, want %d", len(tags), len(want))
	}
	for i, w := range want {
		if tags[i].typ != w.typ || tags[i].ts != w.ts {
			t.Fatalf("tag %d: type %d ts %d, want %d %d", i, tags[i].typ, tags[i].ts, w.typ, w.ts)
		}
	}
}

func TestAMFSkip(t *testing.T) {
	good := amfBody(t, "x", float64(1), true, nil, amf0.Undefined{}, amf0.Object{{Key: "a", Value: "b"}},
		amf0.ECMAArray{{Key: "c", Value: amf0.StrictArray{float64(1), "d"}}})
	p := 0
	for p < len(good) {
		var err error
		if p, err = amfSkip(good, p, maxAMFDepth); err != nil {
			t.Fatalf("at %d: %v", p, err)
		}
	}
	for _, bad := range [][]byte{
		{0x02, 0, 5, 'a'},              // short string
		{0x03, 0, 1, 'a', 0x05},        // object without end
		{0x0A, 0xFF, 0xFF, 0xFF, 0xFF}, // a strict array longer than the bytes
		{0x11, 0},                      // AMF3 switch
		{0x00, 1, 2},                   // short number
	} {
		if _, err := amfSkip(bad, 0, maxAMFDepth); err == nil {
			t.Errorf("% x skipped", bad)
		}
	}
	deep := []byte{}
	for range maxAMFDepth + 1 {
		deep = append(deep, 0x0A, 0, 0, 0, 1)
	}
	if _, err := amfSkip(append(deep, 0x05), 0, maxAMFDepth); err == nil {
		t.Error("nesting past the bound was skipped")
	}
}

// FuzzFLV: any sequence of messages gives a well-formed FLV stream whose audio and video tags
// are the messages' bodies, untouched and in order.
func FuzzFLV(f *testing.F) {
	f.Add([]byte{9, 0, 0, 0, 0, 0, 3, 0x17, 1, 2, 8, 0, 0, 0, 5, 0, 2, 0xaf, 1})
	f.Add(append([]byte{22, 0, 0, 1, 0, 0, 30}, appendTag(appendTag(nil, 9, 3, []byte{1, 2}), 8, 9, []byte{3})...))
	f.Add(append([]byte{18, 0, 0, 0, 0, 0, 40}, "\x02\x00\x0d@setDataFrame\x02\x00\x0aonMetaData\x08\x00\x00\x00\x01\x00\x0cvideocodecid\x00\x40\x1c\x00\x00\x00\x00\x00\x00\x00\x00\x09"...))
	f.Fuzz(func(t *testing.T, data []byte) {
		// Records: type, timestamp (4 bytes), length (2 bytes), body.
		var msgs []flvMessage
		var want []flvMessage // the audio/video messages, in order
		for len(data) >= 7 {
			n := min(int(binary.BigEndian.Uint16(data[5:7])), len(data)-7)
			m := flvMessage{data[0], binary.BigEndian.Uint32(data[1:5]), data[7 : 7+n]}
			msgs = append(msgs, m)
			if (m.typ == 8 || m.typ == 9) && len(m.body) > 0 {
				want = append(want, m)
			}
			data = data[7+n:]
		}
		out := writeFLV(t, msgs)
		if len(want) > 0 && len(out) < 13 {
			t.Fatal("no header after an audio/video message")
		}
		if len(out) == 0 {
			return
		}
		if !bytes.Equal(out[:4], []byte{'F', 'L', 'V', 1}) || out[4]&^0x05 != 0 || !bytes.Equal(out[5:13], []byte{0, 0, 0, 9, 0, 0, 0, 0}) {
			t.Fatalf("header % x", out[:13])
		}
		i := 0
		for _, tag := range parseFLV(t, out[13:]) {
			if tag.typ != 8 && tag.typ != 9 && tag.typ != 18 {
				t.Fatalf("tag type %d", tag.typ)
			}
			if i < len(want) && tag.typ == want[i].typ && tag.ts == want[i].ts && bytes.Equal(tag.body, want[i].body) {
				i++
			}
		}
		if i != len(want) {
			t.Fatalf("%d of %d audio/video messages found untouched, in order", i, len(want))
		}
	})
}
