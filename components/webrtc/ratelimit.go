package main

import (
	"math"
	"net/netip"
	"sync"
	"time"
)

// WHEP offers are rate limited per client address (the address the Python worker decided on, in
// clientHeader): a token bucket of offerBurst offers refilled at offerRate a second. A player page
// makes one offer per attempt and retries after seconds, so 5/s with a burst of 10 leaves room for
// a few viewers behind one NAT joining together, while one address can keep at most
// offerBurst + offerRate × the connect timeout (10 + 5 × 5 = 35) offers waiting for a connection.
const (
	defaultOfferRate  = 5.0
	defaultOfferBurst = 10
	// maxLimitedAddresses bounds the limiter's memory (≈100 B an entry); an address idle long enough
	// to have refilled its bucket is forgotten first.
	maxLimitedAddresses = 10000
)

// offerLimiter is a token bucket per client address: IPv4 per address, IPv6 per /64 (one
// subscriber's prefix: its 2^64 addresses would otherwise be 2^64 buckets).
type offerLimiter struct {
	rate  float64 // tokens a second; <= 0: no limit
	burst float64
	now   func() time.Time

	mu      sync.Mutex
	buckets map[netip.Prefix]*tokenBucket
}

type tokenBucket struct {
	tokens float64
	last   time.Time
}

func newOfferLimiter(rate float64, burst int) *offerLimiter {
	return &offerLimiter{rate: rate, burst: float64(max(burst, 1)), now: time.Now, buckets: map[netip.Prefix]*tokenBucket{}}
}

// limitKey is the bucket an address counts against.
func limitKey(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p
}

// allow takes one token for addr; when there is none, false and how long until there is one.
func (l *offerLimiter) allow(addr netip.Addr) (bool, time.Duration) {
	if l.rate <= 0 {
		return true, 0
	}
	key := limitKey(addr)
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxLimitedAddresses && !l.forgetIdleLocked(now) {
			// Every tracked address is active: refusing a new one keeps memory bounded; its retry
			// comes when the others have gone idle.
			return false, time.Second
		}
		b = &tokenBucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	b.tokens = math.Min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens < 1 {
		return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	}
	b.tokens--
	return true, 0
}

// forgetIdleLocked drops the buckets that have refilled completely (the same as no bucket); true
// when one was dropped.
func (l *offerLimiter) forgetIdleLocked(now time.Time) bool {
	full := time.Duration(l.burst / l.rate * float64(time.Second))
	dropped := false
	for k, b := range l.buckets {
		if now.Sub(b.last) >= full {
			delete(l.buckets, k)
			dropped = true
		}
	}
	return dropped
}

// retryAfterSeconds is a Retry-After value: whole seconds, at least 1.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
