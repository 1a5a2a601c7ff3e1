package main

// One reader of one ingest feed (HTTP MPEG-TS), demuxed once, its access units turned into RTMP
// messages once, offered to every target that rides it. The feed's bytes are untrusted: the
// program must show within initLimit bytes, decode errors are counted and skipped by the demuxer,
// and a feed silent for feedIdle ends.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"
)

const (
	initLimit   = 4 << 20 // the PMT and each track's first packet must show within this many bytes
	feedIdle    = 10 * time.Second
	feedConnect = 5 * time.Second
	maxAU       = 8 << 20 // a bigger access unit is dropped (the message length field holds 16 MiB)
	// A feed whose response ended (the publisher's session ended: a reconnect, the ingest handed
	// over) is asked again every rejoinPoll for up to feedRejoin; its next session goes on the
	// targets' open connections. Under the supervisor's watchdog (STALL_SECONDS, 8 s).
	feedRejoin = 5 * time.Second
	rejoinPoll = 100 * time.Millisecond
	slowAsk    = time.Second // a rejoin's try that took longer is said (stderr: the pusher's log)
)

// diag is what the relay says besides its events, on stderr: the pusher logs it (rare lines: a
// feed's session boundaries and slow tries, never a key or credential).
var diag = log.New(os.Stderr, "", 0)

var errFeedEnded = errors.New("the feed ended")

// streamConfig is what a target's sequence headers say: set at the keyframe it takes effect.
type streamConfig struct {
	sps, pps []byte
	audio    *mpeg4audio.AudioSpecificConfig // nil: no audio track
}

// batch is the frames a target gets in one write: the feed flushes one every batchSpan of media
// or batchBytes, and before each keyframe (a target joins or resumes at a batch's first frame).
// As FFmpeg's 32 KiB output buffer did, it saves writes: one system call per target per batch.
type batch struct {
	frames []*frame
	size   int
	key    bool
}

const (
	batchSpan  = 200 * time.Millisecond
	batchBytes = 64 << 10
	// The batches since the feed's last keyframe are kept for a target that joins (gop): it starts
	// from that keyframe at once, not at the next one, up to a GOP later (a pusher's handover, or a
	// Restream added while live: 2 s of a 2 s GOP). A GOP bigger than this is not kept (that joiner
	// waits for the next keyframe, as before); half a target's queue, so the replay fits in it.
	gopBytes = queueBytes / 2
)

// frame is one RTMP message made once and shared by every target (never mutated after publish).
type frame struct {
	wire  *wire // the message's bytes, chunked once (DTS 0: each target writes its own first header)
	video bool
	key   bool
	dts   time.Duration
	size  int
	cfg   *streamConfig // the configuration in force (keyframes: what a joining target announces)
	gen   uint64        // the feed's session (response) it came from: a target rebases its clock at a new one
}

type feed struct {
	url, auth string
	ctx       context.Context
	cancel    context.CancelFunc
	rejoin    time.Duration // how long a feed that ended is asked again (0: never)

	mu    sync.Mutex
	subs  map[*target]bool // true: joined (offered frames); false: still connecting (keeps the feed)
	done  bool
	err   error
	ready chan struct{} // closed once the first keyframe's configuration is known, or at the end

	cfg     *streamConfig
	pending batch    // frames not offered yet
	gop     []*batch // under mu: the batches offered since the last keyframe (nil: none, or too big)
	gopSize int      // their bytes
	td      mpegts.TimeDecoder
	gen     uint64        // sessions read so far, less one: the frames' gen (written by run's goroutine under mu)
	decodes atomic.Uint64 // non-fatal decode errors (skipped)
}

func newFeed(url, auth string, rejoin time.Duration) *feed {
	ctx, cancel := context.WithCancel(context.Background())
	return &feed{url: url, auth: auth, ctx: ctx, cancel: cancel, rejoin: rejoin, subs: map[*target]bool{}, ready: make(chan struct{})}
}

// idleReader ends the feed when no byte came for feedIdle (a frozen ingest), and bounds the bytes
// read before the program shows.
type idleReader struct {
	r      io.Reader
	last   atomic.Int64
	budget int64 // < 0: no bound
	read   int64 // bytes read so far
}

func (r *idleReader) Read(p []byte) (int, error) {
	if r.budget >= 0 {
		if r.budget == 0 {
			return 0, fmt.Errorf("no MPEG-TS program in the feed's first %d bytes", initLimit)
		}
		if int64(len(p)) > r.budget {
			p = p[:r.budget]
		}
	}
	n, err := r.r.Read(p)
	r.read += int64(n)
	if r.budget >= 0 {
		r.budget -= int64(n)
	}
	if n > 0 {
		r.last.Store(time.Now().UnixNano())
	}
	return n, err
}

// feedHosts keeps the feed hosts' addresses (resolve.go): a rejoin's polls look the name up once.
var feedHosts = newHostCache(&net.Dialer{Timeout: feedConnect})

var feedClient = &http.Client{
	Transport: &http.Transport{
		Proxy:                  nil, // the ingest is reached directly, never through an environment's proxy
		DialContext:            feedHosts.DialContext,
		ResponseHeaderTimeout:  feedConnect,
		MaxResponseHeaderBytes: 64 << 10,
		DisableCompression:     true,
	},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// run reads the feed until it ends or is no longer wanted; every target riding it then ends. A
// response that ended after media is a session's end: the feed is asked again (rejoinAfterEnd).
func (f *feed) run() {
	err := f.read(nil)
	for again := true; again && errors.Is(err, errFeedEnded) && f.rejoin > 0 && f.ctx.Err() == nil; {
		again, err = f.rejoinAfterEnd()
	}
	f.mu.Lock()
	f.done, f.err = true, err
	subs := make([]*target, 0, len(f.subs))
	for t := range f.subs {
		subs = append(subs, t)
	}
	f.mu.Unlock()
	select {
	case <-f.ready:
	default:
		close(f.ready)
	}
	for _, t := range subs {
		t.feedEnded(err)
	}
}

// rejoinAfterEnd asks the feed again every rejoinPoll, for up to f.rejoin, after its response
// ended: the publisher's next session (its reconnect, or the ingest's successor after a handover)
// goes on the targets' open connections, from its first keyframe (each target skips to one), its
// timestamps rebased by each target (frame.gen). Only a feed that answers nothing (not 200,
// unreachable, or a 200 that ends before any byte) is asked again; the window's end is the feed's.
// again: a session came (its end is asked again).
func (f *feed) rejoinAfterEnd() (again bool, err error) {
	ended := time.Now()
	f.mu.Lock()
	f.gen++
	f.gop, f.gopSize = nil, 0 // a joiner starts from the next session's first keyframe
	for t, joined := range f.subs {
		if joined {
			t.skipping = true // under the feed's lock, as offer reads it
		}
	}
	f.mu.Unlock()
	for tries := 1; ; tries++ {
		select {
		case <-f.ctx.Done():
			return false, errFeedEnded
		case <-time.After(rejoinPoll):
		}
		asked := time.Now()
		err = f.read(func() {
			diag.Printf("feed %s: its session ended; the next came %.1f s later (%d tries)", f.url, time.Since(ended).Seconds(), tries)
		})
		var bad *feedError
		if !errors.As(err, &bad) || !bad.notLive {
			return true, err // a session came (and ended, or failed), or the feed is no longer wanted
		}
		if spent := time.Since(asked); spent > slowAsk {
			diag.Printf("feed %s: one try took %.1f s (%v)", f.url, spent.Seconds(), err)
		}
		if time.Since(ended) >= f.rejoin {
			diag.Printf("feed %s: no next session within %v (%d tries, the last: %v)", f.url, f.rejoin, tries, err)
			return false, errFeedEnded // the window passed: the feed ended, as before
		}
	}
}

// read reads one response of the feed to its end; onProgram (nil: nothing) is called once its
// program is known.
func (f *feed) read(onProgram func()) error {
	req, err := http.NewRequestWithContext(f.ctx, http.MethodGet, f.url, nil)
	if err != nil {
		return &feedError{why: "the feed URL is not usable"}
	}
	if f.auth != "" {
		req.Header.Set("Authorization", f.auth)
	}
	resp, err := feedClient.Do(req)
	if err != nil {
		if f.ctx.Err() != nil {
			return errFeedEnded
		}
		return &feedError{why: "the feed cannot be reached", notLive: true}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return &feedError{why: fmt.Sprintf("the feed answered %d", resp.StatusCode), notLive: resp.StatusCode == http.StatusServiceUnavailable}
	}
	in := &idleReader{r: resp.Body, budget: initLimit}
	in.last.Store(time.Now().UnixNano())
	done := make(chan struct{})
	defer close(done)
	go f.watchIdle(in, done)
	f.td = mpegts.TimeDecoder{} // a session's timestamps start anywhere
	err = f.demux(in, func() {
		in.budget = -1
		if onProgram != nil {
			onProgram()
		}
	})
	var bad *feedError
	if in.read == 0 && errors.As(err, &bad) {
		bad.notLive = true // 200, then the end at once: that session ended as we asked
	}
	return err
}

func (f *feed) watchIdle(in *idleReader, done <-chan struct{}) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-f.ctx.Done():
			return
		case <-done:
			return
		case <-tick.C:
			if time.Since(time.Unix(0, in.last.Load())) > feedIdle {
				f.cancel()
				return
			}
		}
	}
}

type feedError struct {
	why     string
	notLive bool // it answered no media (not 200, unreachable, or nothing after its 200): asked again while rejoining
}

func (e *feedError) Error() string { return e.why }

// demux reads MPEG-TS from r (untrusted) and publishes its first H.264 and first AAC track.
// initialized is called once the program is known (the bytes read before it are bounded).
func (f *feed) demux(r io.Reader, initialized func()) error {
	rd := &mpegts.Reader{R: r}
	if err := rd.Initialize(); err != nil {
		if errors.Is(err, context.Canceled) || f.ctx.Err() != nil {
			return errFeedEnded
		}
		return &feedError{why: "the feed shows no usable MPEG-TS program: " + err.Error()}
	}
	initialized()
	var video, audio *mpegts.Track
	var audioCfg *mpeg4audio.AudioSpecificConfig
	for _, t := range rd.Tracks() {
		switch c := t.Codec.(type) {
		case *tscodecs.H264:
			if video == nil {
				video = t
			}
		case *tscodecs.MPEG4Audio:
			if audio == nil {
				audio = t
				conf := c.Config
				audioCfg = &conf
			}
		}
	}
	if video == nil {
		return &feedError{why: "the feed has no H.264 video track"}
	}
	f.cfg = &streamConfig{audio: audioCfg}
	rd.OnDecodeError(func(error) { f.decodes.Add(1) })
	rd.OnDataH264(video, func(pts, dts int64, au [][]byte) error {
		f.onH264(f.td.Decode(pts), f.td.Decode(dts), au)
		return nil
	})
	if audio != nil {
		rate := int64(audioCfg.SampleRate)
		rd.OnDataMPEG4Audio(audio, func(pts int64, aus [][]byte) error {
			f.onAAC(f.td.Decode(pts), rate, aus)
			return nil
		})
	}
	for {
		if err := rd.Read(); err != nil {
			f.flush()
			return errFeedEnded
		}
	}
}

func ticks(t int64) time.Duration { return time.Duration(t) * time.Second / 90000 }

func (f *feed) onH264(pts, dts int64, au [][]byte) {
	var sps, pps []byte
	size := 0
	for _, nalu := range au {
		size += len(nalu)
		if len(nalu) == 0 {
			continue
		}
		switch h264.NALUType(nalu[0] & 0x1f) {
		case h264.NALUTypeSPS:
			sps = nalu
		case h264.NALUTypePPS:
			pps = nalu
		}
	}
	if size > maxAU {
		f.decodes.Add(1)
		return
	}
	if sps != nil && pps != nil && (!bytes.Equal(sps, f.cfg.sps) || !bytes.Equal(pps, f.cfg.pps)) {
		f.cfg = &streamConfig{sps: bytes.Clone(sps), pps: bytes.Clone(pps), audio: f.cfg.audio}
	}
	key := h264.IsRandomAccess(au)
	if key && f.cfg.sps != nil {
		select {
		case <-f.ready:
		default:
			close(f.ready)
		}
	}
	w := videoWire(key, ticks(pts)-ticks(dts), au) // the FLV tag's body, once for every target
	f.add(&frame{wire: w, video: true, key: key && f.cfg.sps != nil, dts: ticks(dts), size: int(w.length) - 5, cfg: f.cfg, gen: f.gen})
}

func (f *feed) onAAC(pts, rate int64, aus [][]byte) {
	for i, au := range aus {
		if len(au) == 0 || len(au) > maxAU {
			continue
		}
		dts := pts
		if rate > 0 {
			dts += int64(i) * mpeg4audio.SamplesPerAccessUnit * 90000 / rate
		}
		f.add(&frame{wire: audioWire(au), dts: ticks(dts), size: len(au), cfg: f.cfg, gen: f.gen})
	}
}

// add puts a frame in the pending batch, offering the batch first when it is due.
func (f *feed) add(fr *frame) {
	p := &f.pending
	if len(p.frames) > 0 && (fr.key || fr.dts-p.frames[0].dts >= batchSpan || p.size >= batchBytes) {
		f.flush()
	}
	if len(p.frames) == 0 {
		p.key = fr.key
	}
	p.frames = append(p.frames, fr)
	p.size += fr.size
}

// flush offers the pending batch to every target without waiting for any: each has its own
// bounded queue.
func (f *feed) flush() {
	if len(f.pending.frames) == 0 {
		return
	}
	b := &batch{frames: f.pending.frames, size: f.pending.size, key: f.pending.key}
	f.pending = batch{}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keep(b)
	for t, joined := range f.subs {
		if joined {
			t.offer(b)
		}
	}
}

// keep adds an offered batch to the GOP a joining target starts from (under mu): a keyframe's
// batch starts it afresh (a new slice: targets' queues may still hold the old one's batches).
func (f *feed) keep(b *batch) {
	if b.key {
		f.gop, f.gopSize = nil, 0
	} else if f.gop == nil {
		return // no keyframe yet, or the GOP outgrew gopBytes: the next keyframe starts one
	}
	f.gop, f.gopSize = append(f.gop, b), f.gopSize+b.size
	if f.gopSize > gopBytes {
		f.gop, f.gopSize = nil, 0
	}
}

// join adds a target, offered the feed's current GOP first (it starts at its keyframe); false
// when the feed already ended (the caller opens a new one).
func (f *feed) join(t *target) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done {
		return false
	}
	f.subs[t] = true
	for _, b := range f.gop {
		t.offer(b)
	}
	return true
}

// leave removes a target; true when it was the last (the caller stops the feed).
func (f *feed) leave(t *target) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.subs, t)
	return len(f.subs) == 0
}

func (f *feed) isDone() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.done
}
