// Command hlsload emulates N players of one HLS stream and reports, as JSON on stdout, whether
// every viewer received every part (LL-HLS) or segment (HLS), how late, the longest stall of any
// viewer, and what the load client itself cost (getrusage). See README.md.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Config is the run's options.
type Config struct {
	URL          string
	Mode         string // llhls or hls
	Viewers      int
	Duration     time.Duration // after the ramp-up: the measuring window
	Ramp         time.Duration
	Timeout      time.Duration
	Grace        time.Duration
	Run          string
	Rendition    int
	Delta        bool
	GapThreshold time.Duration
	PerViewer    bool
	LogPath      string
	Rejoin       bool

	log *requestLog // opened from LogPath by main (or a test); Run closes it

	start, windowStart time.Time
	deadlineNs         atomic.Int64 // the window's end; moved to the moment of SIGINT/SIGTERM (stopEarly)

	viewers      []*viewer
	lastOnce     sync.Once
	lastExpected func() int64 // after the window's end: lastNamed, computed once (viewer.playing)
}

// deadline is the end of the measuring window.
func (c *Config) deadline() time.Time { return time.Unix(0, c.deadlineNs.Load()) }

func main() {
	cfg := &Config{}
	flag.StringVar(&cfg.URL, "url", "", "the playlist URL (media or multivariant; a token in the path is kept as given)")
	flag.StringVar(&cfg.Mode, "mode", "llhls", "llhls (blocking reloads, parts, preload hints) or hls (playlist every target duration / 2, segments)")
	flag.IntVar(&cfg.Viewers, "viewers", 10, "concurrent viewers")
	flag.DurationVar(&cfg.Duration, "duration", 30*time.Second, "how long all viewers play after the ramp-up (the measuring window)")
	flag.DurationVar(&cfg.Ramp, "ramp", 5*time.Second, "viewers join evenly over this long")
	flag.DurationVar(&cfg.Timeout, "timeout", 10*time.Second, "per request (a blocking reload waits up to 3 target durations on the ingest)")
	flag.DurationVar(&cfg.Grace, "grace", 3*time.Second, "after the window: how long requests in flight may finish")
	flag.StringVar(&cfg.Run, "run", strconv.FormatInt(time.Now().Unix(), 36), "run id: viewer i sends _sid=<run>-<i> on every request")
	flag.IntVar(&cfg.Rendition, "rendition", 0, "which rendition of a multivariant playlist (index, 0 = first)")
	flag.BoolVar(&cfg.Delta, "delta", true, "ask for delta updates (_HLS_skip=YES) when the server offers CAN-SKIP-UNTIL, as hls.js does")
	flag.DurationVar(&cfg.GapThreshold, "gap-threshold", 0, "stop-gap detection: count viewers whose longest stretch without a new part/segment exceeds this (0: off)")
	flag.BoolVar(&cfg.PerViewer, "per-viewer", false, "add each viewer's figures to the output")
	flag.BoolVar(&cfg.Rejoin, "rejoin", false, "llhls: after a sequence reset or an EXT-X-ENDLIST, join again at the live edge (a user reloading), instead of waiting for the old numbers or stopping")
	flag.StringVar(&cfg.LogPath, "log", "", "write every request as a JSON line to this file: time, viewer, URL, status, bytes, a playlist's sequence numbers, a part's or segment's")
	flag.Parse()
	if cfg.URL == "" || (cfg.Mode != "llhls" && cfg.Mode != "hls") || cfg.Viewers < 1 {
		flag.Usage()
		os.Exit(2)
	}
	if cfg.LogPath != "" {
		var err error
		if cfg.log, err = openRequestLog(cfg.LogPath); err != nil {
			warn("%v", err)
			os.Exit(2)
		}
	}
	raiseFileLimit()
	// Fewer collections: a run's garbage is response bodies and parsed playlists, and the client's
	// own CPU is part of what the bench reports.
	debug.SetGCPercent(400)
	summary := Run(cfg)
	out := json.NewEncoder(os.Stdout)
	out.SetIndent("", "  ")
	if err := out.Encode(summary); err != nil {
		warn("%v", err)
		os.Exit(1)
	}
}

// Run plays the stream with cfg.Viewers viewers and summarises.
func Run(cfg *Config) *Summary {
	cfg.start = time.Now()
	cfg.windowStart = cfg.start.Add(cfg.Ramp)
	cfg.deadlineNs.Store(cfg.windowStart.Add(cfg.Duration).UnixNano())
	ctx, cancel := context.WithDeadline(context.Background(), cfg.deadline())
	defer cancel()
	fetchCtx, cancelFetches := context.WithDeadline(context.Background(), cfg.deadline().Add(cfg.Grace))
	defer cancelFetches()
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(signals)
	go stopEarly(ctx, cfg, signals, cancel, cancelFetches)
	viewers := make([]*viewer, cfg.Viewers)
	cfg.viewers = viewers
	var last int64
	cfg.lastExpected = func() int64 {
		cfg.lastOnce.Do(func() { last = lastNamed(cfg, cfg.viewers) })
		return last
	}
	var wg sync.WaitGroup
	for i := range viewers {
		viewers[i] = newViewer(i, cfg)
		wg.Add(1)
		go func(v *viewer, delay time.Duration) {
			defer wg.Done()
			sleep(ctx, delay)
			if ctx.Err() == nil {
				v.run(ctx, fetchCtx)
			}
		}(viewers[i], cfg.Ramp*time.Duration(i)/time.Duration(cfg.Viewers))
	}
	wg.Wait()
	cfg.log.close()
	return summarise(cfg, viewers, time.Since(cfg.start))
}

// stopEarly ends the window at the first SIGINT/SIGTERM, as if -duration had said so: the viewers
// stop, requests in flight get the grace period, and the summary covers the window up to then (a
// caller that cannot know the window's length in advance, e.g. "until the autoscaler has scaled
// back in", stops it when it knows).
func stopEarly(ctx context.Context, cfg *Config, signals <-chan os.Signal, cancel, cancelFetches context.CancelFunc) {
	select {
	case <-ctx.Done():
		return
	case <-signals:
	}
	now := time.Now()
	if now.Before(cfg.windowStart) {
		now = cfg.windowStart // still ramping up: an empty window rather than a negative one
	}
	cfg.deadlineNs.Store(now.UnixNano())
	cancel()
	time.AfterFunc(cfg.Grace, cancelFetches)
}

// raiseFileLimit: each viewer keeps up to 4 connections; the soft limit (1024) would cap a run at
// ≈300 viewers.
func raiseFileLimit() {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil && lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			warn("cannot raise the open files limit: %v", err)
		}
	}
}

// cpuUsage is this process's own CPU time and peak RSS so far (getrusage RUSAGE_SELF).
func cpuUsage() (user, system float64, maxRSSKiB int64) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0, 0
	}
	seconds := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return seconds(ru.Utime), seconds(ru.Stime), ru.Maxrss
}

func init() {
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: hlsload -url URL [-mode llhls|hls] [-viewers N] [-duration 30s] [-ramp 5s] ...\n")
		flag.PrintDefaults()
	}
}
