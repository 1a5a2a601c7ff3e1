package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"
)

// Config is everything the Python ingest worker decides for this process (all from flags; the
// stream key only ever from the file named by KeyFile).
type Config struct {
	// KeyFile holds the stream key (surrounding whitespace trimmed). It is read at every publish
	// attempt, so a rotated Secret takes effect at once; missing or empty: every publisher refused.
	KeyFile string

	// RTMP and RTMPS are the listening addresses; at least one. Port 0 picks one (reported in the
	// `listening` event).
	RTMP  string
	RTMPS string
	// Cert and TLSKey are the RTMPS certificate chain and private key (PEM), polled every CertPoll.
	Cert     string
	TLSKey   string
	CertPoll time.Duration

	// PreauthDeadline bounds everything from accept to an accepted `publish`: TLS handshake, RTMP
	// handshake, connect … publish. A total deadline, not an idle timer.
	PreauthDeadline time.Duration
	// PreauthBytes caps what a client may send before its `publish` is accepted.
	PreauthBytes int64
	// PreauthPerSource and PreauthTotal cap the connections in each pre-auth pool (bare, early,
	// connected) at once, per source (IPv4 address, IPv6 /64) and overall; over a cap the pool's oldest is closed for
	// the newcomer (slots.go).
	PreauthPerSource int
	PreauthTotal     int

	// IdleTimeout ends an admitted session that received nothing for this long, or whose FIFO
	// write was blocked this long.
	IdleTimeout time.Duration
	// AdmitTimeout bounds the wait for the worker's answer to a `publish` event, and then the wait
	// for the FIFO's reader.
	AdmitTimeout time.Duration
	// RecvBatch is how much of an admitted publisher's media the socket gathers before it wakes
	// this process (SO_RCVLOWAT from the publisher's rate): CPU for latency; 0: wake per segment.
	RecvBatch time.Duration

	LogLevel string
}

// parseConfig reads the flags; args excludes the program name. Usage and errors go to out.
// defaultPreauthPerSource: the window an encoder sharing its address with a flood gets for each
// round trip is this many of the flood's arrivals into the stage (slots.go). Also the default
// total a stage: a full total closes the largest source's oldest, so one source may fill it. A
// connection in pre-auth took ≈25-35 KB of the front's RSS under a flood (2,050 held: 51-74 MB).
const defaultPreauthPerSource = 1024

func parseConfig(args []string, out io.Writer) (Config, error) {
	var c Config
	fs := flag.NewFlagSet("streamops-rtmp", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&c.KeyFile, "key-file", "", "file holding the stream key (read at every publish attempt; required)")
	fs.StringVar(&c.RTMP, "rtmp", "", "RTMP listening address HOST:PORT (port 0: any)")
	fs.StringVar(&c.RTMPS, "rtmps", "", "RTMPS listening address HOST:PORT (port 0: any); needs --cert and --tls-key")
	fs.StringVar(&c.Cert, "cert", "", "RTMPS certificate chain (PEM), reloaded when it changes")
	fs.StringVar(&c.TLSKey, "tls-key", "", "RTMPS private key (PEM), reloaded with the certificate")
	fs.DurationVar(&c.CertPoll, "cert-poll", 2*time.Second, "how often the certificate files are checked for a change")
	fs.DurationVar(&c.PreauthDeadline, "preauth-deadline", 5*time.Second, "total time from accept to an accepted publish")
	fs.Int64Var(&c.PreauthBytes, "preauth-bytes", 65536, "bytes a client may send before its publish is accepted")
	fs.IntVar(&c.PreauthPerSource, "preauth-per-source", defaultPreauthPerSource, "connections at once from one source (IPv4 address, IPv6 /64) in each pre-auth stage (bare, handshake, connect; over it, that stage's oldest of the source is closed)")
	fs.IntVar(&c.PreauthTotal, "preauth-total", defaultPreauthPerSource, "connections at once in each pre-auth stage overall (over it, the oldest of the source with the most in that stage is closed)")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", 10*time.Second, "an admitted publisher silent this long (or a FIFO write blocked this long) ends")
	fs.DurationVar(&c.AdmitTimeout, "admit-timeout", 5*time.Second, "wait for the worker's answer to a publish, then for the FIFO's reader")
	fs.DurationVar(&c.RecvBatch, "recv-batch", 20*time.Millisecond, "media gathered in the socket per wake-up of an admitted publisher's reads (0: every segment)")
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q (the stream key is read from --key-file only)", fs.Arg(0))
	}
	switch {
	case c.KeyFile == "":
		return c, errors.New("--key-file is required")
	case c.RTMP == "" && c.RTMPS == "":
		return c, errors.New("at least one of --rtmp and --rtmps is required")
	case c.RTMPS != "" && (c.Cert == "" || c.TLSKey == ""):
		return c, errors.New("--rtmps needs --cert and --tls-key")
	case c.PreauthDeadline <= 0 || c.IdleTimeout <= 0 || c.AdmitTimeout <= 0 || c.CertPoll <= 0:
		return c, errors.New("--preauth-deadline, --idle-timeout, --admit-timeout and --cert-poll must be positive")
	case c.RecvBatch < 0 || c.RecvBatch > time.Second:
		return c, errors.New("--recv-batch must be between 0 and 1s")
	case c.PreauthBytes < 4096:
		// The RTMP handshake alone is 3073 bytes.
		return c, errors.New("--preauth-bytes must be at least 4096")
	case c.PreauthPerSource < 1 || c.PreauthTotal < 1:
		return c, errors.New("--preauth-per-source and --preauth-total must be at least 1")
	}
	return c, nil
}
