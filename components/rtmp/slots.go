package main

import (
	"container/list"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// slots are the connections in pre-auth, in three pools with caps of their own, per source (an
// IPv4 address, an IPv6 /64) and in all: `bare` (accepted, nothing received yet), `early` (receiving: the TLS or RTMP
// handshake, until `connect` is accepted) and `connected` (past `connect`, waiting for a
// `publish` with the key). A connection whose releaseStream, FCPublish or publish carried the key
// leaves them (it holds the key: nothing a key-less client does may close it).
//
// A newcomer is never turned away for a full cap (behind a NodePort every client may share the
// node's address, so a cap that refused newcomers would let one client keep every encoder out).
// Instead the pool's oldest member (by the time it entered the pool) is closed for it, and a pool
// only ever closes its own members:
//   - a flood of bare connections churns the bare pool only, one that also sends a handshake the
//     early pool too, and nothing closes a connection past `connect` but newer ones past `connect`;
//   - a newcomer lives through the pool's cap's worth of later arrivals from its source (first
//     in, first out): an encoder sharing its address with a flood gets cap/rate seconds for each
//     round trip (1,024 at the ≈8,000 a second a loopback client made here: ≈128 ms), and one with
//     an address of its own is closed by the total cap only after every source holding more;
//   - a client parked at any stage (trickling, or holding `connect`) is the oldest of its pool
//     and the first to go;
//   - a connection whose bytes wait in its socket for this process to read them is passed over:
//     under a flood the delay is ours, not the client's (an encoder's next message waiting for
//     its goroutine to run), and a key-less client cannot keep bytes waiting there for long.
//
// docs/design/rtmp-front.md ("Pre-auth caps under a flood") has the attack and the numbers.
type slots struct {
	mu                     sync.Mutex // over the pools and every slot's membership
	bare, early, connected *pool
}

// pool is one stage's connections, oldest first, per source and in all.
type pool struct {
	perSource, total int

	all      *list.List            // of *slot, oldest first
	bySource map[string]*list.List // of *slot, oldest first
	// The sources by how many members each has (a count's bucket: a set of sources), and the
	// largest count: the source a full total cap takes its victim from, in constant time.
	bySize  map[int]map[string]struct{}
	maxSize int
}

// slot is one connection in pre-auth.
type slot struct {
	conn    net.Conn
	source  string       // sourceOf the peer's address: what the caps count
	evicted atomic.Value // the cap's refusal reason, once it closed this connection for a newcomer

	// Under slots.mu: the pool it is in (nil: none) and its places there.
	in           *pool
	inAll, inSrc *list.Element
}

func newSlots(perSource, total int) *slots {
	return &slots{bare: newPool(perSource, total), early: newPool(perSource, total), connected: newPool(perSource, total)}
}

func newPool(perSource, total int) *pool {
	return &pool{
		perSource: perSource, total: total,
		all: list.New(), bySource: map[string]*list.List{}, bySize: map[int]map[string]struct{}{},
	}
}

// sourceOf is what the caps count a peer address as: an IPv4 address, or an IPv6 address's /64
// (one subscriber's prefix: a client holding one has 2^64 addresses to spread over).
func sourceOf(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	if a = a.Unmap(); a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// take counts a new connection from peer address ip into the bare pool, closing the pool's oldest
// when a cap is full.
func (t *slots) take(conn net.Conn, ip string) *slot {
	s := &slot{conn: conn, source: sourceOf(ip)}
	t.mu.Lock()
	victims := t.bare.enterLocked(s)
	t.mu.Unlock()
	closeAll(victims)
	return s
}

// reached moves a connection on: receiving into the early pool, past `connect` into the
// connected pool (closing that pool's oldest when a cap is full); with the key out of all.
func (t *slots) reached(s *slot, stage int32) {
	var victims []*slot
	t.mu.Lock()
	switch stage {
	case stageReceiving:
		if s.in == t.bare {
			t.bare.dropLocked(s)
			victims = t.early.enterLocked(s)
		}
	case stageConnected:
		if s.in == t.early {
			t.early.dropLocked(s)
			victims = t.connected.enterLocked(s)
		}
	case stageKeyed:
		if s.in != nil {
			s.in.dropLocked(s)
		}
	}
	t.mu.Unlock()
	closeAll(victims)
}

// release counts a connection out (authenticated, refused, gone); a no-op once evicted.
func (t *slots) release(s *slot) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s.in != nil {
		s.in.dropLocked(s)
	}
}

// closeAll closes the connections evicted for a newcomer (outside the lock): each one's handler
// reports the refusal (evictedBy).
func closeAll(victims []*slot) {
	for _, v := range victims {
		v.conn.Close()
	}
}

// enterLocked adds s as the newest member, first evicting the oldest of its source when its
// source's cap is full, then, when the total cap is full, the oldest of the source with the most
// members (of all when no source has more than one): many sources, one connection each (a
// publisher's), are not closed for one that holds many. It returns the evicted, to be closed.
func (p *pool) enterLocked(s *slot) (victims []*slot) {
	if src := p.bySource[s.source]; src != nil && src.Len() >= p.perSource {
		v := victim(src)
		p.dropLocked(v)
		v.evicted.Store(reasonSourceCap)
		victims = append(victims, v)
	}
	if p.all.Len() >= p.total {
		from := p.all
		if p.maxSize > 1 {
			for source := range p.bySize[p.maxSize] {
				from = p.bySource[source]
				break
			}
		}
		v := victim(from)
		p.dropLocked(v)
		v.evicted.Store(reasonTotalCap)
		victims = append(victims, v)
	}
	src := p.bySource[s.source]
	if src == nil {
		src = list.New()
		p.bySource[s.source] = src
	}
	s.in, s.inAll, s.inSrc = p, p.all.PushBack(s), src.PushBack(s)
	p.resizedLocked(s.source, src.Len()-1, src.Len())
	return victims
}

// resizedLocked moves a source from the bucket of its old member count to its new one.
func (p *pool) resizedLocked(source string, from, to int) {
	if from > 0 {
		delete(p.bySize[from], source) // an emptied bucket stays (at most perSource of them): no churn
	}
	if to > 0 {
		if p.bySize[to] == nil {
			p.bySize[to] = map[string]struct{}{}
		}
		p.bySize[to][source] = struct{}{}
	}
	switch {
	case to > p.maxSize:
		p.maxSize = to
	case from == p.maxSize && len(p.bySize[from]) == 0:
		p.maxSize = to // counts move by one: the next largest is one less, or none are left
	}
}

// victimScan bounds how many of the oldest are looked at for one not waiting on us.
const victimScan = 16

// victim is the oldest of list with no bytes waiting to be read, among its victimScan oldest; the
// oldest when all of those have some.
func victim(l *list.List) *slot {
	e := l.Front()
	for i := 0; i < victimScan && e != nil; i, e = i+1, e.Next() {
		if s := e.Value.(*slot); !s.bytesWaiting() {
			return s
		}
	}
	return l.Front().Value.(*slot)
}

// bytesWaiting says whether the client's socket holds bytes not read yet (FIONREAD).
func (s *slot) bytesWaiting() bool {
	sc, ok := s.conn.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var n int32
	var errno syscall.Errno
	if rc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCINQ, uintptr(unsafe.Pointer(&n)))
	}) != nil {
		return false
	}
	return errno == 0 && n > 0
}

func (p *pool) dropLocked(s *slot) {
	p.all.Remove(s.inAll)
	src := p.bySource[s.source]
	src.Remove(s.inSrc)
	p.resizedLocked(s.source, src.Len()+1, src.Len())
	if src.Len() == 0 {
		delete(p.bySource, s.source)
	}
	s.in, s.inAll, s.inSrc = nil, nil, nil
}

// evictedBy is the cap that closed this connection for a newcomer, or "".
func (s *slot) evictedBy() string {
	r, _ := s.evicted.Load().(string)
	return r
}
