package main

import (
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// deadOffer is a complete WHEP offer (ICE credentials, a DTLS fingerprint, BUNDLE) whose peer never
// exists: the component answers it and waits for a connection that never comes, as for a flood of
// offers from a client that never does ICE.
func deadOffer() string {
	fingerprint := strings.TrimSuffix(strings.Repeat("AB:", 32), ":")
	lines := []string{"v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE 0"}
	lines = append(lines,
		"m=video 9 UDP/TLS/RTP/SAVPF 102", "c=IN IP4 0.0.0.0", "a=ice-ufrag:Ab3d", "a=ice-pwd:abcdefghijklmnopqrstuvwx",
		"a=fingerprint:sha-256 "+fingerprint, "a=setup:actpass", "a=mid:0", "a=recvonly", "a=rtcp-mux",
		"a=rtpmap:102 H264/90000", "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f")
	return strings.Join(lines, "\r\n") + "\r\n"
}

// liveComponent is a component whose RTP input is fed (WHEP viewers can be served).
func liveComponent(t *testing.T, cfg Config) (*component, string) {
	t.Helper()
	cfg.RTPInVideoPort, cfg.RTPInAudioPort = twoUDPPortPairs(t)
	c, base := startComponent(t, cfg)
	feedRTP(t, cfg.RTPInVideoPort, cfg.RTPInAudioPort)
	waitFor(t, 3*time.Second, "RTP input live", func() bool { return c.status().Live })
	return c, base
}

func postDeadOffer(t *testing.T, base string, headers map[string]string) (int, http.Header, string) {
	t.Helper()
	return postSDPWith(t, base+"/whep", headers, deadOffer())
}

// Issue 37, finding 4: offers that never connect used to fill the viewer cap (500 for 15 s), so a
// trickle of them kept every real viewer out. The cap counts connected viewers; waiting offers have
// their own budget.
func TestWHEPCapCountsConnectedViewersOnly(t *testing.T) {
	cfg := testConfig()
	cfg.MaxViewers, cfg.MaxPendingViewers, cfg.OfferRate = 2, 4, 0
	c, base := liveComponent(t, cfg)
	for i := range 2 {
		if code, _, body := postDeadOffer(t, base, nil); code != http.StatusCreated {
			t.Fatalf("dead offer %d: %d %s", i, code, body)
		}
	}
	for i := range 2 {
		v, code, body := watch(t, base)
		if code != http.StatusCreated {
			t.Fatalf("real viewer %d beside 2 offers that never connect: %d %s", i, code, body)
		}
		waitFor(t, 5*time.Second, "video", func() bool { return v.video.Load() > 10 })
	}
	if st := c.status(); st.Viewers != 2 || st.ViewersPending != 2 {
		t.Fatalf("status %+v", st)
	}
	// The cap: a third real viewer is refused while two are connected.
	if _, code, body := watch(t, base); code != http.StatusServiceUnavailable || !strings.Contains(body, "too many viewers") {
		t.Errorf("third viewer: %d %q", code, body)
	}
	if st := c.status(); st.WHEPViewersFull != 1 || st.ViewersPending != 2 {
		t.Errorf("status %+v", st)
	}
}

// The offers waiting for their connection have a budget of their own: 503 beyond, with a
// Retry-After, counted.
func TestWHEPPendingOffersHaveABoundedBudget(t *testing.T) {
	cfg := testConfig()
	cfg.MaxPendingViewers, cfg.OfferRate = 4, 0
	c, base := liveComponent(t, cfg)
	for i := range 4 {
		if code, _, body := postDeadOffer(t, base, nil); code != http.StatusCreated {
			t.Fatalf("dead offer %d: %d %s", i, code, body)
		}
	}
	code, h, body := postDeadOffer(t, base, nil)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "waiting") || h.Get("Retry-After") == "" {
		t.Errorf("fifth waiting offer: %d %q %v", code, body, h)
	}
	if st := c.status(); st.WHEPPendingFull != 1 || st.ViewersPending != 4 {
		t.Errorf("status %+v", st)
	}
}

// Issue 37, finding 4: an offer that never connects frees its place within 5 s (was 15 s).
func TestWHEPUnconnectedOfferExpiresWithinFiveSeconds(t *testing.T) {
	defaults, err := parseConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if defaults.ViewerConnectTimeout > 5*time.Second {
		t.Fatalf("default --viewer-connect-timeout %s", defaults.ViewerConnectTimeout)
	}
	cfg := testConfig()
	cfg.ViewerConnectTimeout = defaults.ViewerConnectTimeout
	c, base := liveComponent(t, cfg)
	posted := time.Now()
	if code, _, body := postDeadOffer(t, base, nil); code != http.StatusCreated {
		t.Fatalf("offer: %d %s", code, body)
	}
	if st := c.status(); st.ViewersPending != 1 || st.ViewerSessions != 1 {
		t.Fatalf("status %+v", st)
	}
	// One snapshot: the status that first shows the session gone also says why (the count used to
	// move only after the peer connection had closed, and CI read a status in between).
	var st status
	waitFor(t, 5*time.Second+500*time.Millisecond, "the unconnected offer dropped", func() bool {
		st = c.status()
		return st.ViewerSessions == 0
	})
	t.Logf("dropped %.2f s after the POST", time.Since(posted).Seconds())
	if st.WHEPConnectTimeouts != 1 || st.ViewersPending != 0 {
		t.Errorf("status %+v", st)
	}
}

// Issue 37, finding 4: offers are rate limited per client address (the worker's header), 429 with
// Retry-After, counted; other addresses and offers without the header are not held back.
func TestWHEPOffersRateLimitedPerClientAddress(t *testing.T) {
	cfg := testConfig()
	cfg.OfferRate, cfg.OfferBurst = 0.01, 10 // no refill during the test: the burst is what counts
	c, base := liveComponent(t, cfg)
	from := func(a string) map[string]string { return map[string]string{clientHeader: a} }
	for i := range 10 {
		if code, _, body := postDeadOffer(t, base, from("192.0.2.7")); code != http.StatusCreated {
			t.Fatalf("offer %d: %d %s", i, code, body)
		}
	}
	code, h, body := postDeadOffer(t, base, from("192.0.2.7"))
	if code != http.StatusTooManyRequests || !strings.Contains(body, "too many WHEP offers") {
		t.Fatalf("11th offer: %d %q", code, body)
	}
	if s, err := strconv.Atoi(h.Get("Retry-After")); err != nil || s < 1 {
		t.Errorf("Retry-After %q", h.Get("Retry-After"))
	}
	// The limit is the address's: a real viewer from another address plays, and so does a caller
	// without the header (a local tool).
	v, code, body := watchWith(t, base, from("192.0.2.8"))
	if code != http.StatusCreated {
		t.Fatalf("viewer from another address: %d %s", code, body)
	}
	waitFor(t, 5*time.Second, "video", func() bool { return v.video.Load() > 10 })
	if code, _, body := postDeadOffer(t, base, nil); code != http.StatusCreated {
		t.Errorf("offer without %s: %d %s", clientHeader, code, body)
	}
	if code, _, _ := postDeadOffer(t, base, from("not-an-address")); code != http.StatusBadRequest {
		t.Errorf("bad %s: %d", clientHeader, code)
	}
	if st := c.status(); st.WHEPRateLimited != 1 {
		t.Errorf("whepRateLimited %d", st.WHEPRateLimited)
	}
}

func TestOfferLimiterBuckets(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	l := newOfferLimiter(5, 10)
	l.now = func() time.Time { return now }
	a := netip.MustParseAddr("198.51.100.1")
	for i := range 10 {
		if ok, _ := l.allow(a); !ok {
			t.Fatalf("burst offer %d refused", i)
		}
	}
	ok, wait := l.allow(a)
	if ok || wait != 200*time.Millisecond || retryAfterSeconds(wait) != 1 {
		t.Fatalf("11th: %v %s", ok, wait)
	}
	now = now.Add(200 * time.Millisecond) // one token back at 5/s
	if ok, _ := l.allow(a); !ok {
		t.Error("refused after the refill")
	}
	if ok, _ := l.allow(a); ok {
		t.Error("allowed twice after one token's refill")
	}
	// IPv6: one bucket per /64; an IPv4-mapped address is its IPv4 address.
	for i := range 10 {
		if ok, _ := l.allow(netip.MustParseAddr(fmt.Sprintf("2001:db8::%x", i+1))); !ok {
			t.Fatalf("IPv6 offer %d refused", i)
		}
	}
	if ok, _ := l.allow(netip.MustParseAddr("2001:db8::ffff")); ok {
		t.Error("another address of the same /64 has its own bucket")
	}
	if ok, _ := l.allow(netip.MustParseAddr("2001:db8:0:1::1")); !ok {
		t.Error("another /64 shares the bucket")
	}
	if ok, _ := l.allow(netip.MustParseAddr("::ffff:198.51.100.1")); ok {
		t.Error("the IPv4-mapped form escapes the IPv4 bucket")
	}
	// Memory: idle (refilled) buckets are forgotten when the table is full.
	now = now.Add(time.Hour)
	for i := range maxLimitedAddresses {
		l.allow(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
	}
	if n := len(l.buckets); n > maxLimitedAddresses {
		t.Errorf("%d buckets", n)
	}
	if ok, _ := newOfferLimiter(0, 1).allow(a); !ok {
		t.Error("rate 0 limits")
	}
}

// Issue 37, finding 4: a viewer's session ends when its playback token expires (the worker's
// header); a viewer without one plays on.
func TestWHEPSessionEndsWhenItsTokenExpires(t *testing.T) {
	c, base := liveComponent(t, testConfig())
	public, code, body := watch(t, base)
	if code != http.StatusCreated {
		t.Fatalf("public viewer: %d %s", code, body)
	}
	expires := time.Now().Add(3 * time.Second).Unix() // 2-3 s from now
	signed, code, body := watchWith(t, base, map[string]string{sessionExpiresHeader: strconv.FormatInt(expires, 10)})
	if code != http.StatusCreated {
		t.Fatalf("signed viewer: %d %s", code, body)
	}
	waitFor(t, 5*time.Second, "both viewers playing", func() bool {
		return public.video.Load() > 10 && signed.video.Load() > 10 && c.status().Viewers == 2
	})
	if time.Now().Unix() >= expires {
		t.Skip("the machine was too slow to connect before the expiry")
	}
	waitFor(t, 5*time.Second, "the signed viewer's session ended", func() bool { return c.status().WHEPTokenExpiries == 1 })
	if late := time.Since(time.Unix(expires, 0)); late < 0 || late > time.Second {
		t.Errorf("ended %s after the expiry", late)
	}
	waitFor(t, 10*time.Second, "the signed viewer's peer connection closed", func() bool {
		s := signed.pc.ConnectionState()
		return s == webrtc.PeerConnectionStateClosed || s == webrtc.PeerConnectionStateFailed || s == webrtc.PeerConnectionStateDisconnected
	})
	n := public.video.Load()
	waitFor(t, 5*time.Second, "the public viewer still playing", func() bool { return public.video.Load() > n+10 })
	if st := c.status(); st.Viewers != 1 || st.ViewerSessions != 1 {
		t.Errorf("status %+v", st)
	}
	// An offer whose token has already expired is refused before a peer connection exists.
	past := strconv.FormatInt(time.Now().Add(-time.Second).Unix(), 10)
	if code, _, body := postDeadOffer(t, base, map[string]string{sessionExpiresHeader: past}); code != http.StatusForbidden {
		t.Errorf("expired: %d %q", code, body)
	}
	if code, _, _ := postDeadOffer(t, base, map[string]string{sessionExpiresHeader: "soon"}); code != http.StatusBadRequest {
		t.Errorf("bad %s: %d", sessionExpiresHeader, code)
	}
}
