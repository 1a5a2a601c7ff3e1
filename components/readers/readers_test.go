package main

// The component with real peers on 127.0.0.1: a feed FFmpeg made, served over HTTP at its own pace
// with the credential checked, and readers nobody here wrote (ffprobe over SRT and RTSP).

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const testStream = "ns/cam"

var testKey = []byte("0123456789abcdef0123456789abcdef")

func tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed", name)
	}
	return p
}

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

// serveFeed serves data to whoever presents the credential, paced over span (as a live feed).
func serveFeed(t *testing.T, data []byte, span time.Duration) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer feed-credential" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "video/mp2t")
		const parts = 50
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
			select {
			case <-r.Context().Done():
				return
			case <-time.After(span / parts):
			}
		}
	}))
	t.Cleanup(s.Close)
	return s
}

type component struct {
	addrs  map[string]string
	events chan event
	stdin  io.WriteCloser
	done   chan error
}

func start(t *testing.T, feedURL string, signed bool, extra func(*options)) *component {
	t.Helper()
	dir := t.TempDir()
	cred := filepath.Join(dir, "credential")
	if err := os.WriteFile(cred, []byte("feed-credential\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o := options{srt: "127.0.0.1:0", rtsp: "127.0.0.1:0", feed: feedURL, credFile: cred, stream: testStream,
		maxReaders: 64, perAdd: 16, authTimeout: 5 * time.Second}
	if signed {
		keys := filepath.Join(dir, "keys")
		_ = os.Mkdir(keys, 0o700)
		if err := os.WriteFile(filepath.Join(keys, currentKeyFile), testKey, 0o600); err != nil {
			t.Fatal(err)
		}
		o.keysDir = keys
	}
	if extra != nil {
		extra(&o)
	}
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	c := &component{addrs: map[string]string{}, events: make(chan event, 1024), stdin: inW, done: make(chan error, 1)}
	go func() { c.done <- run(o, inR, outW); outW.Close() }()
	go func() {
		sc := bufio.NewScanner(outR)
		for sc.Scan() {
			var ev event
			if json.Unmarshal(sc.Bytes(), &ev) == nil {
				c.events <- ev
			}
		}
		close(c.events)
	}()
	want := 0
	for _, a := range []string{o.srt, o.rtsp, o.rtsps} {
		if a != "" {
			want++
		}
	}
	deadline := time.After(10 * time.Second)
	for len(c.addrs) < want {
		select {
		case ev := <-c.events:
			if ev.Type == "listening" {
				c.addrs[ev.Listener] = ev.Address
			}
		case <-deadline:
			t.Fatalf("not listening: %v", c.addrs)
		}
	}
	t.Cleanup(func() {
		inW.Close()
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			t.Errorf("the component did not stop")
		}
	})
	return c
}

// waitEvent waits for an event that ok accepts.
func (c *component) waitEvent(t *testing.T, what string, ok func(event) bool) event {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case ev := <-c.events:
			if ok(ev) {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %s event", what)
		}
	}
}

type probed struct {
	Streams []struct {
		CodecName string `json:"codec_name"`
		Width     int    `json:"width"`
		Height    int    `json:"height"`
	} `json:"streams"`
}

func probe(t *testing.T, url string, extra ...string) (probed, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	args := append([]string{"-v", "error", "-analyzeduration", "1000000", "-show_entries", "stream=codec_name,width,height", "-of", "json"}, extra...)
	args = append(args, url)
	cmd := exec.CommandContext(ctx, tool(t, "ffprobe"), args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		err = fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	var p probed
	if err != nil {
		return p, err
	}
	return p, json.Unmarshal(out, &p)
}

func wantAV(t *testing.T, p probed, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	codecs := []string{}
	for _, s := range p.Streams {
		codecs = append(codecs, s.CodecName)
		if s.CodecName == "h264" && (s.Width != 320 || s.Height != 240) {
			t.Fatalf("video is %dx%d", s.Width, s.Height)
		}
	}
	if strings.Join(codecs, ",") != "h264,aac" {
		t.Fatalf("streams: %v", codecs)
	}
}

func testToken(ip string) string {
	c := claims{kid: keyID(testKey), expires: time.Now().Add(time.Hour).Unix(), ip: ip}
	return c.public() + "~" + sign(testKey, c, testStream)
}

func TestPublicStreamReadOverSRTAndRTSP(t *testing.T) {
	t.Parallel() // each its own component, feed and ports: two at a time (GOMAXPROCS)
	feed := serveFeed(t, tsFeed(t, 12), 12*time.Second)
	c := start(t, feed.URL+"/feed", false, nil)
	p, err := probe(t, "srt://"+c.addrs["srt"]+"?mode=caller")
	wantAV(t, p, err)
	p, err = probe(t, "rtsp://"+c.addrs["rtsp"]+"/live", "-rtsp_transport", "tcp")
	wantAV(t, p, err)
}

func TestSignedStreamTokens(t *testing.T) {
	t.Parallel() // each its own component, feed and ports: two at a time (GOMAXPROCS)
	feed := serveFeed(t, tsFeed(t, 20), 20*time.Second)
	c := start(t, feed.URL+"/feed", true, nil)
	token := testToken("")
	cl, sig, _ := splitToken(token)
	public := cl.public()
	srtURL := "srt://" + c.addrs["srt"] + "?mode=caller"
	rtspURL := "rtsp://" + c.addrs["rtsp"] + "/live"

	// Allowed: the token as the stream id; its public part with the signature as passphrase.
	p, err := probe(t, srtURL+"&streamid=#!::r=live,m=request,t="+token)
	wantAV(t, p, err)
	p, err = probe(t, srtURL+"&streamid="+public+"&passphrase="+sig+"&pbkeylen=16")
	wantAV(t, p, err)
	// RTSP: Digest with the public part as user and the signature as password; ?token=.
	p, err = probe(t, "rtsp://"+public+":"+sig+"@"+c.addrs["rtsp"]+"/live", "-rtsp_transport", "tcp")
	wantAV(t, p, err)
	p, err = probe(t, rtspURL+"?token="+token, "-rtsp_transport", "tcp")
	wantAV(t, p, err)

	// Refused: no token, a forged one, another stream's, a wrong passphrase.
	other := claims{kid: keyID(testKey), expires: time.Now().Add(time.Hour).Unix()}
	forged := other.public() + "~" + sign(testKey, other, "ns/other")
	for name, url := range map[string]string{
		"srt without a token":   srtURL,
		"srt forged":            srtURL + "&streamid=" + forged,
		"srt wrong passphrase":  srtURL + "&streamid=" + public + "&passphrase=" + strings.Repeat("x", 43),
		"rtsp without a token":  rtspURL,
		"rtsp other stream":     rtspURL + "?token=" + forged,
		"rtsp wrong password":   "rtsp://" + public + ":" + strings.Repeat("x", 43) + "@" + c.addrs["rtsp"] + "/live",
		"srt bound to another":  srtURL + "&streamid=" + testToken("10.1.2.3"),
		"rtsp bound to another": rtspURL + "?token=" + testToken("10.1.2.3"),
	} {
		if _, err := probe(t, url, "-rtsp_transport", "tcp"); err == nil {
			t.Errorf("%s: read", name)
		}
	}
	ev := c.waitEvent(t, "refused", func(ev event) bool { return ev.Type == "refused" && ev.Reason == "missing" })
	if ev.Count < 1 {
		t.Fatalf("refusal count %d", ev.Count)
	}
}

func TestViewerCounts(t *testing.T) {
	t.Parallel() // each its own component, feed and ports: two at a time (GOMAXPROCS)
	feed := serveFeed(t, tsFeed(t, 30), 30*time.Second)
	c := start(t, feed.URL+"/feed", false, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	readers := []*exec.Cmd{
		exec.CommandContext(ctx, tool(t, "ffmpeg"), "-v", "error", "-i", "srt://"+c.addrs["srt"]+"?mode=caller", "-c", "copy", "-f", "null", "-"),
		exec.CommandContext(ctx, tool(t, "ffmpeg"), "-v", "error", "-rtsp_transport", "tcp", "-i", "rtsp://"+c.addrs["rtsp"]+"/x", "-c", "copy", "-f", "null", "-"),
	}
	for _, r := range readers {
		if err := r.Start(); err != nil {
			t.Fatal(err)
		}
	}
	c.waitEvent(t, "viewers 1+1", func(ev event) bool {
		return ev.Type == "viewers" && *ev.SRT == 1 && *ev.RTSP == 1
	})
	for _, r := range readers {
		_ = r.Process.Kill()
		_ = r.Wait()
	}
	c.waitEvent(t, "viewers 0+0", func(ev event) bool {
		return ev.Type == "viewers" && *ev.SRT == 0 && *ev.RTSP == 0
	})
}

func TestNotLiveIsRefused(t *testing.T) {
	t.Parallel() // each its own component, feed and ports: two at a time (GOMAXPROCS)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer s.Close()
	c := start(t, s.URL+"/feed", false, nil)
	if _, err := probe(t, "srt://"+c.addrs["srt"]+"?mode=caller"); err == nil {
		t.Fatal("srt read a stream that is not live")
	}
	if _, err := probe(t, "rtsp://"+c.addrs["rtsp"]+"/x", "-rtsp_transport", "tcp"); err == nil {
		t.Fatal("rtsp read a stream that is not live")
	}
	c.waitEvent(t, "not_live", func(ev event) bool { return ev.Type == "refused" && ev.Reason == refusalNotLive })
	_ = fmt.Sprint()
}

// A reader that joins while the last one's read is ending rides a read of its own, not the end of
// the old one.
func TestAReaderJoiningAfterTheLastLeftGetsANewRead(t *testing.T) {
	t.Parallel() // each its own component, feed and ports: two at a time (GOMAXPROCS)
	feed := serveFeed(t, tsFeed(t, 4), 4*time.Second)
	h := newHub(feed.URL+"/feed", "")
	h.credFile = filepath.Join(t.TempDir(), "credential")
	if err := os.WriteFile(h.credFile, []byte("feed-credential"), 0o600); err != nil {
		t.Fatal(err)
	}
	first := h.subscribe()
	<-first.ch
	h.unsubscribe(first)
	second := h.subscribe()
	if second.run == first.run {
		t.Fatal("joined the read that was ending")
	}
	select {
	case _, open := <-second.ch:
		if !open {
			t.Fatalf("ended with the old read: %v", second.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no bytes")
	}
	h.unsubscribe(second)
}
