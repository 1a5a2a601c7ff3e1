package main

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib/pkg/amf0"
)

// admitted publishes with the right key, admits the session onto a new FIFO and waits for
// NetStream.Publish.Start: a live session.
func admitted(t *testing.T, h *frontHarness, c *rtmpClient, fifoName string) (uint64, *fifoReader) {
	t.Helper()
	c.connect()
	c.publish(testKey)
	ev := h.waitEvent("publish", 5*time.Second)
	fifo := newFIFO(t, h.dir, fifoName)
	h.send(map[string]any{"type": "admit", "id": ev.id(), "fifo": fifo.path})
	if code := c.waitStatus(); code != "NetStream.Publish.Start" {
		t.Fatalf("onStatus %q, want NetStream.Publish.Start", code)
	}
	return ev.id(), fifo
}

func TestPublishEventAndAdmission(t *testing.T) {
	t.Parallel()
	h := startFront(t)
	c := dialRTMP(t, h.rtmp)
	c.connect()
	c.publish(testKey + "?bitrate=2500")
	ev := h.waitEvent("publish", 5*time.Second)
	if ev.id() == 0 || ev["tls"] != false || !strings.HasPrefix(ev.str("peer"), "127.0.0.1:") {
		t.Fatalf("publish event %v", ev)
	}
	// The key never appears on the control channel or in the log.
	for _, e := range h.all() {
		if strings.Contains(e.str("peer")+e.str("reason"), testKey) {
			t.Fatalf("an event holds the key: %v", e)
		}
	}
	fifo := newFIFO(t, h.dir, "rtmp-1.flv")
	h.send(map[string]any{"type": "admit", "id": ev.id(), "fifo": fifo.path})
	if code := c.waitStatus(); code != "NetStream.Publish.Start" {
		t.Fatalf("onStatus %q", code)
	}
	c.mustSend(4, 9, streamID1, 0, []byte{0x17, 0, 0, 0, 0, 1, 2, 3})
	b := fifo.waitLen(t, 13+11+8+4, 5*time.Second)
	if !bytes.Equal(b[:13], []byte{'F', 'L', 'V', 1, 0x01, 0, 0, 0, 9, 0, 0, 0, 0}) {
		t.Fatalf("FLV header % x", b[:13])
	}
	c.mustCommand(streamID1, "deleteStream", nil, float64(1))
	end := h.waitEnded(ev.id(), 5*time.Second)
	if end.str("reason") != "publisher" || end["bytes"].(float64) != float64(len(fifo.waitEOF(t, 5*time.Second))) {
		t.Fatalf("ended %v, FIFO got %d bytes", end, len(fifo.bytes()))
	}
	if strings.Contains(h.stderr.String(), testKey) {
		t.Fatal("the log holds the key")
	}
}

// Everything but the allowed messages before an accepted publish closes the connection
// (refused/protocol) and no publish event comes.
func TestProtocolViolationsBeforePublish(t *testing.T) {
	t.Parallel()
	h := startFront(t, "--preauth-per-source", "64")
	video := []byte{0x17, 0, 0, 0, 0, 0x01, 0x64, 0x00, 0x1f}
	cases := []struct {
		name string
		run  func(c *rtmpClient)
	}{
		{"play then media", func(c *rtmpClient) {
			c.connect()
			c.mustCommand(0, "createStream", nil)
			c.command(streamID1, "play", nil, testKey) // the right key: play is refused anyway
			c.send(4, 9, streamID1, 0, video)
		}},
		{"play2", func(c *rtmpClient) {
			c.connect()
			c.command(streamID1, "play2", nil, amf0.Object{{Key: "streamName", Value: testKey}})
		}},
		{"media before publish", func(c *rtmpClient) {
			c.connect()
			c.send(4, 9, streamID1, 0, video)
		}},
		{"audio before connect", func(c *rtmpClient) {
			c.handshake()
			c.send(4, 8, 0, 0, []byte{0xaf, 0x00, 0x12, 0x10})
		}},
		{"data before publish", func(c *rtmpClient) {
			c.connect()
			c.send(4, 18, streamID1, 0, amfBody(t, "@setDataFrame", "onMetaData", amf0.ECMAArray{}))
		}},
		{"AMF3 command", func(c *rtmpClient) {
			c.handshake()
			c.send(3, 17, 0, 0, append([]byte{0}, amfBody(t, "connect", float64(1), connectObject())...))
		}},
		{"AMF3 data", func(c *rtmpClient) {
			c.connect()
			c.send(3, 15, 0, 0, []byte{0, 2, 0, 1, 'x'})
		}},
		{"aggregate", func(c *rtmpClient) {
			c.connect()
			c.send(4, 22, streamID1, 0, make([]byte, 30))
		}},
		{"first command not connect", func(c *rtmpClient) {
			c.handshake()
			c.command(0, "createStream", nil)
		}},
		{"connect without object", func(c *rtmpClient) {
			c.handshake()
			c.command(0, "connect", "live")
		}},
		{"second connect", func(c *rtmpClient) {
			c.connect()
			c.command(0, "connect", connectObject())
		}},
		{"unknown command", func(c *rtmpClient) {
			c.connect()
			c.command(0, "getStreamLength", nil, testKey)
		}},
		{"malformed AMF", func(c *rtmpClient) {
			c.connect()
			c.send(3, 20, 0, 0, []byte{0x02, 0x00, 0x07, 'p', 'u', 'b', 'l', 'i', 's', 'h', 0x00, 0x40})
		}},
		{"deep AMF nesting", func(c *rtmpClient) {
			c.connect()
			body := amfBody(t, "publish", float64(5), nil)
			for range 64 {
				body = append(body, 0x0A, 0, 0, 0, 1)
			}
			c.send(3, 20, 0, 0, append(body, 0x05))
		}},
		{"publish without name", func(c *rtmpClient) {
			c.connect()
			c.command(streamID1, "publish", nil, float64(3))
		}},
		{"user control stream begin", func(c *rtmpClient) {
			c.connect()
			c.send(2, 4, 0, 0, []byte{0, 0, 0, 0, 0, 1})
		}},
		{"RTMPE handshake", func(c *rtmpClient) {
			c.conn.Write(append([]byte{6}, make([]byte, 1536)...))
		}},
		{"extended chunk stream ID", func(c *rtmpClient) {
			c.connect()
			c.conn.Write([]byte{0x00, 0x05, 0, 0, 0, 0, 0, 4, 20, 0, 0, 0, 0, 0x05, 0x05, 0x05, 0x05})
		}},
		{"chunk size 0", func(c *rtmpClient) {
			c.handshake()
			c.send(2, 1, 0, 0, []byte{0, 0, 0, 0})
		}},
	}
	fifo := newFIFO(t, h.dir, "never.flv")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRTMP(t, h.rtmp)
			c.t = t
			tc.run(c)
			h.waitRefused("protocol", 5*time.Second)
			c.waitClosed(5 * time.Second)
		})
	}
	h.noEvent("publish", 200*time.Millisecond)
	if got := fifo.bytes(); len(got) != 0 {
		t.Fatalf("the FIFO got %d bytes", len(got))
	}
}

// A key split over many 8-byte chunks is found: the wrong one is refused, the right one accepted.
func TestChunkSize8CarriesTheKey(t *testing.T) {
	t.Parallel()
	h := startFront(t)

	wrong := dialRTMP(t, h.rtmp)
	wrong.connect()
	wrong.setChunkSize(8)
	wrong.mustCommand(0, "createStream", nil)
	wrong.mustCommand(streamID1, "publish", nil, "live_8f3a2c1d9X?x=1", "live")
	if code := wrong.waitStatus(); code != "NetStream.Publish.BadName" {
		t.Fatalf("wrong key: onStatus %q", code)
	}
	h.waitRefused("key", 5*time.Second)
	wrong.waitClosed(5 * time.Second)
	h.noEvent("publish", 100*time.Millisecond)

	fc := dialRTMP(t, h.rtmp)
	fc.connect()
	fc.setChunkSize(8)
	fc.mustCommand(0, "FCPublish", nil, "not-the-key")
	h.waitRefused("key", 5*time.Second)
	fc.waitClosed(5 * time.Second)

	right := dialRTMP(t, h.rtmp)
	right.connect()
	right.setChunkSize(8)
	right.publish(testKey)
	ev := h.waitEvent("publish", 5*time.Second)
	h.send(map[string]any{"type": "refuse", "id": ev.id(), "reason": "busy"})
	if code := right.waitStatus(); code != "NetStream.Publish.BadName" {
		t.Fatalf("refused by the worker: onStatus %q", code)
	}
	h.waitRefused("busy", 5*time.Second)
	right.waitClosed(5 * time.Second)
}

// The key file is read at every attempt: a rotation takes effect at once; no file: no publisher.
func TestKeyFileIsReadAtEveryPublish(t *testing.T) {
	t.Parallel()
	h := startFront(t, "--admit-timeout", "300ms")
	try := func(key string) string {
		c := dialRTMP(t, h.rtmp)
		c.connect()
		c.mustCommand(0, "createStream", nil)
		c.mustCommand(streamID1, "publish", nil, key, "live")
		e := h.waitMatch("publish or refused", func(e event) bool {
			return e.str("type") == "publish" || e.str("type") == "refused"
		}, 5*time.Second)
		if e.str("type") == "publish" {
			h.waitRefused("busy", 5*time.Second) // no answer within --admit-timeout
			return "publish"
		}
		return e.str("reason")
	}
	if got := try(testKey); got != "publish" {
		t.Fatalf("right key: %s", got)
	}
	if err := os.WriteFile(h.keyFile, []byte("rotated-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := try(testKey); got != "key" {
		t.Fatalf("old key after rotation: %s", got)
	}
	if got := try("rotated-key"); got != "publish" {
		t.Fatalf("new key: %s", got)
	}
	os.Remove(h.keyFile)
	if got := try("rotated-key"); got != "key" {
		t.Fatalf("no key file: %s", got)
	}
	if got := try(""); got != "key" {
		t.Fatalf("empty name, no key file: %s", got)
	}
}

// A client trickling a byte every 2 s is cut at the total deadline, and meanwhile a right-key
// publisher is not held up.
func TestTrickleIsCutAtTheDeadline(t *testing.T) {
	t.Parallel()
	h := startFront(t) // default --preauth-deadline 5s
	start := time.Now()
	conn, err := net.Dial("tcp", h.rtmp)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	closed := make(chan time.Duration, 1)
	go func() {
		b := make([]byte, 4096)
		for {
			if _, err := conn.Read(b); err != nil {
				closed <- time.Since(start)
				return
			}
		}
	}()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		prefix := []byte{3, 0, 0, 0, 0, 0, 0, 0, 0}
		for i := 0; ; i++ {
			if _, err := conn.Write(prefix[i%len(prefix) : i%len(prefix)+1]); err != nil {
				return
			}
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Second):
			}
		}
	}()

	time.Sleep(500 * time.Millisecond)
	c := dialRTMP(t, h.rtmp)
	c.connect()
	c.publish(testKey)
	// Not held behind the trickler: the publisher is in while the trickler is still connected. The
	// order is what is checked, not a duration: a loaded machine delays both alike.
	h.waitEvent("publish", 30*time.Second)
	if len(closed) != 0 {
		t.Fatal("the right-key publisher got in only once the trickler was cut: it was held behind it")
	}

	// Cut by the deadline, not earlier: the reason says which rule cut it, and the client's close
	// comes no sooner than the deadline after its connect. It trickles a byte every 2 s, so without
	// the deadline it would never be cut; how late past 5 s depends on the machine's load only.
	select {
	case d := <-closed:
		if d < 4*time.Second {
			t.Fatalf("the trickling client was closed after %s, before the 5 s deadline", d)
		}
		t.Logf("the trickling client was closed after %s (deadline 5 s)", d)
	case <-time.After(30 * time.Second):
		t.Fatal("the trickling client was not closed within 30 s")
	}
	h.waitRefused("deadline", 10*time.Second)
}

// Past --preauth-bytes the client is refused; a declared 5 MB message allocates nothing ahead.
func TestByteCap(t *testing.T) {
	h := startFront(t)
	for _, bigChunks := range []bool{true, false} {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)

		c := dialRTMP(t, h.rtmp)
		c.connect()
		chunk := uint32(128)
		if bigChunks {
			chunk = maxChunkSize // one declared 5 MB chunk: gortmplib would allocate it at once
			c.setChunkSize(chunk)
		}
		size := 5 << 20
		// A publish command whose body never ends: header, then filler, written from one buffer.
		header := []byte{0x03, 0, 0, 0, byte(size >> 16), byte(size >> 8), byte(size), 20, 1, 0, 0, 0}
		body := amfBody(t, "publish", float64(5), nil)
		first := append(header, body...)
		var filler []byte
		if bigChunks {
			filler = bytes.Repeat([]byte{'x'}, 64*1024)
		} else {
			// Fill the first 128-byte chunk, then type 3 chunks (a header byte and 128 bytes).
			first = append(first, bytes.Repeat([]byte{'x'}, 128-len(body))...)
			filler = append([]byte{0xC3}, bytes.Repeat([]byte{'x'}, 128)...)
		}
		c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.conn.Write(first); err != nil {
			t.Fatal(err)
		}
		for sent := len(first); sent < size; sent += len(filler) {
			if _, err := c.conn.Write(filler); err != nil {
				break // refused and closed
			}
		}
		h.waitRefused("bytes", 5*time.Second)
		c.waitClosed(5 * time.Second)
		runtime.ReadMemStats(&after)
		if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
			t.Errorf("chunk size %d: %d bytes allocated while refusing a 5 MB message (want < 1 MiB)", chunk, d)
		}
	}
	h.noEvent("publish", 100*time.Millisecond)
}

// Pre-auth connections are capped per source IP and overall; over a cap the newcomer is never
// turned away: the connection that got least far, then the oldest, is closed for it. So tricklers
// holding every slot (behind a NodePort, every client may share one address) never keep a
// publisher with the key out.
// Each pre-auth stage is a pool of its own whose oldest is closed for a newcomer of that stage:
// bare connections never close one past `connect`, a newcomer past `connect` closes the oldest
// there, and a publisher whose releaseStream carried the key is out of reach (issue 52).
func TestPreauthPoolsEvictTheirOldest(t *testing.T) {
	t.Parallel()
	h := startFront(t, "--preauth-per-source", "2", "--preauth-total", "3")
	dialFrom := func(ip string) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp", h.rtmp)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	closedSoon := func(c net.Conn) bool {
		c.SetReadDeadline(time.Now().Add(time.Second))
		_, err := io.Copy(io.Discard, c)
		var ne net.Error
		return !(errors.As(err, &ne) && ne.Timeout())
	}
	// Two clients of 127.0.0.1 past connect fill its connected pool.
	older := newRTMPClient(t, dialFrom("127.0.0.1"))
	older.connect()
	newer := newRTMPClient(t, dialFrom("127.0.0.1"))
	newer.connect()
	// Bare connections from the same address close only each other, oldest first.
	var bare []net.Conn
	for range 4 {
		bare = append(bare, dialFrom("127.0.0.1"))
		time.Sleep(20 * time.Millisecond)
	}
	h.waitRefused("source-cap", 2*time.Second)
	h.waitRefused("source-cap", 2*time.Second)
	if !closedSoon(bare[0]) || !closedSoon(bare[1]) {
		t.Fatal("the oldest bare connections were not closed for the newer ones")
	}
	if closedSoon(older.conn) || closedSoon(newer.conn) {
		t.Fatal("a bare connection closed one past connect")
	}
	// Every connection is bare until its first bytes: this one closes the oldest bare one, then
	// leaves the bare pool with its handshake.
	hs := newRTMPClient(t, dialFrom("127.0.0.1"))
	hs.handshake()
	if !closedSoon(bare[2]) {
		t.Fatal("the oldest bare connection was not closed for a new one")
	}
	// A newcomer past connect closes the oldest there.
	hs.mustCommand(0, "connect", connectObject())
	hs.waitReply("_result")
	h.waitRefused("source-cap", 2*time.Second)
	if !closedSoon(older.conn) {
		t.Fatal("the oldest connection past connect was not closed for the newcomer")
	}
	// With the key in releaseStream a publisher is out of the pools: two more past connect do not
	// close it, and its publish is taken.
	pub := newRTMPClient(t, dialFrom("127.0.0.1"))
	pub.connect()
	pub.mustCommand(0, "releaseStream", nil, testKey)
	pub.waitReply("_result")
	for range 2 {
		newRTMPClient(t, dialFrom("127.0.0.1")).connect()
	}
	pub.publish(testKey)
	h.waitEvent("publish", 5*time.Second)

	if closedSoon(bare[3]) {
		t.Fatal("connections that sent a handshake closed a bare one")
	}

	// The total cap: with 127.0.0.1's last bare connection, bare ones from three more addresses;
	// the last closes the oldest of all.
	var others []net.Conn
	for _, ip := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"} {
		others = append(others, dialFrom(ip))
		time.Sleep(20 * time.Millisecond)
	}
	h.waitRefused("total-cap", 2*time.Second)
	if !closedSoon(bare[3]) || closedSoon(others[0]) {
		t.Fatal("the oldest bare connection was not the one closed at the total cap")
	}
}

// The Enhanced RTMP FourCC video and audio bodies reach the FIFO byte for byte; the FLV header,
// @setDataFrame stripping and aggregate splitting are as rtmpproto.c does them.
func TestEnhancedRTMPPassesUntouched(t *testing.T) {
	t.Parallel()
	h := startFront(t)
	c := dialRTMP(t, h.rtmp)
	id, fifo := admitted(t, h, c, "hevc.flv")
	c.setChunkSize(4096)

	meta := amfBody(t, "@setDataFrame", "onMetaData", amf0.ECMAArray{
		{Key: "videocodecid", Value: float64(0x68766331)}, // 'hvc1'
		{Key: "audiocodecid", Value: float64(0x4f707573)}, // 'Opus'
		{Key: "width", Value: float64(1920)},
	})
	random := func(n int) []byte {
		b := make([]byte, n)
		rand.Read(b)
		return b
	}
	seqStart := append([]byte{0x90, 'h', 'v', 'c', '1'}, random(120)...)             // ex header, sequence start
	frame := append([]byte{0x91, 'h', 'v', 'c', '1', 0, 0, 0x21}, random(200000)...) // coded frames, > 64 KiB
	audio := append([]byte{0x91, 'O', 'p', 'u', 's'}, random(160)...)                // ex audio: first nibble 9
	c.mustSend(5, 18, streamID1, 0, meta)
	c.mustSend(6, 9, streamID1, 0, seqStart)
	c.mustSend(6, 9, streamID1, 33, frame)
	c.mustSend(4, 8, streamID1, 40, audio)
	c.mustSend(6, 9, streamID1, 0x01234567, frame[:1000]) // an extended timestamp
	// An aggregate of two tags at 1000 and 1040: rebased onto the aggregate's 5000.
	sub := func(typ byte, ts uint32, body []byte) []byte { return appendTag(nil, typ, ts, body) }
	agg := append(sub(9, 1000, []byte{0x91, 'h', 'v', 'c', '1', 1, 2, 3}), sub(8, 1040, []byte{0x91, 'O', 'p', 'u', 's', 9})...)
	c.mustSend(4, 22, streamID1, 5000, agg)
	c.mustCommand(streamID1, "FCUnpublish", nil, testKey)
	h.waitEnded(id, 5*time.Second)
	got := fifo.waitEOF(t, 5*time.Second)

	if !bytes.Equal(got[:13], []byte{'F', 'L', 'V', 1, 0x05, 0, 0, 0, 9, 0, 0, 0, 0}) {
		t.Fatalf("FLV header % x, want audio+video flags from onMetaData", got[:13])
	}
	want := []struct {
		typ  byte
		ts   uint32
		body []byte
	}{
		{18, 0, meta[16:]}, // without @setDataFrame
		{9, 0, seqStart},
		{9, 33, frame},
		{8, 40, audio},
		{9, 0x01234567, frame[:1000]},
		{9, 5000, []byte{0x91, 'h', 'v', 'c', '1', 1, 2, 3}},
		{8, 5040, []byte{0x91, 'O', 'p', 'u', 's', 9}},
	}
	tags := parseFLV(t, got[13:])
	if len(tags) != len(want) {
		t.Fatalf("%d tags, want %d", len(tags), len(want))
	}
	for i, w := range want {
		if tags[i].typ != w.typ || tags[i].ts != w.ts || !bytes.Equal(tags[i].body, w.body) {
			t.Fatalf("tag %d: type %d ts %d len %d, want type %d ts %d len %d (bodies equal: %v)", i,
				tags[i].typ, tags[i].ts, len(tags[i].body), w.typ, w.ts, len(w.body), bytes.Equal(tags[i].body, w.body))
		}
	}
}

type flvTag struct {
	typ  byte
	ts   uint32
	body []byte
}

// parseFLV reads the tags after the 13-byte header, checking each PreviousTagSize.
func parseFLV(t testing.TB, b []byte) []flvTag {
	t.Helper()
	var tags []flvTag
	for len(b) > 0 {
		if len(b) < 15 {
			t.Fatalf("truncated tag: %d bytes left", len(b))
		}
		size := int(b[1])<<16 | int(b[2])<<8 | int(b[3])
		ts := uint32(b[4])<<16 | uint32(b[5])<<8 | uint32(b[6]) | uint32(b[7])<<24
		if len(b) < 11+size+4 || binary.BigEndian.Uint32(b[11+size:]) != uint32(11+size) || b[8]|b[9]|b[10] != 0 {
			t.Fatalf("bad tag at %d bytes from the end", len(b))
		}
		tags = append(tags, flvTag{b[0], ts, b[11 : 11+size]})
		b = b[11+size+4:]
	}
	return tags
}

// How an admitted session ends: FFmpeg's side gone (upstream), the worker's close, a silent
// publisher (idle); no answer or a FIFO without reader: busy.
func TestSessionEnds(t *testing.T) {
	t.Parallel()
	h := startFront(t, "--idle-timeout", "1s", "--admit-timeout", "1s")
	video := []byte{0x17, 1, 0, 0, 0, 0, 0, 0, 5, 0x65, 1, 2, 3, 4}

	t.Run("reader gone", func(t *testing.T) {
		c := dialRTMP(t, h.rtmp)
		c.t = t
		id, fifo := admitted(t, h, c, "gone.flv")
		c.mustSend(6, 9, streamID1, 0, video)
		fifo.waitLen(t, 13, 5*time.Second)
		fifo.closeReader()
		for i := 0; i < 100; i++ {
			if c.send(6, 9, streamID1, uint32(i*33), video) != nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if r := h.waitEnded(id, 5*time.Second).str("reason"); r != "upstream" {
			t.Fatalf("ended %s, want upstream", r)
		}
		c.waitClosed(5 * time.Second)
	})
	t.Run("close command", func(t *testing.T) {
		c := dialRTMP(t, h.rtmp)
		c.t = t
		id, fifo := admitted(t, h, c, "close.flv")
		c.mustSend(6, 9, streamID1, 0, video)
		h.send(map[string]any{"type": "close", "id": id})
		if r := h.waitEnded(id, 5*time.Second).str("reason"); r != "closed" {
			t.Fatalf("ended %s, want closed", r)
		}
		c.waitClosed(5 * time.Second)
		fifo.waitEOF(t, 5*time.Second)
	})
	t.Run("idle publisher", func(t *testing.T) {
		c := dialRTMP(t, h.rtmp)
		c.t = t
		id, fifo := admitted(t, h, c, "idle.flv")
		c.mustSend(6, 9, streamID1, 0, video)
		start := time.Now()
		if r := h.waitEnded(id, 5*time.Second).str("reason"); r != "idle" {
			t.Fatalf("ended %s, want idle", r)
		}
		if d := time.Since(start); d < 900*time.Millisecond || d > 2*time.Second {
			t.Fatalf("idle after %s, want ≈1 s", d)
		}
		c.waitClosed(5 * time.Second)
		if got := fifo.waitEOF(t, 5*time.Second); len(got) != 13+11+len(video)+4 {
			t.Fatalf("the FIFO got %d bytes before EOF", len(got))
		}
	})
	t.Run("slowing publisher", func(t *testing.T) {
		// A second at ≈200 KB/s raises the receive low-water mark; then a small message and
		// silence: the message still reaches the FIFO, then the session ends idle.
		c := dialRTMP(t, h.rtmp)
		c.t = t
		id, fifo := admitted(t, h, c, "slowing.flv")
		c.setChunkSize(65536)
		big := append([]byte{0x27, 1, 0, 0, 0}, make([]byte, 4000)...)
		for i := range 75 {
			c.mustSend(6, 9, streamID1, uint32(i*20), big)
			time.Sleep(20 * time.Millisecond)
		}
		last := []byte{0xaf, 0x01, 0x21, 0x10, 0x04, 0x60}
		c.mustSend(4, 8, streamID1, 1600, last)
		if r := h.waitEnded(id, 5*time.Second).str("reason"); r != "idle" {
			t.Fatalf("ended %s, want idle", r)
		}
		tags := parseFLV(t, fifo.waitEOF(t, 5*time.Second)[13:])
		if n := len(tags); n != 76 || !bytes.Equal(tags[n-1].body, last) {
			t.Fatalf("%d tags (the last %d bytes); want 76, the last the small audio message", n, len(tags[n-1].body))
		}
	})
	t.Run("no answer", func(t *testing.T) {
		c := dialRTMP(t, h.rtmp)
		c.t = t
		c.connect()
		c.publish(testKey)
		h.waitEvent("publish", 5*time.Second)
		if code := c.waitStatus(); code != "NetStream.Publish.BadName" {
			t.Fatalf("onStatus %q", code)
		}
		h.waitRefused("busy", 5*time.Second)
	})
	t.Run("FIFO without reader", func(t *testing.T) {
		c := dialRTMP(t, h.rtmp)
		c.t = t
		c.connect()
		c.publish(testKey)
		ev := h.waitEvent("publish", 5*time.Second)
		path := h.dir + "/noreader.flv"
		if err := syscall.Mkfifo(path, 0o600); err != nil {
			t.Fatal(err)
		}
		h.send(map[string]any{"type": "admit", "id": ev.id(), "fifo": path})
		if code := c.waitStatus(); code != "NetStream.Publish.BadName" {
			t.Fatalf("onStatus %q", code)
		}
		h.waitRefused("busy", 5*time.Second)
	})
}

// stdin EOF (the worker died) ends every session and the process.
func TestStdinEOFClosesEverything(t *testing.T) {
	t.Parallel()
	h := startFront(t)
	c := dialRTMP(t, h.rtmp)
	id, fifo := admitted(t, h, c, "eof.flv")
	pending := dialRTMP(t, h.rtmp)
	pending.handshake()
	h.stdin.Close()
	if r := h.waitEnded(id, 5*time.Second).str("reason"); r != "closed" {
		t.Fatalf("ended %s, want closed", r)
	}
	select {
	case code := <-h.exit:
		h.exit <- code // for the cleanup
		if code != 0 {
			t.Fatalf("exit code %d", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the front did not stop after stdin EOF")
	}
	c.waitClosed(time.Second)
	pending.waitClosed(time.Second)
	fifo.waitEOF(t, time.Second)
}
