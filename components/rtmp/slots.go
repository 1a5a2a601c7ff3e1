package main

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// slots are the connections in pre-auth, capped per source IP and in all. A newcomer is never
// turned away for a full cap: the connection that got least far (earliest stage), and of those the
// oldest, is closed instead. So unauthenticated clients hold nothing a publisher with the key
// needs: tricklers are the oldest and furthest behind, and a publisher leaves the handshake stage
// one round trip after it connects. (Behind a NodePort every client may share the node's address,
// so a cap that refused newcomers would let one attacker keep every encoder out.)
type slots struct {
	perSource, total int

	mu       sync.Mutex
	bySource map[string][]*slot
	count    int
}

// slot is one connection in pre-auth.
type slot struct {
	conn    net.Conn
	ip      string
	since   time.Time
	stage   atomic.Int32
	evicted atomic.Value // the cap's refusal reason, once it closed this connection for a newcomer
	held    bool         // still counted (under slots.mu)
}

func newSlots(perSource, total int) *slots {
	return &slots{perSource: perSource, total: total, bySource: map[string][]*slot{}}
}

// take counts a new connection in, evicting one that got least far when a cap is full.
func (t *slots) take(conn net.Conn, ip string, now time.Time) *slot {
	s := &slot{conn: conn, ip: ip, since: now, held: true}
	var victims []*slot
	t.mu.Lock()
	if len(t.bySource[ip]) >= t.perSource {
		if v := leastAdvanced(t.bySource[ip]); v != nil {
			t.dropLocked(v)
			victims = append(victims, v)
			v.evicted.Store(reasonSourceCap)
		}
	}
	if t.count >= t.total {
		var all []*slot
		for _, list := range t.bySource {
			all = append(all, list...)
		}
		if v := leastAdvanced(all); v != nil {
			t.dropLocked(v)
			victims = append(victims, v)
			v.evicted.Store(reasonTotalCap)
		}
	}
	t.bySource[ip] = append(t.bySource[ip], s)
	t.count++
	t.mu.Unlock()
	for _, v := range victims {
		v.conn.Close() // its handler reports the refusal (evictedBy)
	}
	return s
}

// release counts a connection out (authenticated, refused, gone); a no-op once evicted.
func (t *slots) release(s *slot) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.dropLocked(s)
}

func (t *slots) dropLocked(s *slot) {
	if !s.held {
		return
	}
	s.held = false
	list := t.bySource[s.ip]
	for i, other := range list {
		if other == s {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(t.bySource, s.ip)
	} else {
		t.bySource[s.ip] = list
	}
	t.count--
}

// evictedBy is the cap that closed this connection for a newcomer, or "".
func (s *slot) evictedBy() string {
	r, _ := s.evicted.Load().(string)
	return r
}

// leastAdvanced is the slot at the earliest stage, the oldest of those.
func leastAdvanced(list []*slot) *slot {
	var best *slot
	for _, s := range list {
		if best == nil {
			best = s
			continue
		}
		st, bt := s.stage.Load(), best.stage.Load()
		if st < bt || (st == bt && s.since.Before(best.since)) {
			best = s
		}
	}
	return best
}
