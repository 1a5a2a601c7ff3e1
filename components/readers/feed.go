package main

// The ingest's live feed (HTTP MPEG-TS, the worker credential presented), read once for every
// reader while anyone reads: SRT callers get its bytes as they are, the RTSP source demuxes them.
// A reader is a bounded queue; one that falls behind is cut off (nobody waits for it), as the
// ingest's own feed hub does.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

const (
	feedConnect  = 5 * time.Second
	feedIdle     = 10 * time.Second
	readerChunks = 512 // per reader: ≈ 10 s of a feed read in 32 KiB chunks at 5 Mbit/s
	chunkBytes   = 32 << 10
	maxCredBytes = 4096
)

var errNotLive = errors.New("the stream is not live")

type feedReader struct {
	ch   chan []byte
	once sync.Once
	err  error    // why it ended, once ch is closed
	run  *feedRun // the read it rides
}

func (r *feedReader) end(err error) {
	r.once.Do(func() {
		r.err = err
		close(r.ch)
	})
}

// feedRun is one read of the feed and the readers riding it: a reader that joins after the read
// ended gets a new one, never the end of the old.
type feedRun struct {
	readers map[*feedReader]bool
	cancel  context.CancelFunc
	done    bool
}

type hub struct {
	url      string
	credFile string
	mu       sync.Mutex
	cur      *feedRun // the running read, nil when none
}

func newHub(url, credFile string) *hub {
	return &hub{url: url, credFile: credFile}
}

// subscribe adds a reader, starting the feed's read when none runs.
func (h *hub) subscribe() *feedReader {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cur == nil || h.cur.done {
		ctx, cancel := context.WithCancel(context.Background())
		h.cur = &feedRun{readers: map[*feedReader]bool{}, cancel: cancel}
		go h.run(ctx, h.cur)
	}
	r := &feedReader{ch: make(chan []byte, readerChunks), run: h.cur}
	h.cur.readers[r] = true
	return r
}

// unsubscribe removes a reader; the last one stops its read.
func (h *hub) unsubscribe(r *feedReader) {
	h.mu.Lock()
	defer h.mu.Unlock()
	run := r.run
	if !run.readers[r] {
		return
	}
	delete(run.readers, r)
	r.end(io.EOF)
	if len(run.readers) == 0 && !run.done {
		run.done = true
		run.cancel()
		if h.cur == run {
			h.cur = nil
		}
	}
}

func (h *hub) run(ctx context.Context, run *feedRun) {
	err := h.read(ctx, run)
	h.mu.Lock()
	defer h.mu.Unlock()
	run.done = true
	run.cancel()
	for r := range run.readers {
		r.end(err)
		delete(run.readers, r)
	}
	if h.cur == run {
		h.cur = nil
	}
}

var feedClient = &http.Client{
	Transport: &http.Transport{
		Proxy:                  nil, // the ingest is reached directly, never through an environment's proxy
		DialContext:            (&net.Dialer{Timeout: feedConnect}).DialContext,
		ResponseHeaderTimeout:  feedConnect,
		MaxResponseHeaderBytes: 64 << 10,
		DisableCompression:     true,
	},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// credential reads the worker credential at every connection (a re-created Secret reaches the next).
func (h *hub) credential() string {
	if h.credFile == "" {
		return ""
	}
	f, err := os.Open(h.credFile)
	if err != nil {
		return ""
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, maxCredBytes))
	b = bytes.TrimSpace(b)
	for _, c := range b {
		if c < 0x21 || c > 0x7e {
			return ""
		}
	}
	return string(b)
}

func (h *hub) read(ctx context.Context, run *feedRun) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.url, nil)
	if err != nil {
		return err
	}
	if cred := h.credential(); cred != "" {
		req.Header.Set("Authorization", "Bearer "+cred)
	}
	resp, err := feedClient.Do(req)
	if err != nil {
		return errNotLive
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errNotLive
	}
	body := resp.Body
	timer := time.AfterFunc(feedIdle, func() { body.Close() }) // a frozen ingest ends the read
	defer timer.Stop()
	for {
		buf := make([]byte, chunkBytes)
		n, err := body.Read(buf)
		if n > 0 {
			timer.Reset(feedIdle)
			h.publish(run, buf[:n])
		}
		if err != nil {
			return io.EOF
		}
	}
}

func (h *hub) publish(run *feedRun, chunk []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for r := range run.readers {
		select {
		case r.ch <- chunk:
		default:
			delete(run.readers, r) // too slow: cut it off rather than buffer without bound
			r.end(errBehind)
		}
	}
}

var errBehind = errors.New("the reader fell behind")
