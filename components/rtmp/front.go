package main

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"
)

// front owns the listeners, the pre-auth caps and the sessions waiting for or past admission.
type front struct {
	cfg      Config
	log      *slog.Logger
	ev       *emitter
	now      func() time.Time
	ctx      context.Context // cancelled at shutdown
	certs    *certReloader   // nil without RTMPS
	tlsConf  *tls.Config
	refusals *refusalLog
	batch    refusalBatch // refusals not reported yet

	mu        sync.Mutex
	closing   bool
	listeners []net.Listener
	preauth   *slots // connections in pre-auth, capped per source IP and in all
	conns     map[net.Conn]struct{}
	sessions  map[uint64]*session
	lastID    uint64
	wg        sync.WaitGroup
}

func newFront(ctx context.Context, cfg Config, log *slog.Logger, ev *emitter) *front {
	f := &front{
		cfg: cfg, log: log, ev: ev, now: time.Now, ctx: ctx,
		refusals: newRefusalLog(1024, time.Minute),
		preauth:  newSlots(cfg.PreauthPerSource, cfg.PreauthTotal),
		conns:    map[net.Conn]struct{}{},
		sessions: map[uint64]*session{},
	}
	if cfg.RTMPS != "" {
		f.certs = &certReloader{certPath: cfg.Cert, keyPath: cfg.TLSKey, emit: func(e certificateEvent) {
			if e.Error != nil {
				log.Error("RTMPS certificate", "err", *e.Error)
			} else {
				log.Info("RTMPS certificate loaded", "sha256", *e.SHA256)
			}
			ev.emit(e)
		}}
		f.tlsConf = f.certs.config()
	}
	return f
}

// listen binds the configured addresses and reports them (the `listening` event).
func (f *front) listen() error {
	ev := listeningEvent{Type: "listening"}
	for _, l := range []struct {
		addr  string
		label *string
	}{{f.cfg.RTMP, &ev.RTMP}, {f.cfg.RTMPS, &ev.RTMPS}} {
		if l.addr == "" {
			f.listeners = append(f.listeners, nil)
			continue
		}
		ln, err := net.Listen("tcp", l.addr)
		if err != nil {
			for _, ln := range f.listeners {
				if ln != nil {
					ln.Close()
				}
			}
			return err
		}
		f.listeners = append(f.listeners, ln)
		*l.label = ln.Addr().String()
	}
	f.log.Info("listening", "rtmp", ev.RTMP, "rtmps", ev.RTMPS)
	f.ev.emit(ev)
	return nil
}

// serve runs the accept loops (listen first).
func (f *front) serve() {
	for i, ln := range f.listeners {
		if ln != nil {
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				f.accept(ln, i == 1)
			}()
		}
	}
}

func (f *front) accept(ln net.Listener, isTLS bool) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if f.isClosing() || errors.Is(err, net.ErrClosed) {
				return
			}
			f.log.Warn("accept", "err", err) // EMFILE and the like: wait, then go on
			time.Sleep(50 * time.Millisecond)
			continue
		}
		f.mu.Lock()
		if f.closing {
			f.mu.Unlock()
			c.Close()
			return
		}
		f.conns[c] = struct{}{}
		f.wg.Add(1)
		f.mu.Unlock()
		go func() {
			defer f.wg.Done()
			defer f.untrack(c)
			f.handle(c, isTLS)
		}()
	}
}

func (f *front) isClosing() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closing
}

func (f *front) untrack(c net.Conn) {
	c.Close()
	f.mu.Lock()
	delete(f.conns, c)
	f.mu.Unlock()
}

// meteredConn is the raw connection with its reads and writes going through the meter (what the
// TLS server reads the handshake and records from).
type meteredConn struct {
	net.Conn
	m *meter
}

func (c meteredConn) Read(p []byte) (int, error)  { return c.m.Read(p) }
func (c meteredConn) Write(p []byte) (int, error) { return c.m.Write(p) }

// handle takes one accepted connection through pre-auth and, when its publish carried the right
// key, into a session.
func (f *front) handle(raw net.Conn, isTLS bool) {
	ip := peerIP(raw)
	start := f.now()
	slot := f.preauth.take(raw, ip)
	defer f.preauth.release(slot)

	deadline := start.Add(f.cfg.PreauthDeadline)
	raw.SetDeadline(deadline) // a total deadline: TLS, RTMP handshake, connect … publish
	m := newMeter(raw, f.cfg.PreauthBytes, deadline, f.now)
	m.first = func() { f.preauth.reached(slot, stageReceiving) }
	mc := meteredConn{Conn: raw, m: m}
	var conn net.Conn = mc
	if isTLS {
		tc := tls.Server(mc, f.tlsConf)
		if err := tc.HandshakeContext(f.ctx); err != nil {
			if reason := slot.evictedBy(); reason != "" {
				f.refused(ip, reason, "closed for a newcomer: too many connections in pre-auth")
				return
			}
			switch reason := classify(err, m); reason {
			case "":
				// gone before the handshake ended (a TCP probe, a port scan): no refusal
			case reasonProtocol:
				f.refused(ip, reasonTLS, "TLS handshake: "+err.Error())
			default:
				f.refused(ip, reason, "TLS handshake: "+err.Error())
			}
			return
		}
		conn = tc
	}
	p, err := runPreauth(conn, preauthConfig{
		key:      func() []byte { return readKey(f.cfg.KeyFile) },
		maxBytes: f.cfg.PreauthBytes,
		progress: func(stage int32) { f.preauth.reached(slot, stage) },
	})
	if err != nil {
		if reason := slot.evictedBy(); reason != "" {
			f.refused(ip, reason, "closed for a newcomer: too many connections in pre-auth")
			return
		}
		if reason := classify(err, m); reason != "" {
			f.refused(ip, reason, refusalDetail(err, m))
		}
		return
	}
	// The key was right: the connection leaves pre-auth (its slot goes to the next client).
	f.preauth.release(slot)
	if slot.evictedBy() != "" {
		return // closed for a newcomer a moment before its publish was read: the publisher retries
	}
	raw.SetDeadline(time.Time{})
	m.lift()
	s := f.newSession(raw, m, p, ip, isTLS)
	if s == nil {
		return // shutting down
	}
	f.log.Info("publisher authenticated; asking the worker", "id", s.id, "peer", raw.RemoteAddr().String(), "tls", isTLS)
	f.ev.emit(publishEvent{Type: "publish", ID: s.id, Peer: raw.RemoteAddr().String(), TLS: isTLS})
	s.run()
}

func refusalDetail(err error, m *meter) string {
	var r *refusal
	switch {
	case errors.As(err, &r):
		return r.detail
	case m.cause != nil:
		return m.cause.Error()
	case m.ioErr != nil:
		return m.ioErr.Error()
	}
	return "malformed chunk stream: " + err.Error() // gortmplib's reader: sizes and types only
}

// refused reports a connection turned away: a `refused` event at once or counted into the next
// (refusalBatch), at most one log line per source IP a minute (never the stream name or key).
func (f *front) refused(ip, reason, detail string) {
	if f.batch.add(reason, ip) {
		f.ev.emit(refusedEvent{Type: "refused", Reason: reason, Peer: ip, Count: 1})
	}
	if ok, suppressed := f.refusals.allow(ip, f.now()); ok {
		f.log.Warn("refused an RTMP client", "peer", ip, "reason", reason, "detail", detail,
			"suppressedSinceLastLine", suppressed)
	}
}

// reportRefusals emits the refusals gathered since it last ran, one event per reason and address.
func (f *front) reportRefusals() {
	for _, e := range f.batch.flush() {
		f.ev.emit(e)
	}
}

// command handles one line from the worker.
func (f *front) command(c controlCommand) {
	f.mu.Lock()
	s := f.sessions[c.ID]
	f.mu.Unlock()
	if s == nil {
		// A session that ended on its own (the publisher left) before the worker's close arrived.
		f.log.Debug("a command for no live session", "type", c.Type, "id", c.ID)
		return
	}
	switch c.Type {
	case "admit", "refuse":
		s.answerWith(c)
	case "close":
		if !s.cut("closed") {
			s.answerWith(c) // not admitted yet: turned away like a refuse
		}
	default:
		f.log.Warn("unknown command", "type", c.Type, "id", c.ID)
	}
}

// shutdown stops accepting, ends every session (ended/closed) and closes every connection; it
// waits a little for the sessions to report.
func (f *front) shutdown() {
	f.mu.Lock()
	f.closing = true
	sessions := make([]*session, 0, len(f.sessions))
	for _, s := range f.sessions {
		sessions = append(sessions, s)
	}
	conns := make([]net.Conn, 0, len(f.conns))
	for c := range f.conns {
		conns = append(conns, c)
	}
	f.mu.Unlock()
	for _, ln := range f.listeners {
		if ln != nil {
			ln.Close()
		}
	}
	for _, s := range sessions {
		s.cut("closed")
	}
	for _, c := range conns {
		c.Close()
	}
	done := make(chan struct{})
	go func() {
		f.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		f.log.Warn("sessions still closing at exit")
	}
}

func peerIP(c net.Conn) string {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	host, _, err := net.SplitHostPort(c.RemoteAddr().String())
	if err != nil {
		return c.RemoteAddr().String()
	}
	return host
}

// refusalLog rate-limits the refusal log lines per source IP; the map is bounded (old entries
// are evicted first, then any).
type refusalLog struct {
	mu    sync.Mutex
	seen  map[string]*refusalEntry
	max   int
	every time.Duration
}

type refusalEntry struct {
	at         time.Time
	suppressed int
}

func newRefusalLog(max int, every time.Duration) *refusalLog {
	return &refusalLog{seen: map[string]*refusalEntry{}, max: max, every: every}
}

// allow says whether a line for ip may be logged now, and how many were suppressed since the last.
func (l *refusalLog) allow(ip string, now time.Time) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.seen[ip]; e != nil {
		if now.Sub(e.at) < l.every {
			e.suppressed++
			return false, 0
		}
		n := e.suppressed
		e.at, e.suppressed = now, 0
		return true, n
	}
	if len(l.seen) >= l.max {
		for k, e := range l.seen {
			if now.Sub(e.at) >= l.every {
				delete(l.seen, k)
			}
		}
		for k := range l.seen {
			if len(l.seen) < l.max {
				break
			}
			delete(l.seen, k)
		}
	}
	l.seen[ip] = &refusalEntry{at: now}
	return true, 0
}
