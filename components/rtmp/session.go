package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/bluenviron/gortmplib/pkg/message"
)

// Why an admitted session ended (the `ended` event's `reason`).
const (
	endPublisher = "publisher"
	endIdle      = "idle"
	endUpstream  = "upstream"
	endClosed    = "closed"
	endError     = "error"
)

var errUpstream = errors.New("the FIFO write failed")

// session is a publisher whose key was right: it waits for the worker's answer, then pumps its
// media into the FIFO as FLV.
type session struct {
	f      *front
	id     uint64
	raw    net.Conn
	m      *meter
	p      *publisher
	ip     string
	answer chan controlCommand
	ctx    context.Context // cancelled by cut
	cancel context.CancelFunc

	mu        sync.Mutex
	admitted  bool
	fifo      *os.File
	cutReason string
}

func (f *front) newSession(raw net.Conn, m *meter, p *publisher, ip string, isTLS bool) *session {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closing {
		return nil
	}
	f.lastID++
	s := &session{f: f, id: f.lastID, raw: raw, m: m, p: p, ip: ip, answer: make(chan controlCommand, 1)}
	s.ctx, s.cancel = context.WithCancel(f.ctx)
	f.sessions[s.id] = s
	return s
}

func (s *session) answerWith(c controlCommand) {
	select {
	case s.answer <- c:
	default: // already answered
	}
}

// cut ends an admitted session from outside (the worker's `close`, shutdown); false when it was
// not admitted yet.
func (s *session) cut(reason string) bool {
	s.mu.Lock()
	if !s.admitted {
		s.mu.Unlock()
		return false
	}
	if s.cutReason == "" {
		s.cutReason = reason
	}
	fifo := s.fifo
	s.mu.Unlock()
	s.cancel()
	s.raw.Close()
	if fifo != nil {
		fifo.SetWriteDeadline(time.Unix(1, 0)) // unblocks a write stuck on a full pipe
	}
	return true
}

func (s *session) cutBy() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cutReason
}

// run waits for the worker's answer, then pumps; it reports the end (`refused` or `ended`).
func (s *session) run() {
	f := s.f
	defer func() {
		s.cancel()
		s.raw.Close()
		f.mu.Lock()
		delete(f.sessions, s.id)
		f.mu.Unlock()
	}()
	timer := time.NewTimer(f.cfg.AdmitTimeout)
	defer timer.Stop()
	var c controlCommand
	select {
	case c = <-s.answer:
	case <-timer.C:
		s.turnAway(fmt.Sprintf("no answer from the worker within %s", f.cfg.AdmitTimeout))
		return
	case <-s.ctx.Done():
		return // shutting down
	}
	if c.Type != "admit" {
		s.turnAwayFor(workerReason(c.Reason), "the worker refused the publisher")
		return
	}
	s.mu.Lock()
	s.admitted = true
	s.mu.Unlock()
	fifo, err := openFIFO(s.ctx, c.FIFO, f.cfg.AdmitTimeout)
	if err != nil {
		if reason := s.cutBy(); reason != "" {
			f.ev.emit(endedEvent{Type: "ended", ID: s.id, Reason: reason})
			return
		}
		f.log.Error("cannot open the FIFO", "id", s.id, "err", err)
		s.turnAway("the FIFO did not open: " + err.Error())
		return
	}
	s.mu.Lock()
	s.fifo = fifo
	cut := s.cutReason != ""
	s.mu.Unlock()
	if cut {
		fifo.SetWriteDeadline(time.Unix(1, 0))
	}
	f.log.Info("publisher admitted", "id", s.id, "fifo", c.FIFO)
	reason, n := s.pump(fifo, c.HLS)
	f.log.Info("session ended", "id", s.id, "reason", reason, "bytes", n)
	f.ev.emit(endedEvent{Type: "ended", ID: s.id, Reason: reason, Bytes: n})
}

// turnAway answers a publisher the worker did not take (busy) and closes it.
func (s *session) turnAway(why string) { s.turnAwayFor(reasonBusy, why) }

// turnAwayFor is turnAway with the worker's reason (busy, inactive) in the refused event.
func (s *session) turnAwayFor(reason, why string) {
	s.raw.SetDeadline(time.Now().Add(time.Second))
	text := "the stream already has a live publisher"
	if reason == reasonInactive {
		text = "the stream is inactive"
	}
	_ = s.p.onStatus("error", "NetStream.Publish.BadName", text)
	s.raw.Close()
	s.f.refused(s.ip, reason, why+" ("+reason+")")
}

// workerReason is the refusal reason a `refuse` command names, when it is one the events know.
func workerReason(r string) string {
	if r == reasonInactive {
		return reasonInactive
	}
	return reasonBusy
}

// countWriter counts what reached the FIFO.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// pump answers the publisher (StreamBegin, NetStream.Publish.Start) and writes its media to the
// FIFO until it ends, and to the Go HLS writers when hls asks for them; returns why and the FLV
// bytes written.
func (s *session) pump(fifo *os.File, hls *hlsCommand) (string, int64) {
	cfg := s.f.cfg
	cw := &countWriter{w: fifo}
	bw := bufio.NewWriterSize(cw, 64*1024)
	out := newFLVWriter(bw)
	if sm := s.startMuxer(hls); sm != nil {
		out.tee = sm.tag
		defer sm.close()
	}
	defer func() {
		fifo.Close() // FFmpeg sees EOF and ends
		s.raw.Close()
	}()

	// Deadlines are re-armed at most every idle/8, to idle + idle/8: a silence (or a blocked FIFO
	// write) ends the session after between 1 and 1.125 idle timeouts, for one timer update per
	// 8th of the timeout rather than per read.
	idle, slack := cfg.IdleTimeout, cfg.IdleTimeout/8
	var armed time.Time
	arm := func() {
		now := time.Now()
		if now.Sub(armed) >= slack {
			s.raw.SetDeadline(now.Add(idle + slack))
			fifo.SetWriteDeadline(now.Add(idle + slack))
			armed = now
		}
	}
	var upstreamErr error
	lw := newLowWater(s.raw, cfg.RecvBatch)
	// Before each read of the socket: what was parsed goes to FFmpeg, in one write, when the
	// socket's bytes are used up (not per message).
	s.m.before = func() error {
		arm()
		lw.update(s.m.n)
		if bw.Buffered() > 0 {
			if err := bw.Flush(); err != nil {
				upstreamErr = err
				return errUpstream
			}
		}
		return nil
	}
	// A read timing out while the low-water mark holds bytes back is no silence: take them.
	s.m.retry = func() bool {
		if s.cutBy() != "" || !lw.holding() {
			return false
		}
		armed = time.Time{}
		arm()
		return true
	}
	arm()
	if err := s.p.w.Write(&message.UserControlStreamBegin{StreamID: 1}); err != nil {
		return s.endReason(err, nil), cw.n
	}
	if err := s.p.onStatus("status", "NetStream.Publish.Start", "publishing"); err != nil {
		return s.endReason(err, nil), cw.n
	}
	if err := s.p.r.SetChunkSize(s.p.chunkSize); err != nil { // the pre-auth clamp ends
		return endError, cw.n
	}
	reason := s.media(out, &upstreamErr)
	if reason == endPublisher || reason == endIdle {
		// The publisher is done: what it sent reaches FFmpeg before the EOF.
		fifo.SetWriteDeadline(time.Now().Add(idle))
		if err := bw.Flush(); err != nil && reason == endPublisher {
			reason = s.fifoReason(err)
		}
	}
	return reason, cw.n
}

// media reads messages until the session ends.
func (s *session) media(out *flvWriter, upstreamErr *error) string {
	for {
		msg, err := s.p.r.Read()
		if err != nil {
			return s.endReason(err, *upstreamErr)
		}
		switch message.Type(msg.Type) {
		case message.TypeSetChunkSize, message.TypeAbortMessage, message.TypeSetWindowAckSize:
			if err := s.p.control(msg, 0); err != nil {
				s.f.log.Warn("publisher broke the protocol", "id", s.id, "err", err)
				return endError
			}
		case message.TypeAudio, message.TypeVideo, message.TypeDataAMF0, msgAggregate:
			if err := out.message(msg.Type, uint32(msg.Timestamp/time.Millisecond), msg.Body); err != nil {
				return s.fifoReason(err)
			}
		case message.TypeCommandAMF0, message.TypeCommandAMF3:
			body := msg.Body
			if msg.Type == uint8(message.TypeCommandAMF3) && len(body) > 0 {
				body = body[1:] // an AMF3 command message starts with a format byte, then AMF0
			}
			if name, _, ok := amfString(body, 0); ok {
				switch string(name) {
				case "FCUnpublish", "deleteStream", "closeStream":
					return endPublisher
				}
			}
		}
		// Acknowledge, user control, peer bandwidth, AMF3 data: nothing to do.
	}
}

// endReason names why reading the publisher failed.
func (s *session) endReason(err, upstreamErr error) string {
	if reason := s.cutBy(); reason != "" {
		return reason
	}
	if upstreamErr != nil {
		return s.fifoReason(upstreamErr)
	}
	switch {
	case errors.Is(s.m.ioErr, os.ErrDeadlineExceeded):
		return endIdle
	case s.m.ioErr != nil:
		return endPublisher // hung up, reset
	}
	s.f.log.Warn("publisher sent a malformed chunk stream", "id", s.id, "err", err)
	return endError
}

// fifoReason names why a FIFO write failed: FFmpeg went away (EPIPE) or was stuck (deadline).
func (s *session) fifoReason(err error) string {
	if reason := s.cutBy(); reason != "" {
		return reason
	}
	if errors.Is(err, syscall.EPIPE) || errors.Is(err, os.ErrDeadlineExceeded) {
		return endUpstream
	}
	s.f.log.Warn("FIFO write failed", "id", s.id, "err", err)
	return endError
}

// openFIFO opens the worker's FIFO for writing without blocking: ENXIO (no reader yet) and ENOENT
// (not made yet) are retried every 10 ms until timeout. Through os.NewFile on the non-blocking
// descriptor, writes go through Go's poller (SetWriteDeadline works). Anything but a FIFO is refused.
func openFIFO(ctx context.Context, path string, timeout time.Duration) (*os.File, error) {
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("the FIFO path %q is not absolute", path)
	}
	deadline := time.Now().Add(timeout)
	for {
		fd, err := syscall.Open(path, syscall.O_WRONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
		if err == nil {
			var st syscall.Stat_t
			if err := syscall.Fstat(fd, &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFIFO {
				syscall.Close(fd)
				return nil, fmt.Errorf("%s is not a FIFO", path)
			}
			return os.NewFile(uintptr(fd), path), nil
		}
		if !errors.Is(err, syscall.ENXIO) && !errors.Is(err, syscall.ENOENT) && !errors.Is(err, syscall.EINTR) {
			return nil, &os.PathError{Op: "open", Path: path, Err: err}
		}
		if !time.Now().Before(deadline) {
			return nil, fmt.Errorf("no reader on %s within %s", path, timeout)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Receive batching. A publisher's encoder writes every chunk as it comes (≈200 small TCP
// segments a second at 2.5 Mbit/s), and waking for each is most of this process's CPU (and, through
// the FIFO writes, FFmpeg's). SO_RCVLOWAT makes the socket wake us only when --recv-batch (20 ms)
// of the publisher's bytes are there: the mark follows the rate of the last second (1 byte at
// first, at most 16 KiB). What a slowing publisher leaves below the mark is taken when the read
// deadline fires (holding, below), so a silence is still a silence and nothing is lost. Measured
// (README.md): 1.0 → 0.4 % of a core, FFmpeg's reading 0.45 → 0.23 %, for 13 ms more latency.
const lowWaterMax = 16 * 1024

type lowWater struct {
	rc    syscall.RawConn // nil: not a TCP socket, or no batching (the mark is never set)
	batch time.Duration
	mark  int
	since time.Time
	at    int64 // the byte count at since
}

func newLowWater(c net.Conn, batch time.Duration) *lowWater {
	l := &lowWater{mark: 1, batch: batch}
	if tc, ok := c.(*net.TCPConn); ok && batch > 0 {
		if rc, err := tc.SyscallConn(); err == nil {
			l.rc = rc
		}
	}
	return l
}

// update sets the mark from the rate since the last update, once a second; n is the count of
// bytes read so far.
func (l *lowWater) update(n int64) {
	if l.rc == nil {
		return
	}
	now := time.Now()
	if l.since.IsZero() {
		l.since, l.at = now, n
		return
	}
	elapsed := now.Sub(l.since)
	if elapsed < time.Second {
		return
	}
	want := int(float64(n-l.at) / elapsed.Seconds() * l.batch.Seconds())
	want = max(1, min(want, lowWaterMax))
	l.since, l.at = now, n
	if want*8 < l.mark*7 || want*8 > l.mark*9 { // ±12 %: no syscall for a steady rate
		l.set(want)
	}
}

func (l *lowWater) set(v int) {
	l.rc.Control(func(fd uintptr) {
		if syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVLOWAT, v) == nil {
			l.mark = v
		}
	})
}

// holding says whether bytes wait below the mark (and drops the mark to 1 so they come).
func (l *lowWater) holding() bool {
	if l.rc == nil || l.mark <= 1 {
		return false
	}
	var pending int
	l.rc.Control(func(fd uintptr) {
		var n int32
		if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCINQ, uintptr(unsafe.Pointer(&n))); errno == 0 {
			pending = int(n)
		}
	})
	if pending == 0 {
		return false
	}
	l.set(1)
	l.since = time.Time{} // the next update starts a fresh measurement
	return true
}
