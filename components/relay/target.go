package main

// One target: its own RTMP(S) connection (gortmplib's publishing client, dialed to the pinned
// address), its own bounded queue and goroutines. A target never blocks the feed or the others:
// the feed only offers frames; when the queue is full the target skips to the next keyframe (a
// short stall costs a GOP, not the connection). One that takes nothing is ended by the Python
// supervisor's watchdog (its TCP counters, as for FFmpeg), or here when a write blocks writeStall.

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/gortmplib/pkg/message"
)

const (
	queueBatches  = 256     // ≈ 15 s of batches
	queueBytes    = 8 << 20 // and at most this much media waiting
	connectTime   = 15 * time.Second
	writeStall    = 20 * time.Second      // the Python watchdog ends a stalled target first (8 s)
	readStall     = 5 * time.Second       // a message the target started must be whole by then
	maxTargetRead = 1 << 20               // what the target sends us, per message (acks, pings, status)
	minSessionGap = 40 * time.Millisecond // a feed's next session starts at least a frame after the last one
)

type target struct {
	c     command
	relay *relay

	ctx    context.Context
	cancel context.CancelFunc

	queue    chan *batch
	queued   atomic.Int64
	skipping bool // under the feed's lock: waiting for a keyframe (the join, or after an overflow)
	drops    atomic.Uint64
	sent     atomic.Uint64
	stuck    atomic.Bool                 // closed by the stall check: a target failure, not a close
	writing  atomic.Int64                // when the write in progress began (unix ns), 0: none (the stall check)
	raw      uint64                      // bytes written past gortmplib (the shared chunks), by the writer only
	tcp      *net.TCPConn                // plain rtmp: one writev per batch
	socket   atomic.Pointer[net.TCPConn] // the TCP socket under it (rtmps too): its counters
	conn     *peekConn
	scratch  []byte      // rtmps: headers and chunks in one TLS write
	staged   net.Buffers // rtmp: headers and chunks of one batch, one writev
	iov      net.Buffers // staged as WriteTo consumes it (a field: a local's address would escape, an allocation a write)
	headers  []byte      // the batch's first chunk headers (staged points into it)
	fallback [256]bool   // per chunk stream: past maxTimestamp, gortmplib writes it
	// The writer's clock across the feed's sessions (frame.gen): the last DTS it sent, when it last
	// wrote, and the floor a new session's frames stay above (the target sees one stream).
	gen     uint64
	lastOut time.Duration
	lastAt  time.Time
	floor   time.Duration

	endOnce sync.Once
	feed    *feed
	feedErr atomic.Pointer[error]
	ended   chan struct{}
}

func newTarget(c command, r *relay) *target {
	ctx, cancel := context.WithCancel(context.Background())
	return &target{c: c, relay: r, ctx: ctx, cancel: cancel, queue: make(chan *batch, queueBatches), skipping: true, ended: make(chan struct{})}
}

// offer is called under the feed's lock: never blocks.
func (t *target) offer(b *batch) {
	if t.skipping {
		if !b.key {
			return
		}
		t.skipping = false
	}
	if t.queued.Load()+int64(b.size) > queueBytes {
		t.skipping = true
		t.drops.Add(1)
		return
	}
	select {
	case t.queue <- b:
		t.queued.Add(int64(b.size))
	default:
		t.skipping = true
		t.drops.Add(1)
	}
}

func (t *target) feedEnded(err error) {
	t.feedErr.Store(&err)
	t.cancel()
}

func (t *target) close() { t.cancel() }

// redact keeps the key (the stream name) out of an error text.
func (t *target) redact(s string) string {
	if t.c.Stream != "" {
		s = strings.ReplaceAll(s, t.c.Stream, "<key>")
		if esc := url.PathEscape(t.c.Stream); esc != t.c.Stream {
			s = strings.ReplaceAll(s, esc, "<key>")
		}
	}
	return s
}

func (t *target) end(reason, why string) {
	t.endOnce.Do(func() {
		t.relay.out.emit(event{ID: t.c.ID, Event: "ended", Reason: reason, Error: t.redact(why), Bytes: t.sent.Load()})
		close(t.ended)
	})
}

// peekConn lets the reading goroutine wait for the target's next byte without the write lock.
type peekConn struct {
	net.Conn
	br *bufio.Reader
}

func (c *peekConn) Read(p []byte) (int, error) { return c.br.Read(p) }

func (t *target) dial(ctx context.Context) (*peekConn, *net.TCPConn, error) {
	raw, err := (&net.Dialer{}).DialContext(ctx, "tcp", t.c.Address)
	if err != nil {
		return nil, nil, fmt.Errorf("connecting to the target %s: %s", t.c.Address, systemError(err))
	}
	tcp, _ := raw.(*net.TCPConn)
	var conn net.Conn = raw
	if t.c.Scheme == "rtmps" {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: t.c.Insecure} //nolint:gosec // the user's tls.insecureSkipVerify
		cfg.ServerName = t.c.SNI
		if cfg.ServerName == "" {
			cfg.ServerName = strings.Split(t.c.Address, ":")[0]
			if ap, perr := netipAddr(t.c.Address); perr == nil {
				cfg.ServerName = ap
			}
		}
		if t.c.CA != "" {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM([]byte(t.c.CA)) {
				raw.Close()
				return nil, nil, errors.New("the target's CA (tls.caSecretRef) holds no PEM certificate")
			}
			cfg.RootCAs = pool
		}
		tc := tls.Client(raw, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			var untrusted *tls.CertificateVerificationError
			if errors.As(err, &untrusted) { // as the FFmpeg path says it (pusher/plan.py untrusted_certificate)
				return nil, nil, fmt.Errorf("the certificate of the target %s is not trusted (%v): nothing was sent to it; "+
					"set tls.caSecretRef to the CA that signed it (or tls.insecureSkipVerify, which sends the key to whoever answers)",
					t.c.Host, untrusted.Err)
			}
			return nil, nil, fmt.Errorf("the TLS handshake with the target failed (nothing was sent to it): %w", err)
		}
		conn = tc
	}
	return &peekConn{Conn: conn, br: bufio.NewReaderSize(conn, 16<<10)}, tcp, nil
}

func socketInode(c *net.TCPConn) uint64 {
	if c == nil {
		return 0
	}
	raw, err := c.SyscallConn()
	if err != nil {
		return 0
	}
	var ino uint64
	_ = raw.Control(func(fd uintptr) {
		var st syscall.Stat_t
		if syscall.Fstat(int(fd), &st) == nil {
			ino = st.Ino
		}
	})
	return ino
}

// run: wait for the feed's configuration, connect and publish, then write frames until the end.
func (t *target) run() {
	defer t.relay.forget(t)
	t.relay.out.emit(event{ID: t.c.ID, Event: "connecting"})
	f := t.relay.ride(t)
	t.feed = f
	defer func() {
		if f.leave(t) {
			f.cancel()
		}
	}()
	select {
	case <-f.ready:
	case <-t.ctx.Done():
		t.endFor(nil)
		return
	}
	if t.ctx.Err() != nil {
		t.endFor(nil)
		return
	}

	ctx, cancel := context.WithTimeout(t.ctx, connectTime)
	conn, tcp, err := t.dial(ctx)
	if err != nil {
		cancel()
		t.endFor(err)
		return
	}
	u := &url.URL{Scheme: t.c.Scheme, Host: t.c.Host, Fragment: t.c.Stream}
	app, query, _ := strings.Cut(t.c.App, "?")
	u.Path, u.RawQuery = "/"+app, query
	client := &gortmplib.Client{
		URL:         u,
		Publish:     true,
		DialContext: func(context.Context, string, string) (net.Conn, error) { return conn, nil },
	}
	if t.c.Scheme == "rtmps" { // already TLS: gortmplib must not wrap it again
		client.DialTLSContext = client.DialContext
	}
	err = client.Initialize(ctx)
	cancel()
	if err != nil {
		conn.Close()
		t.endFor(fmt.Errorf("publishing to the target: %w", err))
		return
	}
	defer client.Close()
	t.relay.out.emit(event{ID: t.c.ID, Event: "connected", Local: conn.LocalAddr().String(), Peer: conn.RemoteAddr().String(), Inode: socketInode(tcp)})

	if t.c.Scheme == "rtmp" {
		t.tcp = tcp
	}
	t.socket.Store(tcp)
	t.conn = conn
	var wmu sync.Mutex // gortmplib's Read answers pings and acks through the same writer
	readErr := make(chan error, 1)
	go func() { readErr <- t.readLoop(conn, client, &wmu) }()
	go func() { // a close or the feed's end unblocks a write or a read
		<-t.ctx.Done()
		conn.Close()
	}()
	// The connection is closed before "ended" says so: a shared pusher answers a release (PUT
	// /targets) once its publishes are gone, and a handover's successor then publishes the key.
	if !f.join(t) {
		conn.Close()
		t.endFor(nil)
		return
	}
	err = t.writeLoop(conn, client, &wmu, readErr)
	conn.Close()
	t.endFor(err)
}

func netipAddr(addrPort string) (string, error) {
	host, _, err := net.SplitHostPort(addrPort)
	return host, err
}

// endFor says why the target ended: asked to close, the feed's end, or its own error.
func (t *target) endFor(err error) {
	if fe := t.feedErr.Load(); fe != nil {
		var bad *feedError
		if errors.As(*fe, &bad) {
			t.end("feed-failed", bad.Error())
		} else {
			t.end("feed-ended", "the feed ended")
		}
		return
	}
	if t.stuck.Load() {
		t.end("target-failed", fmt.Sprintf("the target took nothing for %s", writeStall))
		return
	}
	if t.ctx.Err() != nil {
		t.end("closed", "")
		return
	}
	if err == nil {
		err = errors.New("the target ended")
	}
	t.end("target-failed", err.Error())
}

func (t *target) readLoop(conn *peekConn, client *gortmplib.Client, wmu *sync.Mutex) error {
	for {
		if _, err := conn.br.Peek(1); err != nil {
			return fmt.Errorf("the target closed the connection: %w", err)
		}
		wmu.Lock()
		_ = conn.SetReadDeadline(time.Now().Add(readStall))
		msg, err := client.Read()
		_ = conn.SetReadDeadline(time.Time{})
		wmu.Unlock()
		if err != nil {
			return fmt.Errorf("reading from the target: %w", err)
		}
		if cmd, ok := msg.(*message.CommandAMF0); ok && cmd.Name == "onStatus" && len(cmd.Arguments) >= 2 {
			if obj, ok := cmd.Arguments[1].(interface{ Get(string) (any, bool) }); ok {
				if level, _ := obj.Get("level"); level == "error" {
					code, _ := obj.Get("code")
					return fmt.Errorf("the target refused the stream: %v", code)
				}
			}
		}
	}
}

func (t *target) writeLoop(conn *peekConn, client *gortmplib.Client, wmu *sync.Mutex, readErr <-chan error) error {
	var sentCfg *streamConfig
	var base time.Duration
	based := false
	for {
		var b *batch
		select {
		case <-t.ctx.Done():
			return nil
		case err := <-readErr:
			return err
		case b = <-t.queue:
		}
		t.queued.Add(-int64(b.size))
		wmu.Lock()
		t.writing.Store(time.Now().UnixNano())
		var err error
		for _, fr := range b.frames {
			if err = t.write(client, fr, &sentCfg, &base, &based); err != nil {
				break
			}
		}
		if err == nil {
			err = t.flushStaged()
		}
		t.writing.Store(0)
		t.lastAt = time.Now()
		wmu.Unlock()
		if err != nil {
			if t.ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("writing to the target: %w", err)
		}
		t.sent.Store(client.BytesSent() + t.raw)
	}
}

func (t *target) write(client *gortmplib.Client, fr *frame, sentCfg **streamConfig, base *time.Duration, based *bool) error {
	if fr.key && fr.cfg != *sentCfg { // the join, or new parameter sets: the sequence headers first
		if err := t.flushStaged(); err != nil {
			return err
		}
		tracks := []*gortmplib.Track{{Codec: &codecs.H264{SPS: fr.cfg.sps, PPS: fr.cfg.pps}}}
		if fr.cfg.audio != nil {
			tracks = append(tracks, &gortmplib.Track{Codec: &codecs.MPEG4Audio{Config: fr.cfg.audio}})
		}
		w := &gortmplib.Writer{Conn: client, Tracks: tracks}
		if err := w.Initialize(); err != nil {
			return err
		}
		*sentCfg = fr.cfg
	}
	if !*based {
		*base, *based, t.gen = fr.dts, true, fr.gen
	} else if fr.gen != t.gen {
		// The feed's next session (its timestamps start anywhere): it goes on from the last DTS
		// sent plus the wall clock's gap, so the target's clock keeps time with the broadcast and
		// never goes back (no new publish: its player sees a pause).
		t.floor = t.lastOut + time.Millisecond
		*base, t.gen = fr.dts-(t.lastOut+max(time.Since(t.lastAt), minSessionGap)), fr.gen
	}
	dts := max(fr.dts-*base, t.floor)
	t.lastOut = max(t.lastOut, dts)
	w := fr.wire
	if dts/time.Millisecond < maxTimestamp && !t.fallback[w.csid] {
		t.stage(w, uint32(dts/time.Millisecond))
		return nil
	}
	t.fallback[w.csid] = true // gortmplib starts that chunk stream afresh with a full header
	if err := t.flushStaged(); err != nil {
		return err
	}
	return client.Write(w.message(dts)) // this target's clock; the body a copy (hours into a stream)
}

var noHeader [headerLen]byte

// stage adds this target's first header of w and the shared chunks to the batch's write.
func (t *target) stage(w *wire, ms uint32) {
	at := len(t.headers)
	t.headers = append(t.headers, noHeader[:]...)
	w.header((*[headerLen]byte)(t.headers[at:at+headerLen]), ms)
	t.staged = append(t.staged, nil, w.rest) // the header's slice is set at the flush (headers may grow)
}

// flushStaged writes what stage collected: one writev on plain TCP, one TLS write (a copy into the
// target's scratch buffer) on rtmps.
func (t *target) flushStaged() error {
	if len(t.staged) == 0 {
		return nil
	}
	for i, h := 0, 0; i < len(t.staged); i, h = i+2, h+headerLen {
		t.staged[i] = t.headers[h : h+headerLen : h+headerLen]
	}
	var n int64
	var err error
	if t.tcp != nil {
		t.iov = t.staged // WriteTo consumes its receiver (staged's backing array, cleared below)
		n, err = t.iov.WriteTo(t.tcp)
		t.iov = nil
	} else {
		t.scratch = t.scratch[:0]
		for _, b := range t.staged {
			t.scratch = append(t.scratch, b...)
		}
		var k int
		k, err = t.conn.Write(t.scratch)
		n = int64(k)
		if cap(t.scratch) > 1<<20 {
			t.scratch = nil // a big keyframe's buffer is not kept
		}
	}
	clear(t.staged)
	t.staged = t.staged[:0]
	t.headers = t.headers[:0]
	t.raw += uint64(n)
	return err
}

// stalled: a write has been blocked for longer than writeStall (the Python side is gone or slow).
func (t *target) stalled(now time.Time) bool {
	started := t.writing.Load()
	return started != 0 && now.Sub(time.Unix(0, started)) > writeStall
}

// systemError says a failed connect as the C library does ("Connection refused", as FFmpeg's
// messages and the Restream's lastError always said it), else Go's text.
func systemError(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		text := errno.Error()
		if text != "" {
			return strings.ToUpper(text[:1]) + text[1:]
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "Connection timed out"
	}
	return err.Error()
}
