package main

// The feed's host name, looked up once and kept: a feed's rejoin asks every rejoinPoll (100 ms)
// for up to feedRejoin (5 s), and each ask on a fresh connection looked the name up again — in a
// Pod, up to six queries a time through the cluster's search list (ndots 5), each a UDP packet
// whose loss costs the resolver's timeout (resolv.conf's default: 5 s), the whole rejoin window.
// A Service's ClusterIP does not change while the Service exists: the address is kept for
// addrTTL, a lookup is bounded by lookupTimeout (the kept address, even stale, serves meanwhile),
// and a dial that fails forgets it (a Service made again, a headless Service's Pod gone).
// Why: docs/design/handover.md, Part 4, "The restream target's 6.1 s".

import (
	"context"
	"net"
	"sync"
	"time"
)

const (
	addrTTL       = 30 * time.Second
	lookupTimeout = 2 * time.Second
)

type hostEntry struct {
	addrs   []string
	expires time.Time
}

type hostCache struct {
	lookup func(ctx context.Context, host string) ([]string, error)
	dial   func(ctx context.Context, network, addr string) (net.Conn, error)
	now    func() time.Time

	mu    sync.Mutex
	hosts map[string]hostEntry
}

func newHostCache(dialer *net.Dialer) *hostCache {
	return &hostCache{
		lookup: net.DefaultResolver.LookupHost,
		dial:   dialer.DialContext,
		now:    time.Now,
		hosts:  map[string]hostEntry{},
	}
}

// addrs is host's addresses: kept ones while fresh, else a lookup (bounded by lookupTimeout),
// else kept ones however old.
func (c *hostCache) addrs(ctx context.Context, host string) ([]string, error) {
	c.mu.Lock()
	kept, ok := c.hosts[host]
	c.mu.Unlock()
	if ok && c.now().Before(kept.expires) {
		return kept.addrs, nil
	}
	lctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	addrs, err := c.lookup(lctx, host)
	if err != nil || len(addrs) == 0 {
		if ok {
			return kept.addrs, nil
		}
		if err == nil {
			err = &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
		}
		return nil, err
	}
	c.mu.Lock()
	c.hosts[host] = hostEntry{addrs: addrs, expires: c.now().Add(addrTTL)}
	c.mu.Unlock()
	return addrs, nil
}

func (c *hostCache) forget(host string) {
	c.mu.Lock()
	delete(c.hosts, host)
	c.mu.Unlock()
}

// DialContext is an http.Transport's: an address literal is dialled as is; a name through addrs,
// each address in turn, and forgotten when none answers.
func (c *hostCache) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || net.ParseIP(host) != nil {
		return c.dial(ctx, network, addr)
	}
	addrs, err := c.addrs(ctx, host)
	if err != nil {
		return nil, err
	}
	for _, a := range addrs {
		var conn net.Conn
		if conn, err = c.dial(ctx, network, net.JoinHostPort(a, port)); err == nil {
			return conn, nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	c.forget(host)
	return nil, err
}
