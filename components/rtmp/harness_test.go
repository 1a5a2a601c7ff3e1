package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const testKey = "live_8f3a2c1d9e"

// frontHarness runs the front in the test process (run(), as main does) with its control
// channel on pipes: the test is the worker.
type frontHarness struct {
	t        *testing.T
	dir      string
	keyFile  string
	rtmp     string
	rtmps    string
	stdin    *io.PipeWriter
	cancel   context.CancelFunc
	exit     chan int
	stderr   *lockedBuffer
	mu       sync.Mutex
	cond     *sync.Cond
	events   []event
	consumed []bool
}

type event map[string]any

func (e event) str(k string) string {
	s, _ := e[k].(string)
	return s
}

func (e event) id() uint64 {
	f, _ := e["id"].(float64)
	return uint64(f)
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startFront starts a front with the test key and the given extra flags (--rtmp 127.0.0.1:0
// unless extra names a listener); it waits for the listening event.
func startFront(t *testing.T, extra ...string) *frontHarness {
	t.Helper()
	h := &frontHarness{t: t, dir: t.TempDir(), exit: make(chan int, 1), stderr: &lockedBuffer{}}
	h.cond = sync.NewCond(&h.mu)
	h.keyFile = filepath.Join(h.dir, "key")
	if err := os.WriteFile(h.keyFile, []byte("  "+testKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--key-file", h.keyFile}
	if !containsFlag(extra, "--rtmp") && !containsFlag(extra, "--rtmps") {
		args = append(args, "--rtmp", "127.0.0.1:0")
	}
	args = append(args, extra...)
	stdinR, stdinW := io.Pipe()
	stdoutR, stdoutW := io.Pipe()
	h.stdin = stdinW
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() {
		code := run(ctx, args, stdinR, stdoutW, h.stderr)
		stdoutW.Close()
		h.exit <- code
	}()
	go h.readEvents(stdoutR)
	t.Cleanup(func() {
		cancel()
		stdinW.Close()
		select {
		case <-h.exit:
		case <-time.After(10 * time.Second):
			t.Error("the front did not stop within 10 s")
		}
		if t.Failed() {
			t.Logf("front stderr:\n%s", h.stderr.String())
		}
	})
	ev := h.waitEvent("listening", 5*time.Second)
	h.rtmp, h.rtmps = ev.str("rtmp"), ev.str("rtmps")
	return h
}

func containsFlag(args []string, flag string) bool {
	for _, a := range args {
		if a == flag {
			return true
		}
	}
	return false
}

func (h *frontHarness) readEvents(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			h.t.Errorf("the front wrote a line that is not JSON: %q", sc.Text())
			continue
		}
		// A `refused` event counts the refusals since the last one: the tests wait for each.
		n := 1
		if e.str("type") == "refused" {
			n = int(e["count"].(float64))
		}
		h.mu.Lock()
		for range n {
			h.events = append(h.events, e)
			h.consumed = append(h.consumed, false)
		}
		h.cond.Broadcast()
		h.mu.Unlock()
	}
	h.mu.Lock()
	h.events = append(h.events, event{"type": "_eof"})
	h.consumed = append(h.consumed, true)
	h.cond.Broadcast()
	h.mu.Unlock()
}

// waitMatch returns the first event not returned before that satisfies match, waiting up to
// timeout; it fails the test otherwise.
func (h *frontHarness) waitMatch(what string, match func(event) bool, timeout time.Duration) event {
	h.t.Helper()
	if e, ok := h.tryMatch(match, timeout); ok {
		return e
	}
	h.t.Fatalf("no %s event within %s; events so far: %v", what, timeout, h.all())
	return nil
}

func (h *frontHarness) tryMatch(match func(event) bool, timeout time.Duration) (event, bool) {
	deadline := time.Now().Add(timeout)
	timer := time.AfterFunc(timeout, func() {
		h.mu.Lock()
		h.cond.Broadcast()
		h.mu.Unlock()
	})
	defer timer.Stop()
	h.mu.Lock()
	defer h.mu.Unlock()
	for {
		for i, e := range h.events {
			if !h.consumed[i] && match(e) {
				h.consumed[i] = true
				return e, true
			}
		}
		if !time.Now().Before(deadline) {
			return nil, false
		}
		h.cond.Wait()
	}
}

func (h *frontHarness) waitEvent(typ string, timeout time.Duration) event {
	h.t.Helper()
	return h.waitMatch(typ, func(e event) bool { return e.str("type") == typ }, timeout)
}

// waitRefused waits for a refused event with that reason.
func (h *frontHarness) waitRefused(reason string, timeout time.Duration) event {
	h.t.Helper()
	return h.waitMatch("refused/"+reason, func(e event) bool {
		return e.str("type") == "refused" && e.str("reason") == reason
	}, timeout)
}

// waitEnded waits for the ended event of session id.
func (h *frontHarness) waitEnded(id uint64, timeout time.Duration) event {
	h.t.Helper()
	return h.waitMatch(fmt.Sprintf("ended (id %d)", id), func(e event) bool {
		return e.str("type") == "ended" && e.id() == id
	}, timeout)
}

// noEvent fails when an unconsumed event of that type comes within d.
func (h *frontHarness) noEvent(typ string, d time.Duration) {
	h.t.Helper()
	if e, ok := h.tryMatch(func(e event) bool { return e.str("type") == typ }, d); ok {
		h.t.Fatalf("unexpected %s event: %v", typ, e)
	}
}

func (h *frontHarness) all() []event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]event(nil), h.events...)
}

// send writes one command line to the front's stdin.
func (h *frontHarness) send(cmd map[string]any) {
	h.t.Helper()
	b, err := json.Marshal(cmd)
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.stdin.Write(append(b, '\n')); err != nil {
		h.t.Fatalf("writing a command: %v", err)
	}
}

// fifoReader is the worker's side of a FIFO: made in the test's directory, read in the
// background into a buffer (as FFmpeg would read it).
type fifoReader struct {
	path string
	mu   sync.Mutex
	buf  bytes.Buffer
	done chan struct{}
	f    *os.File
	err  error
}

// newFIFO makes a FIFO and starts reading it (the blocking open waits for the front).
func newFIFO(t *testing.T, dir, name string) *fifoReader {
	t.Helper()
	r := &fifoReader{path: filepath.Join(dir, name), done: make(chan struct{})}
	if err := syscall.Mkfifo(r.path, 0o600); err != nil {
		t.Fatal(err)
	}
	opened := make(chan struct{})
	go func() {
		defer close(r.done)
		f, err := os.OpenFile(r.path, os.O_RDONLY, 0)
		if err != nil {
			r.err = err
			close(opened)
			return
		}
		r.mu.Lock()
		r.f = f
		r.mu.Unlock()
		close(opened)
		defer f.Close()
		b := make([]byte, 64*1024)
		for {
			n, err := f.Read(b)
			r.mu.Lock()
			r.buf.Write(b[:n])
			r.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		// Unblock an open that never met a writer: open the write side ourselves.
		select {
		case <-opened:
		default:
			if w, err := os.OpenFile(r.path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				w.Close()
			}
		}
		r.mu.Lock()
		if r.f != nil {
			r.f.Close()
		}
		r.mu.Unlock()
		<-r.done
	})
	return r
}

func (r *fifoReader) bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]byte(nil), r.buf.Bytes()...)
}

// waitLen waits until at least n bytes were read.
func (r *fifoReader) waitLen(t *testing.T, n int, timeout time.Duration) []byte {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		b := r.bytes()
		if len(b) >= n {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("the FIFO gave %d bytes within %s, want at least %d", len(b), timeout, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitEOF waits until the front closed its end (the reader saw EOF).
func (r *fifoReader) waitEOF(t *testing.T, timeout time.Duration) []byte {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(timeout):
		t.Fatalf("the FIFO did not reach EOF within %s", timeout)
	}
	return r.bytes()
}

// closeReader makes the reader go away (FFmpeg died).
func (r *fifoReader) closeReader() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f != nil {
		r.f.Close()
	}
}

// tool finds ffmpeg or ffprobe: $STREAMOPS_FFMPEG / $STREAMOPS_FFPROBE, else PATH. Missing is a
// failure, not a skip (CI treats skips as failures anyway).
func tool(t *testing.T, name string) string {
	t.Helper()
	if p := os.Getenv("STREAMOPS_" + strings.ToUpper(name)); p != "" {
		return p
	}
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is needed by this test and is not on PATH (set STREAMOPS_%s to its path; Debian: apt-get install ffmpeg)",
			name, strings.ToUpper(name))
	}
	return p
}
