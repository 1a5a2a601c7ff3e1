package main

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// countLookups makes the feeds look `name` up as `addr` for the test, counting the lookups.
func countLookups(t *testing.T, name, addr string) *atomic.Int32 {
	var n atomic.Int32
	saved := feedHosts.lookup
	feedHosts.lookup = func(ctx context.Context, host string) ([]string, error) {
		if host != name {
			return saved(ctx, host)
		}
		n.Add(1)
		return []string{addr}, nil
	}
	t.Cleanup(func() {
		feedHosts.lookup = saved
		feedHosts.forget(name)
	})
	return &n
}

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func listen(t *testing.T) (net.Listener, string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return ln, port
}

func TestAFeedHostIsLookedUpOnceThenKeptForItsTTL(t *testing.T) {
	_, port := listen(t)
	clock := &fakeClock{t: time.Unix(1000, 0)}
	var lookups atomic.Int32
	c := newHostCache(&net.Dialer{Timeout: time.Second})
	c.now = clock.now
	c.lookup = func(context.Context, string) ([]string, error) {
		lookups.Add(1)
		return []string{"127.0.0.1"}, nil
	}
	for i := 0; i < 20; i++ {
		conn, err := c.DialContext(context.Background(), "tcp", net.JoinHostPort("ingest.test", port))
		if err != nil {
			t.Fatal(err)
		}
		conn.Close()
	}
	if n := lookups.Load(); n != 1 {
		t.Fatalf("%d lookups for 20 dials, want 1", n)
	}
	clock.t = clock.t.Add(addrTTL)
	if _, err := c.addrs(context.Background(), "ingest.test"); err != nil || lookups.Load() != 2 {
		t.Fatalf("after the TTL: %v, %d lookups, want a second", err, lookups.Load())
	}
}

func TestAKeptAddressServesWhileALookupFailsOrHangs(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	c := newHostCache(&net.Dialer{Timeout: time.Second})
	c.now = clock.now
	c.lookup = func(context.Context, string) ([]string, error) { return []string{"10.96.0.7"}, nil }
	if _, err := c.addrs(context.Background(), "ingest.test"); err != nil {
		t.Fatal(err)
	}
	clock.t = clock.t.Add(2 * addrTTL)
	c.lookup = func(ctx context.Context, _ string) ([]string, error) {
		<-ctx.Done() // a lost UDP packet: the resolver would wait its 5 s
		return nil, ctx.Err()
	}
	began := time.Now()
	addrs, err := c.addrs(context.Background(), "ingest.test")
	if err != nil || len(addrs) != 1 || addrs[0] != "10.96.0.7" {
		t.Fatalf("%v %v, want the kept address", addrs, err)
	}
	if took := time.Since(began); took > lookupTimeout+time.Second {
		t.Fatalf("the lookup took %s, want at most %s", took, lookupTimeout)
	}
	c.lookup = func(context.Context, string) ([]string, error) { return nil, errors.New("SERVFAIL") }
	if addrs, err := c.addrs(context.Background(), "ingest.test"); err != nil || addrs[0] != "10.96.0.7" {
		t.Fatalf("%v %v, want the kept address", addrs, err)
	}
	if _, err := c.addrs(context.Background(), "other.test"); err == nil {
		t.Fatal("a name never resolved and failing now: want the error")
	}
}

func TestADialThatFailsForgetsTheAddress(t *testing.T) {
	ln, port := listen(t)
	ln.Close() // nothing listens there now: refused
	var lookups atomic.Int32
	c := newHostCache(&net.Dialer{Timeout: time.Second})
	c.lookup = func(context.Context, string) ([]string, error) {
		lookups.Add(1)
		return []string{"127.0.0.1"}, nil
	}
	for i := 0; i < 2; i++ {
		if _, err := c.DialContext(context.Background(), "tcp", net.JoinHostPort("ingest.test", port)); err == nil {
			t.Fatal("dialled a closed port")
		}
	}
	if n := lookups.Load(); n != 2 {
		t.Fatalf("%d lookups, want one per failed dial (the address forgotten)", n)
	}
}
