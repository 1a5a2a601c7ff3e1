package main

import (
	"net"
	"testing"
)

// pipeConn is a connection the pools can hold and close (no socket: never bytes waiting).
func pipeConn(t *testing.T) net.Conn {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	return a
}

func TestSourceOfCountsAnIPv6SubscribersPrefixAsOne(t *testing.T) {
	t.Parallel()
	for ip, want := range map[string]string{
		"192.0.2.7":               "192.0.2.7",
		"::ffff:192.0.2.7":        "192.0.2.7",
		"2001:db8:1:2:aaaa::1":    "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff:1:2:3": "2001:db8:1:2::/64",
		"2001:db8:1:3::1":         "2001:db8:1:3::/64",
		"not an address (a test)": "not an address (a test)",
	} {
		if got := sourceOf(ip); got != want {
			t.Errorf("sourceOf(%q) = %q, want %q", ip, got, want)
		}
	}
}

// A full total cap closes the oldest of the source holding the most, not the oldest of all: a
// publisher with an address of its own is not closed for a flood spread over a few others (issue
// 52: before, the oldest of all went, and an encoder's first round trip made it the oldest).
func TestTotalCapClosesTheLargestSourcesOldest(t *testing.T) {
	t.Parallel()
	p := newPool(8, 6)
	enter := func(ip string) *slot {
		s := &slot{conn: pipeConn(t), source: sourceOf(ip)}
		for _, v := range p.enterLocked(s) {
			v.conn.Close()
		}
		return s
	}
	encoder := enter("192.0.2.1") // the oldest of all
	var flood []*slot
	for range 3 {
		flood = append(flood, enter("2001:db8:0:1::a"), enter("2001:db8:0:1::b")) // one /64
	}
	// Six in all: the encoder and five of the flood's (its first closed for the sixth).
	if encoder.evictedBy() != "" {
		t.Fatal("the encoder was closed for a source holding more")
	}
	if flood[0].evictedBy() != reasonTotalCap || flood[1].evictedBy() != "" {
		t.Fatalf("want the flood's oldest closed by the total cap, got %q %q", flood[0].evictedBy(), flood[1].evictedBy())
	}
	// A source at its own cap closes its own oldest first.
	p = newPool(2, 6)
	own1, own2 := enter("2001:db8:0:1::a"), enter("2001:db8:0:1::b")
	other := enter("192.0.2.9")
	enter("2001:db8:0:1::c")
	if own1.evictedBy() != reasonSourceCap || own2.evictedBy() != "" || other.evictedBy() != "" {
		t.Fatalf("want the source's oldest closed by its cap, got %q %q %q", own1.evictedBy(), own2.evictedBy(), other.evictedBy())
	}
	// Many sources of one member each: the oldest of all goes.
	p = newPool(4, 2)
	first, second := enter("192.0.2.1"), enter("192.0.2.2")
	enter("192.0.2.3")
	if first.evictedBy() != reasonTotalCap || second.evictedBy() != "" {
		t.Fatal("with one member per source, the oldest of all was not the one closed")
	}
	// The sizes follow drops: after the largest source leaves, the next largest is taken from.
	p = newPool(8, 5)
	a1, a2, a3 := enter("192.0.2.1"), enter("192.0.2.1"), enter("192.0.2.1")
	b1, b2 := enter("192.0.2.2"), enter("192.0.2.2")
	for _, s := range []*slot{a1, a2, a3} {
		p.dropLocked(s)
	}
	if p.maxSize != 2 {
		t.Fatalf("largest source's size %d after drops, want 2", p.maxSize)
	}
	c := enter("192.0.2.3")
	enter("192.0.2.4")
	enter("192.0.2.5")
	enter("192.0.2.6") // over the total: the two-member source gives its oldest
	if b1.evictedBy() != reasonTotalCap || b2.evictedBy() != "" || c.evictedBy() != "" {
		t.Fatalf("want the two-member source's oldest closed first, got %q %q %q", b1.evictedBy(), b2.evictedBy(), c.evictedBy())
	}
}
