package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib/pkg/amf0"
	"github.com/bluenviron/gortmplib/pkg/bytecounter"
	"github.com/bluenviron/gortmplib/pkg/rawmessage"
)

const fuzzCap = 65536 // the default --preauth-bytes

// fakeClock advances a millisecond per look: the pre-auth deadline (5 s) passes after 5000 reads.
type fakeClock struct{ now time.Time }

func (c *fakeClock) tick() time.Time {
	c.now = c.now.Add(time.Millisecond)
	return c.now
}

// preauthVerdict drives the pre-auth state machine over data (all the client sends, then EOF),
// with the test key, the default byte cap and a clock: accepted, or the refusal reason ("" when
// the bytes simply ran out).
func preauthVerdict(data []byte) (bool, string) {
	clock := &fakeClock{now: time.Unix(1_000_000, 0)}
	m := newMeter(struct {
		io.Reader
		io.Writer
	}{bytes.NewReader(data), io.Discard}, fuzzCap, clock.now.Add(5*time.Second), clock.tick)
	p, err := runPreauth(m, preauthConfig{key: func() []byte { return []byte(testKey) }, maxBytes: fuzzCap})
	if err == nil {
		if p == nil {
			panic("runPreauth returned neither a publisher nor an error")
		}
		return true, ""
	}
	if m.n > fuzzCap+1 {
		panic(fmt.Sprintf("read %d bytes past a cap of %d", m.n, fuzzCap))
	}
	return false, classify(err, m)
}

var heapAllocs = []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}

func allocatedBytes() uint64 {
	metrics.Read(heapAllocs)
	return heapAllocs[0].Value.Uint64()
}

// FuzzPreauth: arbitrary client bytes never panic, never take long or much memory, and are
// accepted only when a reference reading of the same bytes finds connect, then publish with
// the right key.
func FuzzPreauth(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		start, allocs := time.Now(), allocatedBytes()
		accepted, reason := preauthVerdict(data)
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("pre-auth took %s", d)
		}
		if a := allocatedBytes() - allocs; a > 16<<20 {
			t.Fatalf("pre-auth allocated %d bytes for %d input bytes", a, len(data))
		}
		switch reason {
		case "", reasonKey, reasonProtocol, reasonDeadline, reasonBytes:
		default:
			t.Fatalf("reason %q", reason)
		}
		if accepted && !referenceAccepts(data[:min(len(data), fuzzCap)]) {
			t.Fatal("accepted a publish the reference reading does not find")
		}
	})
}

// referenceAccepts de-chunks data independently of gortmplib's reader (same rules: RFC 7425
// chunk headers, extended timestamps as gortmplib reads them, Set Chunk Size, Abort) and says
// whether the first AMF0 command is connect and a later one is publish with the test key.
func referenceAccepts(data []byte) bool {
	connected := false
	accepted := false
	referenceMessages(data, func(typ uint8, body []byte) bool {
		if typ != 20 {
			return true
		}
		v, err := amf0.Unmarshal(body)
		if err != nil || len(v) < 2 {
			return false
		}
		name, _ := v[0].(string)
		if !connected {
			connected = name == "connect"
			return connected
		}
		if name == "publish" && len(v) >= 4 {
			if s, ok := v[3].(string); ok && strings.SplitN(s, "?", 2)[0] == testKey {
				accepted = true
				return false
			}
		}
		return true
	})
	return accepted
}

// referenceMessages calls each for every complete message after the handshake, until it returns
// false or the bytes end or break a rule.
func referenceMessages(b []byte, each func(typ uint8, body []byte) bool) {
	if len(b) < 3073 || b[0] != 3 {
		return
	}
	b = b[3073:]
	type stream struct {
		seen, ext     bool
		typ           uint8
		length        int
		body          []byte
		inProgress    bool
		lastTimestamp uint32
	}
	streams := map[byte]*stream{}
	chunk := 128
	be24 := func(p []byte) uint32 { return uint32(p[0])<<16 | uint32(p[1])<<8 | uint32(p[2]) }
	for len(b) > 0 {
		format, id := b[0]>>6, b[0]&0x3F
		if id < 2 {
			return
		}
		s := streams[id]
		if s == nil {
			s = &stream{}
			streams[id] = s
		}
		p := 1
		// extended reads the 4-byte extended field when the 3-byte one is 0xFFFFFF; gortmplib
		// then decides from the value whether type 3 chunks carry it too.
		extended := func(v uint32) bool {
			if v < 0xFFFFFF {
				return true
			}
			if len(b) < p+4 {
				return false
			}
			s.ext = be32(b[p:]) >= 0xFFFFFF
			p += 4
			return true
		}
		switch format {
		case 0, 1:
			n := map[byte]int{0: 11, 1: 7}[format]
			if len(b) < p+n || s.inProgress || (format == 1 && !s.seen) {
				return
			}
			ts := be24(b[p:])
			s.length, s.typ = int(be24(b[p+3:])), b[p+6]
			p += n
			s.ext = false
			if !extended(ts) || s.length > maxChunkSize {
				return
			}
		case 2:
			if len(b) < p+3 || s.inProgress || !s.seen {
				return
			}
			ts := be24(b[p:])
			p += 3
			s.ext = false
			if !extended(ts) {
				return
			}
		case 3:
			if !s.inProgress && !s.seen {
				return
			}
			if s.ext {
				if len(b) < p+4 {
					return
				}
				p += 4
			}
		}
		s.seen = true
		if !s.inProgress {
			s.body, s.inProgress = s.body[:0], true
		}
		n := min(s.length-len(s.body), chunk)
		if len(b) < p+n {
			return
		}
		s.body = append(s.body, b[p:p+n]...)
		b = b[p+n:]
		if len(s.body) < s.length {
			continue
		}
		s.inProgress = false
		switch s.typ {
		case 1:
			if len(s.body) < 4 {
				return
			}
			v := int(be32(s.body) & 0x7FFFFFFF)
			if v == 0 || v > maxChunkSize {
				return
			}
			chunk = v
		case 2:
			if len(s.body) < 4 {
				return
			}
			if a := be32(s.body); a >= 2 && a <= 63 && streams[byte(a)] != nil && streams[byte(a)].inProgress {
				aborted := streams[byte(a)]
				aborted.inProgress, aborted.body, aborted.length = false, aborted.body[:0], 0
			}
		}
		if !each(s.typ, s.body) {
			return
		}
	}
}

// The seed corpus (testdata/fuzz/FuzzPreauth): each file's verdict is what it stands for.
// STREAMOPS_RTMP_WRITE_SEEDS=1 rewrites the synthetic ones (go generate; the FFmpeg capture comes
// from TestFFmpegPublishesThroughTheFIFO).
func TestFuzzSeeds(t *testing.T) {
	want := map[string]string{
		"ffmpeg-publish":                 "accepted",
		"obs-publish":                    "accepted",
		"attack-play-media":              reasonProtocol,
		"attack-chunk8-wrong-key":        reasonKey,
		"attack-trickle-prefix":          "",
		"attack-partial-publish-5mb-cap": reasonBytes,
	}
	if os.Getenv("STREAMOPS_RTMP_WRITE_SEEDS") != "" {
		for name, data := range syntheticSeeds(t) {
			writeSeed(t, name, data)
		}
	}
	for name, verdict := range want {
		raw, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzPreauth", name))
		if err != nil {
			t.Fatalf("seed %s: %v", name, err)
		}
		data := parseSeed(t, raw)
		accepted, reason := preauthVerdict(data)
		got := reason
		if accepted {
			got = "accepted"
			if !referenceAccepts(data) {
				t.Errorf("seed %s: the reference reading does not accept it", name)
			}
		}
		if got != verdict {
			t.Errorf("seed %s: %q, want %q", name, got, verdict)
		}
	}
}

// clientBytes is what a client writes: the handshake (C0, C1, C2 with fixed contents), then the
// messages the function writes.
func clientBytes(t *testing.T, messages func(c *rtmpClient)) []byte {
	var buf bytes.Buffer
	buf.WriteByte(3)
	c1 := make([]byte, 1536)
	for i := range c1 {
		c1[i] = byte(i * 7)
	}
	buf.Write(c1)
	buf.Write(c1) // C2: the server does not check it
	c := &rtmpClient{t: t, w: rawmessage.NewWriter(&buf, bytecounter.NewWriter(&buf), false)}
	messages(c)
	return buf.Bytes()
}

func syntheticSeeds(t *testing.T) map[string][]byte {
	seeds := map[string][]byte{}
	seeds["obs-publish"] = clientBytes(t, func(c *rtmpClient) {
		c.setChunkSize(4096)
		c.mustCommand(0, "connect", connectObject())
		c.mustSend(2, 5, 0, 0, []byte{0, 0x26, 0x25, 0xa0}) // window ack size 2500000
		c.mustCommand(0, "releaseStream", nil, testKey)
		c.mustCommand(0, "FCPublish", nil, testKey)
		c.mustCommand(0, "createStream", nil)
		c.mustCommand(streamID1, "publish", nil, testKey, "live")
		c.mustSend(4, 18, streamID1, 0, amfBody(t, "@setDataFrame", "onMetaData", amf0.ECMAArray{
			{Key: "width", Value: float64(1280)}, {Key: "height", Value: float64(720)},
			{Key: "videocodecid", Value: float64(7)}, {Key: "audiocodecid", Value: float64(10)},
			{Key: "encoder", Value: "obs-output module (libobs version 30.2.3)"},
		}))
	})
	seeds["attack-play-media"] = clientBytes(t, func(c *rtmpClient) {
		c.mustCommand(0, "connect", connectObject())
		c.mustCommand(0, "createStream", nil)
		c.mustCommand(streamID1, "play", nil, testKey)
		c.mustSend(6, 9, streamID1, 0, []byte{0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f})
	})
	seeds["attack-chunk8-wrong-key"] = clientBytes(t, func(c *rtmpClient) {
		c.mustCommand(0, "connect", connectObject())
		c.setChunkSize(8)
		c.mustCommand(0, "createStream", nil)
		c.mustCommand(streamID1, "publish", nil, "live_8f3a2c1d9X?x=1", "live")
	})
	seeds["attack-trickle-prefix"] = []byte{3, 0, 0, 0, 0, 0, 0, 0, 0}
	partial := clientBytes(t, func(c *rtmpClient) {
		c.mustCommand(0, "connect", connectObject())
		c.setChunkSize(maxChunkSize)
	})
	size := 5 << 20
	partial = append(partial, 0x03, 0, 0, 0, byte(size>>16), byte(size>>8), byte(size), 20, 1, 0, 0, 0)
	partial = append(partial, amfBody(t, "publish", float64(5), nil)...)
	for len(partial) <= fuzzCap {
		partial = append(partial, 'x')
	}
	seeds["attack-partial-publish-5mb-cap"] = partial
	return seeds
}

func writeSeed(t *testing.T, name string, data []byte) {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz", "FuzzPreauth")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	content := "go test fuzz v1\n[]byte(" + strconv.Quote(string(data)) + ")\n"
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote seed %s (%d bytes)", name, len(data))
}

// parseSeed reads go's corpus file format (one []byte value).
func parseSeed(t *testing.T, raw []byte) []byte {
	t.Helper()
	lines := strings.SplitN(string(raw), "\n", 2)
	if len(lines) != 2 || lines[0] != "go test fuzz v1" {
		t.Fatal("not a corpus file")
	}
	v := strings.TrimSpace(lines[1])
	if !strings.HasPrefix(v, "[]byte(") || !strings.HasSuffix(v, ")") {
		t.Fatal("not a []byte corpus file")
	}
	s, err := strconv.Unquote(v[len("[]byte(") : len(v)-1])
	if err != nil {
		t.Fatal(err)
	}
	return []byte(s)
}
