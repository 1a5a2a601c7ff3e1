package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Network confinement: everything here listens on and talks to 127.0.0.1 only; both peers gather
// candidates on 127.0.0.0/8 only, no mDNS, no STUN.

const testToken = "s3cret-Token_42"

func noEnv(string) string { return "" }

func TestParseConfig(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"--url", "http://127.0.0.1:8190/whip", "--video-port", "5004", "--audio-port", "5006"}
	cfg, err := parseConfig(append(base, "--token-file", tokenFile), noEnv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.token != testToken || cfg.videoPort != 5004 || cfg.audioPort != 5006 || cfg.tcpOnly || cfg.noDelete {
		t.Fatalf("config %+v", cfg)
	}
	if len(cfg.allowNets) != 1 || cfg.allowNets[0].String() != "127.0.0.0/8" || cfg.profileLevelID != "42e01f" {
		t.Fatalf("defaults: %v %s", cfg.allowNets, cfg.profileLevelID)
	}
	cfg, err = parseConfig(append(base, "--ice-tcp-only", "--no-delete", "--ice-allow-ip", "127.0.0.1/32, 10.0.0.0/8"), noEnv, io.Discard)
	if err != nil || !cfg.tcpOnly || !cfg.noDelete || len(cfg.allowNets) != 2 || cfg.token != "" {
		t.Fatalf("config %+v, %v", cfg, err)
	}

	bad := map[string][]string{
		"--url is required":           {"--video-port", "5004", "--audio-port", "5006"},
		"an http:// or https:// URL":  {"--url", "rtmp://127.0.0.1/live", "--video-port", "5004", "--audio-port", "5006"},
		"no credentials in the URL":   {"--url", "http://u:p@127.0.0.1/whip", "--video-port", "5004", "--audio-port", "5006"},
		"--video-port: a UDP port":    {"--url", "http://127.0.0.1/whip", "--audio-port", "5006"},
		"at least 2 apart":            {"--url", "http://127.0.0.1/whip", "--video-port", "5004", "--audio-port", "5005"},
		"IPv4 CIDRs only":             append(base[:len(base):len(base)], "--ice-allow-ip", "::1/128"),
		"--ice-allow-ip":              append(base[:len(base):len(base)], "--ice-allow-ip", "127.0.0.1"),
		"6 hex digits":                append(base[:len(base):len(base)], "--h264-profile-level-id", "high"),
		"unexpected arguments":        append(base[:len(base):len(base)], testToken),
		"flag provided but not defin": append(base[:len(base):len(base)], "--token", testToken),
	}
	for want, args := range bad {
		_, err := parseConfig(args, noEnv, io.Discard)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", args, err, want)
		}
	}
}

func TestReadToken(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	env := func(name string) string {
		if name == tokenEnvName {
			return " from-env\n"
		}
		return ""
	}
	if tok, err := readToken("", env); err != nil || tok != "from-env" {
		t.Fatalf("env: %q %v", tok, err)
	}
	if tok, err := readToken("", noEnv); err != nil || tok != "" {
		t.Fatalf("neither: %q %v", tok, err)
	}
	if err := os.WriteFile(file, []byte("  "+testToken+"\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if tok, err := readToken(file, env); err != nil || tok != testToken {
		t.Fatalf("file (it wins over the env): %q %v", tok, err)
	}
	if _, err := readToken(filepath.Join(dir, "missing"), env); err == nil {
		t.Fatal("a missing file must be an error")
	}
	if err := os.WriteFile(file, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readToken(file, env); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("empty file: %v", err)
	}
	if err := os.WriteFile(file, []byte(testToken+" "+testToken), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readToken(file, noEnv); err == nil || strings.Contains(err.Error(), testToken) {
		t.Fatalf("a token with a space: %v (must be refused without quoting it)", err)
	}
}

func TestKeyframeStart(t *testing.T) {
	cases := []struct {
		name    string
		payload []byte
		want    bool
	}{
		{"IDR", []byte{0x65, 0x88}, true},
		{"SPS", []byte{0x67, 0x42}, true},
		{"P slice", []byte{0x41, 0x9a}, false},
		{"SEI", []byte{0x06, 0x05}, false},
		{"STAP-A SPS+PPS", []byte{0x78, 0, 2, 0x67, 0x42, 0, 2, 0x68, 0xce}, true},
		{"STAP-A SEI+P", []byte{0x78, 0, 2, 0x06, 0x05, 0, 2, 0x41, 0x9a}, false},
		{"STAP-A truncated", []byte{0x78, 0, 9, 0x67}, false},
		{"FU-A IDR start", []byte{0x7c, 0x85}, true},
		{"FU-A IDR middle", []byte{0x7c, 0x05}, false},
		{"FU-A P start", []byte{0x7c, 0x81}, false},
		{"empty", nil, false},
	}
	for _, c := range cases {
		if got := keyframeStart(c.payload); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// TestPublishes: the whole exchange with an in-process WHIP server (pion, recvonly): bearer
// token and Content-Type on the POST, the relative Location resolved, RTP forwarded with the
// negotiated payload types (video from a keyframe on), DELETE with the token on SIGTERM (a
// cancelled context here), exit 0. Over UDP, and over ICE-TCP only.
func TestPublishes(t *testing.T) {
	for _, tcpOnly := range []bool{false, true} {
		name := map[bool]string{false: "udp", true: "tcp-only"}[tcpOnly]
		t.Run(name, func(t *testing.T) {
			srv := newFakeWHIP(t, 0, "")
			cfg, statusPath := testConfig(t, srv.url)
			cfg.tcpOnly = tcpOnly
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			stderr := &lockedBuffer{}
			done := startRun(ctx, cfg, stderr)
			stopFeed := feedRTP(t, cfg.videoPort, cfg.audioPort)
			defer stopFeed()

			waitFor(t, 10*time.Second, "media at the server", func() bool {
				return srv.videoPackets.Load() >= 5 && srv.audioPackets.Load() >= 5
			})
			// pion reports the peer connection's state from its own goroutine: the status file may say
			// "connecting" for a moment after the server has the first packets (seen over ICE-TCP).
			waitFor(t, 2*time.Second, "connected in the status file", func() bool { return readStatus(t, statusPath).Connected })
			st := readStatus(t, statusPath)
			if st.Status != 201 || st.Location != srv.url[:strings.LastIndex(srv.url, "/")]+"/sessions/1" || !st.Connected {
				t.Fatalf("status %+v", st)
			}
			waitFor(t, 2*time.Second, "counters in the status file", func() bool { return readStatus(t, statusPath).PacketsSent > 0 })
			if err := srv.mediaError(); err != nil {
				t.Fatal(err)
			}
			if got := srv.overTCP(); got != tcpOnly {
				t.Fatalf("ICE over TCP: %v, want %v", got, tcpOnly)
			}
			cancel()
			if code := waitRun(t, done); code != exitOK {
				t.Fatalf("exit %d; stderr:\n%s", code, stderr)
			}
			srv.mu.Lock()
			defer srv.mu.Unlock()
			if len(srv.posts) != 1 || srv.posts[0] != "Bearer "+testToken+" | application/sdp" {
				t.Fatalf("POSTs %q", srv.posts)
			}
			if len(srv.deletes) != 1 || srv.deletes[0] != "Bearer "+testToken {
				t.Fatalf("DELETEs %q", srv.deletes)
			}
			if st := readStatus(t, statusPath); st.DeleteStatus != 200 || st.Connected {
				t.Fatalf("status after DELETE %+v", st)
			}
			if strings.Contains(stderr.String(), testToken) {
				t.Fatal("the token was printed")
			}
		})
	}
}

// TestRefused: a non-201 answer is printed (`whip-push: <status> <body>`), written to the status
// file, exit 3; nothing to DELETE.
func TestRefused(t *testing.T) {
	srv := newFakeWHIP(t, http.StatusForbidden, "the stream key was revoked")
	cfg, statusPath := testConfig(t, srv.url)
	stderr := &lockedBuffer{}
	if code := waitRun(t, startRun(context.Background(), cfg, stderr)); code != exitRefused {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitRefused, stderr)
	}
	if got := stderr.String(); !strings.Contains(got, "whip-push: 403 the stream key was revoked\n") || strings.Contains(got, testToken) {
		t.Fatalf("stderr %q", got)
	}
	if st := readStatus(t, statusPath); st.Status != 403 || st.Body != "the stream key was revoked" || st.Location != "" {
		t.Fatalf("status %+v", st)
	}
	if len(srv.deletes) != 0 {
		t.Fatalf("DELETEs %q", srv.deletes)
	}
}

// TestNoDelete: --no-delete exits 0 on the signal without DELETE and leaves the connection open
// (closed by the test here; by the exit of the process otherwise).
func TestNoDelete(t *testing.T) {
	srv := newFakeWHIP(t, 0, "")
	cfg, statusPath := testConfig(t, srv.url)
	cfg.noDelete = true
	var left atomic.Pointer[io.Closer]
	cfg.vanished = func(c io.Closer) { left.Store(&c) }
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &lockedBuffer{}
	done := startRun(ctx, cfg, stderr)
	waitFor(t, 10*time.Second, "connected", func() bool { return readStatus(t, statusPath).Connected })
	cancel()
	if code := waitRun(t, done); code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	c := left.Load()
	if c == nil {
		t.Fatal("no peer connection left open")
	}
	if st := srv.state(); st != webrtc.PeerConnectionStateConnected {
		t.Fatalf("the server's connection is %s, want still connected", st)
	}
	_ = (*c).Close()
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.deletes) != 0 {
		t.Fatalf("DELETEs %q", srv.deletes)
	}
}

// TestNotConnected: a connection that does not come up within --connect-timeout: DELETE, exit 4.
func TestNotConnected(t *testing.T) {
	srv := newFakeWHIP(t, 0, "")
	srv.dead = true
	cfg, statusPath := testConfig(t, srv.url)
	cfg.connectTimeout = 300 * time.Millisecond
	stderr := &lockedBuffer{}
	if code := waitRun(t, startRun(context.Background(), cfg, stderr)); code != exitNoMedia {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitNoMedia, stderr)
	}
	if st := readStatus(t, statusPath); st.Status != 201 || st.Connected || st.DeleteStatus != 200 || st.State != "closed" {
		t.Fatalf("status %+v", st)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.deletes) != 1 {
		t.Fatalf("DELETEs %q", srv.deletes)
	}
}

// --- helpers ------------------------------------------------------------------------------------

func testConfig(t *testing.T, rawURL string) (config, string) {
	t.Helper()
	video, audio := twoUDPPortPairs(t)
	statusPath := filepath.Join(t.TempDir(), "status.json")
	cfg, err := parseConfig([]string{"--url", rawURL, "--video-port", strconv.Itoa(video), "--audio-port", strconv.Itoa(audio),
		"--status-file", statusPath, "--connect-timeout", "10s"}, func(name string) string {
		if name == tokenEnvName {
			return testToken
		}
		return ""
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, statusPath
}

func startRun(ctx context.Context, cfg config, stderr io.Writer) <-chan int {
	done := make(chan int, 1)
	go func() { done <- run(ctx, cfg, stderr) }()
	return done
}

func waitRun(t *testing.T, done <-chan int) int {
	t.Helper()
	select {
	case code := <-done:
		return code
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return")
		return -1
	}
}

func readStatus(t *testing.T, path string) status {
	t.Helper()
	var st status
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return st
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("status file %q: %v", b, err)
	}
	return st
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freeUDPPort: a loopback UDP port that was free, and its successor (RTCP).
func freeUDPPort(t *testing.T) int {
	t.Helper()
	for range 50 {
		a, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		port := a.LocalAddr().(*net.UDPAddr).Port
		b, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port + 1})
		a.Close()
		if err == nil {
			b.Close()
			return port
		}
	}
	t.Fatal("no free UDP port pair on 127.0.0.1")
	return 0
}

func twoUDPPortPairs(t *testing.T) (int, int) {
	t.Helper()
	a := freeUDPPort(t)
	for {
		if b := freeUDPPort(t); b > a+1 || b+1 < a {
			return a, b
		}
	}
}

// feedRTP stands for FFmpeg's two `-f rtp` outputs: payload types 96/97 as FFmpeg numbers them,
// video at 100 packets/s (a P slice, then an IDR every 10th packet), Opus every 20 ms.
func feedRTP(t *testing.T, videoPort, audioPort int) (stop func()) {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	video := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: videoPort}
	audio := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: audioPort}
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for i := 1; ; i++ {
			nal := []byte{0x41, 0x9a, 0, 0, 0} // P slice
			if i%10 == 0 {
				nal = []byte{0x65, 0x88, 0, 0, 0} // IDR
			}
			v := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: uint16(i), Timestamp: uint32(i * 3000), SSRC: 0x1111, Marker: true}, Payload: nal}
			if b, err := v.Marshal(); err == nil {
				_, _ = conn.WriteToUDP(b, video)
			}
			if i%2 == 0 {
				a := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 97, SequenceNumber: uint16(i / 2), Timestamp: uint32(i * 480), SSRC: 0x2222}, Payload: []byte{0xf8, 0xff, 0xfe}}
				if b, err := a.Marshal(); err == nil {
					_, _ = conn.WriteToUDP(b, audio)
				}
			}
			select {
			case <-quit:
				return
			case <-tick.C:
			}
		}
	}()
	return func() {
		close(quit)
		wg.Wait()
		conn.Close()
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// fakeWHIP is a WHIP endpoint at <server>/whip/endpoint: a recvonly pion peer (UDP and ICE-TCP
// on 127.0.0.1), Location `sessions/1` (relative), DELETE /whip/sessions/1. refuse != 0: every
// POST gets that status and body.
type fakeWHIP struct {
	url    string
	api    *webrtc.API
	refuse int
	body   string
	dead   bool // answer, but from a peer closed at once: ICE never connects

	videoPackets, audioPackets atomic.Int64

	mu       sync.Mutex
	pc       *webrtc.PeerConnection
	posts    []string // "Authorization | Content-Type"
	deletes  []string // Authorization
	mediaErr error
}

func newFakeWHIP(t *testing.T, refuse int, body string) *fakeWHIP {
	t.Helper()
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	tcp, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	var s webrtc.SettingEngine
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelError
	s.LoggerFactory = lf
	s.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	s.SetIPFilter(func(ip net.IP) bool { return ip.Equal(net.IPv4(127, 0, 0, 1)) })
	s.SetIncludeLoopbackCandidate(true)
	s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeTCP4})
	mux := webrtc.NewICETCPMux(nil, tcp, 8)
	s.SetICETCPMux(mux)
	f := &fakeWHIP{api: webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(s)), refuse: refuse, body: body}
	hs := httptest.NewServer(http.HandlerFunc(f.serve)) // 127.0.0.1
	f.url = hs.URL + "/whip/endpoint"
	t.Cleanup(func() {
		hs.Close()
		f.mu.Lock()
		pc := f.pc
		f.mu.Unlock()
		if pc != nil {
			_ = pc.Close()
		}
		_ = mux.Close()
	})
	return f
}

func (f *fakeWHIP) state() webrtc.PeerConnectionState {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pc == nil {
		return webrtc.PeerConnectionStateUnknown
	}
	return f.pc.ConnectionState()
}

// overTCP: the selected candidate pair is TCP.
func (f *fakeWHIP) overTCP() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pc == nil {
		return false
	}
	for _, r := range f.pc.GetReceivers() {
		if pair, err := r.Transport().ICETransport().GetSelectedCandidatePair(); err == nil && pair != nil {
			return pair.Local.Protocol == webrtc.ICEProtocolTCP
		}
	}
	return false
}

func (f *fakeWHIP) mediaError() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mediaErr
}

func (f *fakeWHIP) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.mediaErr == nil {
		f.mediaErr = err
	}
}

func (f *fakeWHIP) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/whip/endpoint":
		f.post(w, r)
	case r.Method == http.MethodDelete && r.URL.Path == "/whip/sessions/1":
		f.mu.Lock()
		f.deletes = append(f.deletes, r.Header.Get("Authorization"))
		pc := f.pc
		f.mu.Unlock()
		if pc != nil {
			_ = pc.Close()
		}
		w.WriteHeader(http.StatusOK)
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeWHIP) post(w http.ResponseWriter, r *http.Request) {
	offer, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.posts = append(f.posts, r.Header.Get("Authorization")+" | "+r.Header.Get("Content-Type"))
	f.mu.Unlock()
	if f.refuse != 0 {
		http.Error(w, f.body, f.refuse)
		return
	}
	pc, err := f.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	f.mu.Lock()
	f.pc = pc
	f.mu.Unlock()
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { go f.read(tr) })
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: string(offer)}); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	<-gathered
	if f.dead {
		_ = pc.Close()
	}
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Location", "sessions/1")
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, pc.LocalDescription().SDP)
}

// read checks what arrives: the negotiated payload type (not FFmpeg's 96/97), the codec the
// offer named, video starting at a keyframe.
func (f *fakeWHIP) read(tr *webrtc.TrackRemote) {
	video := tr.Kind() == webrtc.RTPCodecTypeVideo
	codec := tr.Codec()
	first := true
	for {
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		switch {
		case pkt.PayloadType != uint8(codec.PayloadType):
			f.fail(errors.New("payload type not rewritten: " + strconv.Itoa(int(pkt.PayloadType)) + " != " + strconv.Itoa(int(codec.PayloadType))))
		case video && codec.MimeType != webrtc.MimeTypeH264, !video && codec.MimeType != webrtc.MimeTypeOpus:
			f.fail(errors.New("codec " + codec.MimeType))
		case video && first && !keyframeStart(pkt.Payload):
			f.fail(errors.New("the first video packet does not start a keyframe"))
		}
		first = false
		if video {
			f.videoPackets.Add(1)
		} else {
			f.audioPackets.Add(1)
		}
	}
}
