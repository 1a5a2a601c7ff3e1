package main

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"testing"
	"time"
)

// Network confinement: everything in these tests listens on and talks to 127.0.0.0/8 only; the
// component and the test peers gather candidates on loopback addresses only.
var loopbackOnly = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

// testConfig is a component on loopback with ephemeral ports.
func testConfig() Config {
	return Config{
		Control:              "127.0.0.1:0",
		ICEUDP:               "127.0.0.1:0",
		ICETCP:               "127.0.0.1:0",
		ICEAllowedNets:       loopbackOnly,
		RTPInLiveTimeout:     3 * time.Second,
		ViewerPLIMinInterval: time.Second,
		MaxViewers:           100,
		MaxPendingViewers:    defaultMaxPendingViewers,
		ViewerConnectTimeout: defaultViewerConnectTimeout,
		OfferRate:            defaultOfferRate,
		OfferBurst:           defaultOfferBurst,
		LogLevel:             "error",
	}
}

// startComponent runs a component until the test ends.
func startComponent(t *testing.T, cfg Config) (*component, string) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c, err := newComponent(cfg, log)
	if err != nil {
		t.Fatalf("start component: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := c.serve(); err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	t.Cleanup(func() {
		c.close()
		<-done
	})
	return c, "http://" + c.ln.Addr().String()
}

// postSDP posts an SDP body and returns status, Location and body.
func postSDP(t *testing.T, url, contentType, body string) (int, string, string) {
	t.Helper()
	resp, err := http.Post(url, contentType, bytes.NewBufferString(body))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

// postSDPWith posts an SDP offer with extra headers and returns status, headers and body.
func postSDPWith(t *testing.T, url string, headers map[string]string, body string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewBufferString(body))
	req.Header.Set("Content-Type", "application/sdp")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func httpDo(t *testing.T, method, url string) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// freeUDPPort returns a loopback UDP port that was free (and its successor, for RTCP).
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

// waitFor polls cond until it holds or the timeout passes.
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

// twoUDPPortPairs returns two free loopback ports whose RTCP neighbours (port + 1) do not overlap.
func twoUDPPortPairs(t *testing.T) (int, int) {
	t.Helper()
	a := freeUDPPort(t)
	for {
		if b := freeUDPPort(t); b > a+1 || b+1 < a {
			return a, b
		}
	}
}
