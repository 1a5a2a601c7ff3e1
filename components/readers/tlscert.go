package main

// The RTSPS certificate, read again when its files change (kubelet swaps a mounted Secret's files):
// new handshakes get the new one, a broken renewal keeps the previous.

import (
	"crypto/tls"
	"sync"
)

type certificate struct {
	cert, key string
	mu        sync.Mutex
	seen      string
	current   *tls.Certificate
}

func (c *certificate) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := identity(c.cert) + "|" + identity(c.key)
	if seen != c.seen || c.current == nil {
		pair, err := tls.LoadX509KeyPair(c.cert, c.key)
		if err != nil && c.current == nil {
			return nil, err
		}
		if err == nil {
			c.current, c.seen = &pair, seen
		}
	}
	return c.current, nil
}
