package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Issue 52, finding 4: the offers were rate limited per address, but the sessions were not capped:
// one address (or one playback token) that completed ICE/DTLS again and again filled MaxViewers and
// every other viewer got 503. Sessions are capped per address and per token (429 with Retry-After,
// counted by reason); another address or token still gets in.

// sessionCapsConfig: tiny caps, no offer rate limit (the caps must hold on their own).
func sessionCapsConfig(perAddress, perToken int) Config {
	cfg := testConfig()
	cfg.OfferRate = 0
	cfg.MaxViewersPerAddress, cfg.MaxViewersPerToken = perAddress, perToken
	return cfg
}

// playing opens a real viewer (ICE and DTLS completed) with the control headers and waits for its video.
func playing(t *testing.T, base string, headers map[string]string, name string) *testViewer {
	t.Helper()
	v, code, body := watchWith(t, base, headers)
	if code != http.StatusCreated {
		t.Fatalf("%s: %d %s", name, code, body)
	}
	waitFor(t, 5*time.Second, name+" playing", func() bool { return v.video.Load() > 10 })
	return v
}

// refusedForItsShare checks a 429 with Retry-After naming why.
func refusedForItsShare(t *testing.T, base string, headers map[string]string, want, name string) {
	t.Helper()
	v, code, body := watchWith(t, base, headers)
	if v != nil || code != http.StatusTooManyRequests || !strings.Contains(body, want) {
		t.Fatalf("%s: %d %q, want 429 %q", name, code, body, want)
	}
	// watchWith does not return the headers: ask again with a dead offer (refused the same way).
	code, h, _ := postDeadOffer(t, base, headers)
	if s, err := strconv.Atoi(h.Get("Retry-After")); code != http.StatusTooManyRequests || err != nil || s < 1 {
		t.Errorf("%s again: %d, Retry-After %q", name, code, h.Get("Retry-After"))
	}
}

func TestWHEPSessionsCappedPerAddress(t *testing.T) {
	c, base := liveComponent(t, sessionCapsConfig(2, 0))
	from := func(a string) map[string]string { return map[string]string{clientHeader: a} }
	first := playing(t, base, from("192.0.2.7"), "first viewer of 192.0.2.7")
	playing(t, base, from("192.0.2.7"), "second viewer of 192.0.2.7")
	refusedForItsShare(t, base, from("192.0.2.7"), "from this address", "third viewer of 192.0.2.7")
	// IPv4-mapped is the same address; another address is served meanwhile.
	refusedForItsShare(t, base, from("::ffff:192.0.2.7"), "from this address", "192.0.2.7 IPv4-mapped")
	playing(t, base, from("192.0.2.8"), "viewer of 192.0.2.8")
	if st := c.status(); st.Viewers != 3 || st.WHEPAddressFull != 4 || st.WHEPViewersFull != 0 || st.WHEPTokenFull != 0 {
		t.Errorf("status %+v", st)
	}
	// A session that ends gives its place back.
	if code := httpDo(t, http.MethodDelete, base+first.location); code != http.StatusOK {
		t.Fatalf("DELETE: %d", code)
	}
	playing(t, base, from("192.0.2.7"), "192.0.2.7 after one of its viewers left")
}

func TestWHEPSessionsCappedPerToken(t *testing.T) {
	c, base := liveComponent(t, sessionCapsConfig(0, 2))
	with := func(token, addr string) map[string]string {
		return map[string]string{tokenHeader: token, clientHeader: addr}
	}
	// One token from several addresses (a token passed around): its cap holds whatever the address.
	playing(t, base, with("token-a", "198.51.100.1"), "token-a first")
	playing(t, base, with("token-a", "198.51.100.2"), "token-a second")
	refusedForItsShare(t, base, with("token-a", "198.51.100.3"), "with this playback token", "token-a third")
	playing(t, base, with("token-b", "198.51.100.3"), "token-b")
	if st := c.status(); st.Viewers != 3 || st.WHEPTokenFull != 2 || st.WHEPAddressFull != 0 {
		t.Errorf("status %+v", st)
	}
	if code, _, _ := postDeadOffer(t, base, with(strings.Repeat("x", maxTokenIDBytes+1), "198.51.100.4")); code != http.StatusBadRequest {
		t.Errorf("an overlong %s: %d", tokenHeader, code)
	}
}

// Issue 52, finding 8: with the host network a loopback port is open to every process of the node;
// the worker's control API is a unix socket (0600) in a directory closed to others, and the
// component refuses a directory others may enter.
func TestControlAPIOnAUnixSocket(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.Control = "unix:" + filepath.Join(dir, "control.sock")
	c, _ := startComponent(t, cfg)
	if _, tcp := c.ln.(*net.TCPListener); tcp {
		t.Fatal("a TCP control listener")
	}
	fi, err := os.Stat(filepath.Join(dir, "control.sock"))
	if err != nil || fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket %v %v", fi.Mode(), err)
	}
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", filepath.Join(dir, "control.sock"))
	}}}
	resp, err := client.Get("http://control/status")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /status: %d", resp.StatusCode)
	}
	// The control headers are the worker's there (not refused as from elsewhere).
	req, _ := http.NewRequest(http.MethodPost, "http://control/whep", strings.NewReader(deadOffer()))
	req.Header.Set("Content-Type", "application/sdp")
	req.Header.Set(clientHeader, "192.0.2.9")
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "not live") {
		t.Errorf("WHEP over the socket: %d %s", resp.StatusCode, body)
	}

	// A directory others may enter, a relative path, a file in the socket's place: refused.
	open := t.TempDir()
	if err := os.Chmod(open, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg.Control = "unix:" + filepath.Join(open, "control.sock")
	if _, err := newComponent(cfg, c.log); err == nil || !strings.Contains(err.Error(), "0700") {
		t.Errorf("socket in a 0755 directory: %v", err)
	}
	if _, err := parseConfig([]string{"--control", "unix:control.sock"}); err == nil {
		t.Error("a relative socket path was accepted")
	}
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Control = "unix:" + filepath.Join(dir, "file")
	if _, err := newComponent(cfg, c.log); err == nil {
		t.Error("a file in the socket's place was replaced")
	}
}
