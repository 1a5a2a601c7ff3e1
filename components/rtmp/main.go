// Command streamops-rtmp is the RTMP/RTMPS front of a streamops ingest Pod: it terminates RTMP,
// checks the stream key before anything reaches FFmpeg, and hands an admitted publisher's media
// to FFmpeg as FLV on a FIFO. The Python ingest worker drives it over JSON lines on stdin/stdout.
// See README.md for the contract.
package main

// The fuzz seed corpus (testdata/fuzz/FuzzPreauth): the synthetic seeds and a capture of a real
// FFmpeg publish (needs ffmpeg on PATH or $STREAMOPS_FFMPEG).
//go:generate env STREAMOPS_RTMP_WRITE_SEEDS=1 go test -count=1 -run ^(TestFuzzSeeds|TestFFmpegPublishesThroughTheFIFO)$ .

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	// A worker that died leaves a broken stdout: writing it must fail (EPIPE: the events stop and
	// the process shuts down), not kill the process before it closed the sessions.
	signal.Ignore(syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is the whole program: it returns the exit code when ctx ends (SIGTERM), stdin ends (the
// worker is gone) or stdout breaks. 2: a bad flag; 1: an address cannot be bound.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cfg, err := parseConfig(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "streamops-rtmp:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slogLevel(cfg.LogLevel)}))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ev := &emitter{w: stdout, onFail: cancel}
	f := newFront(ctx, cfg, log, ev)
	if f.certs != nil {
		// The first load, before `listening` (readiness): the worker is not ready with its
		// certificate unread. Until a load succeeds, RTMPS handshakes fail.
		f.certs.check()
	}
	if err := f.listen(); err != nil {
		log.Error("cannot listen", "err", err)
		return 1
	}
	if f.certs != nil {
		go every(ctx, cfg.CertPoll, f.certs.check)
	}
	f.serve()
	reported := make(chan struct{})
	go func() {
		every(ctx, refusalFlush, f.reportRefusals)
		close(reported)
	}()
	go func() {
		readCommands(stdin, f.command, func(err error) { log.Warn("control channel", "err", err) })
		if ctx.Err() == nil {
			log.Info("stdin closed (the worker is gone): closing everything")
		}
		cancel()
	}()
	<-ctx.Done()
	f.shutdown()
	<-reported
	f.reportRefusals() // those of the connections closed at shutdown
	return 0
}

// every runs fn every d until ctx ends.
func every(ctx context.Context, d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

func slogLevel(s string) slog.Level {
	var l slog.Level
	if l.UnmarshalText([]byte(s)) != nil {
		return slog.LevelInfo
	}
	return l
}
