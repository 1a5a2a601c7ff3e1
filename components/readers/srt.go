package main

// SRT for readers: callers (mode=caller) get the live feed's MPEG-TS as it is, 7 TS packets an SRT
// packet. gosrt does the handshake (SYN cookies: an induction costs no state) and hands each
// conclusion here; everything is decided on it before Accept: the caps, the stream id, the token
// or the passphrase, the stream being live. A refused caller gets SRT's reject code (readers.md).

import (
	"net"
	"sync/atomic"
	"time"

	srt "github.com/datarhei/gosrt"
	"github.com/datarhei/gosrt/packet"
)

const (
	tsPacket       = 188
	srtPayload     = 7 * tsPacket // 1316: what SRT live mode carries
	firstBytesWait = 2 * time.Second
	maxPending     = 64 // handshakes being decided at once; more are refused (overload)
)

// unmarshalHandshake parses a handshake as the listener does, with accept's recovery (the fuzz
// target's way in: FuzzSRTHandshake).
func unmarshalHandshake(p packet.Packet) (c packet.CIFHandshake, ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return c, p.UnmarshalCIF(&c) == nil
}

// rejection: the SRT code a refusal reason is answered with.
var rejection = map[string]srt.RejectionReason{
	refusalMissing:   srt.REJX_UNAUTHORIZED,
	refusalInvalid:   srt.REJX_FORBIDDEN,
	refusalExpired:   srt.REJX_FORBIDDEN,
	refusalUnknown:   srt.REJX_FORBIDDEN,
	refusalOther:     srt.REJX_FORBIDDEN,
	refusalNoKeys:    srt.REJX_DOWN,
	refusalMode:      srt.REJX_BAD_MODE,
	refusalOverload:  srt.REJX_OVERLOAD,
	refusalNotLive:   srt.REJX_NOTFOUND,
	refusalProtocol:  srt.REJX_BAD_REQUEST,
	refusalEncrypted: srt.REJ_BADSECRET,
	refusalAddress:   srt.REJX_FORBIDDEN,
	refusalCountry:   srt.REJX_FORBIDDEN,
	// The worker cannot decide (its rules or GeoIP database unusable): refused, the server's fault.
	refusalGeoIPUnavailable: srt.REJX_DOWN,
	refusalRulesUnavailable: srt.REJX_DOWN,
}

type srtServer struct {
	ln      srt.Listener
	access  *access
	hub     *hub
	slots   *slots
	events  *events
	pending atomic.Int32
}

func srtConfig() srt.Config {
	c := srt.DefaultConfig()
	c.PeerIdleTimeout = 5 * time.Second // a caller gone without a shutdown frees its slot
	c.PayloadSize = srtPayload          // 7 TS packets a packet, as every SRT receiver expects
	return c
}

// accept is Accept2 surviving a panic of gosrt v0.9.0's handshake parser: a conclusion whose
// extension is cut short (< 4 bytes) indexes past its end (CIFHandshake.Unmarshal), before any SYN
// cookie is checked, so one UDP datagram from anyone stopped the process (found by FuzzSRTHandshake;
// test: TestMalformedHandshakeKeepsTheListener). Nothing is held at that point: the next request is
// taken as usual.
func (s *srtServer) accept() (req srt.ConnRequest, err error, crashed bool) {
	defer func() {
		if recover() != nil {
			req, err, crashed = nil, nil, true
		}
	}()
	req, err = s.ln.Accept2()
	return req, err, false
}

func (s *srtServer) serve() {
	for {
		req, err, crashed := s.accept()
		if crashed {
			s.events.refused("srt", refusalProtocol)
			continue
		}
		if err != nil {
			return
		}
		if s.pending.Add(1) > maxPending {
			s.pending.Add(-1)
			s.refuse(req, refusalOverload)
			continue
		}
		go func() {
			defer s.pending.Add(-1)
			s.handle(req)
		}()
	}
}

func (s *srtServer) refuse(req srt.ConnRequest, reason string) {
	s.events.refused("srt", reason)
	req.Reject(rejection[reason])
}

func clientIP(addr net.Addr) string {
	p := source(addr)
	if p.Addr().Is6() && p.Bits() == 64 {
		// the full address, not its /64: a token's ip names one host
		switch a := addr.(type) {
		case *net.UDPAddr:
			return a.IP.String()
		case *net.TCPAddr:
			return a.IP.String()
		}
	}
	return p.Addr().String()
}

// authorize decides a caller: "" to accept (the passphrase set when it is encrypted), else why not.
func (s *srtServer) authorize(req srt.ConnRequest) string {
	if req.Version() != 5 {
		return refusalMode // HSv4 has no stream id and only publishes
	}
	id, ok := parseStreamID(req.StreamId())
	if !ok {
		return refusalProtocol
	}
	if id.mode != "request" {
		return refusalMode
	}
	client := clientIP(req.RemoteAddr())
	if why := s.access.rule(client); why != "" { // the policy's rules, before the token
		return why
	}
	if !s.access.signed() {
		if req.IsEncrypted() {
			return refusalEncrypted // a public stream has no passphrase to agree on
		}
		return ""
	}
	if !req.IsEncrypted() {
		return s.access.token(id.token, client)
	}
	// Encrypted: the passphrase is the token's signature; the stream id its public part (or the whole
	// token, whose signature must then be the passphrase as well).
	c, sig, ok := splitToken(id.token)
	if !ok {
		if id.token == "" {
			return refusalMissing
		}
		return refusalInvalid
	}
	if sig != "" {
		if why := s.access.token(id.token, client); why != "" {
			return why
		}
	}
	want, why := s.access.secret(c.public(), client)
	if why != "" {
		return why
	}
	if req.SetPassphrase(want) != nil {
		return refusalInvalid // the caller's passphrase is not the signature
	}
	return ""
}

func (s *srtServer) handle(req srt.ConnRequest) {
	slot, ok := s.slots.take(req.RemoteAddr())
	if !ok {
		s.refuse(req, refusalOverload)
		return
	}
	defer s.slots.give(slot)
	if why := s.authorize(req); why != "" {
		s.refuse(req, why)
		return
	}
	r := s.hub.subscribe()
	defer s.hub.unsubscribe(r)
	var first []byte
	select {
	case chunk, open := <-r.ch:
		if !open {
			s.refuse(req, refusalNotLive)
			return
		}
		first = chunk
	case <-time.After(firstBytesWait):
		s.refuse(req, refusalNotLive)
		return
	}
	conn, err := req.Accept()
	if err != nil {
		return
	}
	defer conn.Close()
	s.events.viewers("srt", 1)
	defer s.events.viewers("srt", -1)
	gone := make(chan struct{})
	go func() { // a reader sends nothing: its Read returns when it hangs up or times out
		defer close(gone)
		buf := make([]byte, 1500)
		for {
			if _, err := conn.Read(buf); err != nil {
				return
			}
		}
	}()
	var pending []byte
	write := func(chunk []byte) bool {
		pending = append(pending, chunk...)
		n := len(pending) / srtPayload * srtPayload
		if n == 0 {
			return true
		}
		if _, err := conn.Write(pending[:n]); err != nil {
			return false // closed, or its send queue is full: a slow reader is cut off
		}
		pending = append(pending[:0], pending[n:]...)
		return true
	}
	if !write(first) {
		return
	}
	for {
		select {
		case <-gone:
			return
		case chunk, open := <-r.ch:
			if !open || !write(chunk) {
				return
			}
		}
	}
}
