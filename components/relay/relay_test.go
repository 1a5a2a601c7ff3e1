package main

// The relay with real peers on 127.0.0.1: a feed made by FFmpeg (H.264 + AAC in MPEG-TS) served
// over HTTP, RTMP servers in the test process (gortmplib's server side) as the targets.

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/codecs"
)

func tool(t testing.TB, name string) string {
	t.Helper()
	if p := os.Getenv("STREAMOPS_" + strings.ToUpper(name)); p != "" {
		return p
	}
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is needed by this test (set STREAMOPS_%s to its path)", name, strings.ToUpper(name))
	}
	return p
}

// tsFeed is `seconds` of 25 fps H.264 (a keyframe every second) and AAC, as the ingest's feed is.
func tsFeed(t testing.TB, seconds int) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "feed.ts")
	cmd := exec.Command(tool(t, "ffmpeg"), "-hide_banner", "-nostdin", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", strconv.Itoa(seconds),
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-f", "mpegts", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// feedServer serves the feed once per request to whoever presents the credential, paced so that
// the whole feed takes `span`.
type feedServer struct {
	*httptest.Server
	requests atomic.Int32
}

func serveFeed(t *testing.T, data []byte, span time.Duration) *feedServer {
	fs := &feedServer{}
	fs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer feed-credential" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fs.requests.Add(1)
		w.Header().Set("Content-Type", "video/mp2t")
		const parts = 20
		step := len(data) / parts / 188 * 188
		for i := 0; i < parts; i++ {
			end := (i + 1) * step
			if i == parts-1 {
				end = len(data)
			}
			if _, err := w.Write(data[i*step : end]); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			time.Sleep(span / parts)
		}
	}))
	t.Cleanup(fs.Close)
	return fs
}

// rtmpTarget accepts one publisher and counts the H.264 frames it sends.
type rtmpTarget struct {
	ln        net.Listener
	stall     bool
	mu        sync.Mutex
	stream    string
	frames    int
	firstKey  bool
	audio     int
	dts       []time.Duration // each video frame's DTS, in arrival order
	connected chan struct{}
	done      chan struct{}
}

func startTarget(t *testing.T, stall bool) *rtmpTarget {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rt := &rtmpTarget{ln: ln, stall: stall, connected: make(chan struct{}), done: make(chan struct{})}
	t.Cleanup(func() { ln.Close(); <-rt.done })
	go rt.serve()
	return rt
}

func (rt *rtmpTarget) addr() string { return rt.ln.Addr().String() }

func (rt *rtmpTarget) serve() {
	defer close(rt.done)
	nc, err := rt.ln.Accept()
	if err != nil {
		return
	}
	defer nc.Close()
	go func() { <-rt.doneListening(); nc.Close() }()
	if tc, ok := nc.(*net.TCPConn); ok && rt.stall {
		_ = tc.SetReadBuffer(4096)
	}
	conn := &gortmplib.ServerConn{RW: nc}
	if conn.Initialize() != nil || conn.Accept() != nil {
		return
	}
	rt.mu.Lock()
	rt.stream = conn.URL.Fragment
	if rt.stream == "" {
		rt.stream = strings.TrimPrefix(conn.URL.Path, "/")
	}
	rt.mu.Unlock()
	close(rt.connected)
	if rt.stall {
		<-rt.doneListening()
		return
	}
	r := &gortmplib.Reader{Conn: conn}
	if r.Initialize() != nil {
		return
	}
	for _, track := range r.Tracks() {
		switch track.Codec.(type) {
		case *codecs.H264:
			r.OnDataH264(track, func(_ time.Duration, dts time.Duration, au [][]byte) {
				if onlyParameterSets(au) {
					return
				}
				rt.mu.Lock()
				rt.dts = append(rt.dts, dts)
				if rt.frames == 0 {
					rt.firstKey = isKey(au)
				}
				rt.frames++
				rt.mu.Unlock()
			})
		case *codecs.MPEG4Audio:
			r.OnDataMPEG4Audio(track, func(time.Duration, []byte) {
				rt.mu.Lock()
				rt.audio++
				rt.mu.Unlock()
			})
		}
	}
	for r.Read() == nil {
	}
}

func onlyParameterSets(au [][]byte) bool {
	for _, n := range au {
		if len(n) > 0 && n[0]&0x1f != 7 && n[0]&0x1f != 8 {
			return false
		}
	}
	return true
}

func isKey(au [][]byte) bool {
	for _, n := range au {
		if len(n) > 0 && n[0]&0x1f == 5 {
			return true
		}
	}
	return false
}

func (rt *rtmpTarget) doneListening() <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		for {
			if _, err := rt.ln.Accept(); err != nil {
				close(ch)
				return
			}
		}
	}()
	return ch
}

func (rt *rtmpTarget) counts() (frames, audio int, firstKey bool, stream string) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.frames, rt.audio, rt.firstKey, rt.stream
}

type eventLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *eventLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *eventLog) all() []event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []event
	for _, line := range strings.Split(strings.TrimSpace(l.buf.String()), "\n") {
		var e event
		if json.Unmarshal([]byte(line), &e) == nil {
			out = append(out, e)
		}
	}
	return out
}

func (l *eventLog) wait(t *testing.T, what string, match func(event) bool, timeout time.Duration) event {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, e := range l.all() {
			if match(e) {
				return e
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no event %s within %s; events: %+v", what, timeout, l.all())
	return event{}
}

func openCmd(id, feedURL, addr, key string) command {
	return command{Op: "open", ID: id, Feed: feedURL, FeedAuth: "Bearer feed-credential", Scheme: "rtmp",
		Address: addr, Host: "target.example:1935", App: "live", Stream: key}
}

func TestOneFeedReaderFansOutToEveryTargetFromAKeyframe(t *testing.T) {
	data := tsFeed(t, 4)
	feedSrv := serveFeed(t, data, 3*time.Second)
	log := &eventLog{}
	r := newRelay(&events{out: log})
	r.rejoin = 0 // the test's feed serves its media again to every request: read once
	stop := make(chan struct{})
	defer close(stop)
	go r.report(100*time.Millisecond, stop)

	a, b := startTarget(t, false), startTarget(t, false)
	r.handle(openCmd("a", feedSrv.URL+"/feed.ts", a.addr(), "key-a"))
	r.handle(openCmd("b", feedSrv.URL+"/feed.ts", b.addr(), "key-b"))
	for _, id := range []string{"a", "b"} {
		log.wait(t, id+" ended", func(e event) bool { return e.ID == id && e.Event == "ended" }, 20*time.Second)
	}
	if n := feedSrv.requests.Load(); n != 1 {
		t.Fatalf("the feed was read %d times, want once for both targets", n)
	}
	for name, rt := range map[string]*rtmpTarget{"a": a, "b": b} {
		frames, audio, firstKey, stream := rt.counts()
		if !strings.HasSuffix(stream, "/key-"+name) || frames < 25 || audio < 25 || !firstKey {
			t.Fatalf("target %s: stream %q, %d video frames, %d audio frames, first a keyframe: %v", name, stream, frames, audio, firstKey)
		}
	}
	for _, e := range log.all() {
		if e.Event == "ended" && e.Reason != "feed-ended" {
			t.Fatalf("ended for %q (%s), want the feed's end", e.Reason, e.Error)
		}
		if strings.Contains(e.Error, "key-") {
			t.Fatalf("an event quotes a key: %+v", e)
		}
	}
	log.wait(t, "a's bytes, acknowledged", func(e event) bool {
		return e.ID == "a" && e.Event == "sent" && e.Bytes > 10_000 && e.Acked != nil && *e.Acked > 10_000
	}, time.Second)
	log.wait(t, "a's socket", func(e event) bool { return e.ID == "a" && e.Event == "connected" && e.Inode != 0 }, time.Second)
}

func TestAStalledTargetHoldsBackNeitherTheFeedNorTheOthers(t *testing.T) {
	data := tsFeed(t, 6)
	feedSrv := serveFeed(t, data, 3*time.Second)
	log := &eventLog{}
	r := newRelay(&events{out: log})
	r.rejoin = 0
	good, stalled := startTarget(t, false), startTarget(t, true)
	r.handle(openCmd("stalled", feedSrv.URL+"/feed.ts", stalled.addr(), "key-s"))
	r.handle(openCmd("good", feedSrv.URL+"/feed.ts", good.addr(), "key-g"))
	log.wait(t, "good ended", func(e event) bool { return e.ID == "good" && e.Event == "ended" }, 20*time.Second)
	if frames, _, _, _ := good.counts(); frames < 100 {
		t.Fatalf("the good target got %d frames of 150 while the other one stalled", frames)
	}
	r.handle(command{Op: "close", ID: "stalled"})
	e := log.wait(t, "stalled ended", func(e event) bool { return e.ID == "stalled" && e.Event == "ended" }, 5*time.Second)
	if e.Reason != "feed-ended" && e.Reason != "closed" {
		t.Fatalf("the stalled target ended for %q (%s)", e.Reason, e.Error)
	}
}

func TestAFeedThatRefusesTheCredentialFailsItsTargets(t *testing.T) {
	feedSrv := serveFeed(t, nil, 0)
	log := &eventLog{}
	r := newRelay(&events{out: log})
	target := startTarget(t, false)
	c := openCmd("a", feedSrv.URL+"/feed.ts", target.addr(), "key-a")
	c.FeedAuth = "Bearer wrong"
	r.handle(c)
	e := log.wait(t, "ended", func(e event) bool { return e.ID == "a" && e.Event == "ended" }, 10*time.Second)
	if e.Reason != "feed-failed" || !strings.Contains(e.Error, "401") {
		t.Fatalf("ended %+v, want feed-failed (401)", e)
	}
}

// sessionsServer serves the first feed, then 503 for `pause`, then the second feed, then 503: a
// publisher's reconnect, or an ingest handed over to its successor, as a reader of the feed sees it.
type sessionsServer struct {
	*httptest.Server
	served atomic.Int32 // 200s answered
}

func serveSessions(t *testing.T, first, second []byte, span, pause time.Duration) *sessionsServer {
	ss := &sessionsServer{}
	var mu sync.Mutex
	var firstEnded time.Time
	ss.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n := ss.served.Load()
		wait := n == 1 && time.Since(firstEnded) < pause
		if n >= 2 || wait {
			mu.Unlock()
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		ss.served.Add(1)
		mu.Unlock()
		data := first
		if n == 1 {
			data = second
		}
		w.Header().Set("Content-Type", "video/mp2t")
		const parts = 20
		step := len(data) / parts / 188 * 188
		for i := 0; i < parts; i++ {
			end := (i + 1) * step
			if i == parts-1 {
				end = len(data)
			}
			if _, err := w.Write(data[i*step : end]); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			time.Sleep(span / parts)
		}
		mu.Lock()
		firstEnded = time.Now()
		mu.Unlock()
	}))
	t.Cleanup(ss.Close)
	return ss
}

func TestAFeedsNextSessionGoesOnTheOpenTargetConnectionWithItsClockRebased(t *testing.T) {
	data := tsFeed(t, 2) // both sessions' timestamps start where FFmpeg starts them: the second goes back
	const pause = 700 * time.Millisecond
	feedSrv := serveSessions(t, data, data, 2*time.Second, pause)
	log := &eventLog{}
	r := newRelay(&events{out: log})
	r.rejoin = 2 * time.Second
	target := startTarget(t, false)
	// The feed by name, as a Pod reads it (the Service's DNS name): looked up once for the first
	// session and every try of the rejoin (resolve.go).
	lookups := countLookups(t, "feed.relay.test", "127.0.0.1")
	began := time.Now()
	r.handle(openCmd("a", strings.Replace(feedSrv.URL, "127.0.0.1", "feed.relay.test", 1)+"/feed.ts", target.addr(), "key-a"))
	e := log.wait(t, "a ended", func(e event) bool { return e.ID == "a" && e.Event == "ended" }, 30*time.Second)
	if e.Reason != "feed-ended" {
		t.Fatalf("ended %+v, want feed-ended once the rejoin window passed", e)
	}
	if took := time.Since(began); took < 4*time.Second+pause {
		t.Fatalf("ended after %s: before the second session was relayed", took)
	}
	if n := feedSrv.served.Load(); n != 2 {
		t.Fatalf("the feed served %d sessions, want 2", n)
	}
	if n := lookups.Load(); n != 1 {
		t.Fatalf("the feed's name was looked up %d times, want once", n)
	}
	connecting := 0
	for _, e := range log.all() {
		if e.ID == "a" && e.Event == "connecting" {
			connecting++
		}
	}
	frames, _, firstKey, _ := target.counts()
	target.mu.Lock()
	dts := append([]time.Duration(nil), target.dts...)
	target.mu.Unlock()
	jump, at := time.Duration(0), 0
	for i := 1; i < len(dts); i++ {
		if dts[i] < dts[i-1] {
			t.Fatalf("DTS went back at frame %d: %s after %s", i, dts[i], dts[i-1])
		}
		if d := dts[i] - dts[i-1]; d > jump {
			jump, at = d, i
		}
	}
	// One connection (the target accepts only one) carried both sessions: the first from the
	// keyframe after the target connected (1 s in), the second whole (50 frames, its last one
	// held by the demuxer at the end).
	if connecting != 1 || frames != len(dts) || at < 20 || len(dts)-at < 48 || !firstKey {
		t.Fatalf("%d connections, %d frames, the second session from frame %d (%v), first a keyframe: %v",
			connecting, frames, at, dts, firstKey)
	}
	// The second session starts after the first's last frame by the wall clock's gap: the pause
	// and the relay's next poll (100 ms), not less, and well under the rejoin window.
	if jump < pause || jump > r.rejoin {
		t.Fatalf("the second session starts %s after the first's last frame, want the gap (≥ %s)", jump, pause)
	}
}

// A target that joins a running feed starts at the feed's last keyframe (the batches offered since
// it), not at the next one a GOP later; a GOP too big to keep is not replayed (it waits, as before).
func TestAJoiningTargetStartsFromTheFeedsLastKeyframe(t *testing.T) {
	f := newFeed("http://127.0.0.1:1/feed", "", 0)
	frames := func(from time.Duration, key bool, size int) {
		for i := time.Duration(0); i < 10; i++ { // 1 s of frames: batches of 200 ms
			f.add(&frame{video: true, key: key && i == 0, dts: from + i*100*time.Millisecond, size: size})
		}
	}
	frames(0, true, 1000)
	frames(time.Second, true, 1000) // the feed's last keyframe at 1 s
	f.flush()
	joiner := newTarget(command{ID: "late"}, nil)
	if !f.join(joiner) {
		t.Fatal("the feed ended")
	}
	if n := len(joiner.queue); n != 5 {
		t.Fatalf("%d batches replayed, want the 5 since the keyframe at 1 s", n)
	}
	if first := <-joiner.queue; !first.key || first.frames[0].dts != time.Second {
		t.Fatalf("the replay starts at %v (key %v), want the keyframe at 1 s", first.frames[0].dts, first.key)
	}

	// A GOP over gopBytes is dropped: the next joiner gets nothing until the next keyframe.
	frames(2*time.Second, true, gopBytes/8)
	f.flush()
	big := newTarget(command{ID: "big"}, nil)
	f.join(big)
	if n := len(big.queue); n != 0 {
		t.Fatalf("%d batches of a GOP over %d bytes replayed, want none", n, gopBytes)
	}
	frames(3*time.Second, true, 1000)
	f.flush()
	if first := <-big.queue; !first.key || first.frames[0].dts != 3*time.Second {
		t.Fatalf("after a GOP too big to keep the joiner starts at %v, want the next keyframe at 3 s", first.frames[0].dts)
	}
}

// endedLog is an event log that notes, as the "ended" line is written, whether the target's
// connection was closed by then.
type endedLog struct {
	eventLog
	target atomic.Pointer[target]
	atEnd  atomic.Int32 // 1: closed when "ended" was said, 2: still open
}

func (l *endedLog) Write(p []byte) (int, error) {
	if t := l.target.Load(); t != nil && bytes.Contains(p, []byte(`"event":"ended"`)) {
		l.atEnd.Store(2)
		if raw, err := t.socket.Load().SyscallConn(); err == nil && raw.Control(func(uintptr) {}) != nil {
			l.atEnd.Store(1)
		}
	}
	return l.eventLog.Write(p)
}

// A closed run's connection is closed before its "ended" is said: the pusher answers a release
// (PUT /targets) on that event, and a handover's successor then publishes the same key.
func TestARunsConnectionIsClosedBeforeItsEndIsSaid(t *testing.T) {
	feedSrv := serveFeed(t, tsFeed(t, 6), 5*time.Second)
	log := &endedLog{}
	r := newRelay(&events{out: log})
	r.rejoin = 0
	a := startTarget(t, false)
	r.handle(openCmd("a", feedSrv.URL+"/feed.ts", a.addr(), "key-a"))
	log.wait(t, "a connected", func(e event) bool { return e.ID == "a" && e.Event == "connected" }, 10*time.Second)
	r.mu.Lock()
	log.target.Store(r.targets["a"])
	r.mu.Unlock()
	r.handle(command{Op: "close", ID: "a"})
	e := log.wait(t, "a ended", func(e event) bool { return e.ID == "a" && e.Event == "ended" }, 10*time.Second)
	if e.Reason != "closed" || log.atEnd.Load() != 1 {
		t.Fatalf("ended %q with the connection closed: %v (1: closed, 2: still open)", e.Reason, log.atEnd.Load())
	}
}
