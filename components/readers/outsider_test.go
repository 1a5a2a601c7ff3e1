package main

// An outsider's attempts on the listeners: malformed handshakes, bytes and time without
// authorizing, more connections than an address may hold.

import (
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// The datagram FuzzSRTHandshake found: a conclusion handshake whose extension is cut short. gosrt
// v0.9.0 panicked on it in Accept2, before any SYN cookie check: one packet from anyone stopped the
// process.
func TestMalformedHandshakeKeepsTheListener(t *testing.T) {
	t.Parallel() // each its own component, feed and ports: two at a time (GOMAXPROCS)
	crash := []byte("\x80\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x05\x00\x00\x00\x05" +
		"\x00\x00\x00\x00\x00\x00\x05\xdc\x00\x00 \x00\xff\xff\xff\xff\x00\x00\x00\x01\x00\x00\x00\x00\x01\x00\x00\x7f" +
		"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00")
	feed := serveFeed(t, tsFeed(t, 8), 8*time.Second)
	c := start(t, feed.URL+"/feed", false, func(o *options) { o.rtsp = "" })
	u, err := net.Dial("udp", c.addrs["srt"])
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	for i := 0; i < 3; i++ {
		if _, err := u.Write(crash); err != nil {
			t.Fatal(err)
		}
	}
	c.waitEvent(t, "refused protocol", func(ev event) bool { return ev.Type == "refused" && ev.Reason == refusalProtocol })
	p, err := probe(t, "srt://"+c.addrs["srt"]+"?mode=caller")
	wantAV(t, p, err)
}

// closedWithin: the server closes conn within d (a read returns an error other than a timeout).
func closedWithin(t *testing.T, conn net.Conn, d time.Duration) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, conn)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("still open after %s", d)
	}
}

func TestRTSPBoundsBeforeAuthorization(t *testing.T) {
	t.Parallel() // each its own component, feed and ports: two at a time (GOMAXPROCS)
	s := serveFeed(t, tsFeed(t, 2), 2*time.Second)

	// Time: a connection that says nothing is closed at the deadline.
	quick := start(t, s.URL+"/feed", true, func(o *options) { o.srt, o.authTimeout = "", time.Second })
	idle, err := net.Dial("tcp", quick.addrs["rtsp"])
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	closedWithin(t, idle, 5*time.Second)
	quick.waitEvent(t, "refused timeout", func(ev event) bool { return ev.Type == "refused" && ev.Reason == refusalTimeout })

	// The rest with a deadline far away: what closes a connection here is not the clock.
	c := start(t, s.URL+"/feed", true, func(o *options) { o.srt, o.perAdd, o.authTimeout = "", 3, time.Minute })
	addr := c.addrs["rtsp"]

	// Bytes: requests that never authorize (OPTIONS needs none) are cut at the pre-auth budget.
	// (What the kernel's buffers take says nothing of what the server read: the refusal does.)
	chatty, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer chatty.Close()
	go io.Copy(io.Discard, chatty)
	req := "OPTIONS rtsp://" + addr + "/x RTSP/1.0\r\nCSeq: 1\r\nX-Pad: " + strings.Repeat("a", 1500) + "\r\n\r\n"
	for sent := 0; sent < 16*preAuthBytes; sent += len(req) {
		_ = chatty.SetWriteDeadline(time.Now().Add(time.Second))
		if _, err := chatty.Write([]byte(req)); err != nil {
			break // closed (reset) by the server
		}
	}
	c.waitEvent(t, "refused bytes", func(ev event) bool { return ev.Type == "refused" && ev.Reason == refusalBytes })
	closedWithin(t, chatty, 5*time.Second)

	// Connections: a fourth from one address is closed at once.
	var held []net.Conn
	defer func() {
		for _, h := range held {
			h.Close()
		}
	}()
	for i := 0; i < 3; i++ {
		h, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, h)
	}
	extra, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	closedWithin(t, extra, 5*time.Second)
	c.waitEvent(t, "refused overload", func(ev event) bool { return ev.Type == "refused" && ev.Reason == refusalOverload })
	for _, h := range held { // the three within the cap are still open
		_ = h.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		var ne net.Error
		if _, err := h.Read(make([]byte, 1)); !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("a connection within the cap was closed: %v", err)
		}
	}
}

func TestOptions(t *testing.T) {
	for _, args := range [][]string{
		{"--feed", "http://127.0.0.1:1/feed"},
		{"--srt", ":1", "--feed", "file:///etc/passwd"},
		{"--rtsps", ":1", "--feed", "http://127.0.0.1:1/feed"},
		{"--srt", ":1", "--feed", "http://127.0.0.1:1/feed", "--keys-dir", os.TempDir(), "--stream", "noslash"},
		{"--srt", ":1", "--feed", "http://u:p@127.0.0.1:1/feed"},
	} {
		if _, err := parseOptions(args); err == nil {
			t.Errorf("accepted %v", args)
		}
	}
}
