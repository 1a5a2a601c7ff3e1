// streamops-readers: the live stream for readers that are not browsers (docs/design/readers.md).
// A child of the ingest worker: it reads the ingest's live feed (HTTP MPEG-TS, the worker credential
// read from its file) while anyone reads, and serves SRT callers (gosrt) and RTSP/RTSPS clients
// (gortsplib), each checked against the stream's playback tokens (the keys read from their mounted
// files). Events (listening, viewers by protocol, refusals by reason) go out as JSON lines on
// stdout; stdin's end stops it. Nothing secret is ever in argv: paths only.
package main

import (
	"bufio"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	srt "github.com/datarhei/gosrt"
)

type options struct {
	srt, rtsp, rtsps   string
	cert, tlsKey       string
	feed, credFile     string
	stream, keysDir    string
	rules              bool
	maxReaders, perAdd int
	authTimeout        time.Duration
}

func parseOptions(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("streamops-readers", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.srt, "srt", "", "SRT listener address (host:port, UDP)")
	fs.StringVar(&o.rtsp, "rtsp", "", "RTSP listener address (host:port, TCP)")
	fs.StringVar(&o.rtsps, "rtsps", "", "RTSPS listener address (host:port, TCP)")
	fs.StringVar(&o.cert, "cert", "", "PEM certificate (chain) of the RTSPS listener; reloaded when it changes")
	fs.StringVar(&o.tlsKey, "tls-key", "", "PEM private key of that certificate")
	fs.StringVar(&o.feed, "feed", "", "the ingest's live feed (http://…/feed)")
	fs.StringVar(&o.credFile, "credential-file", "", "the worker credential's file (presented to the feed)")
	fs.StringVar(&o.stream, "stream", "", "<namespace>/<name>: what a playback token signs")
	fs.StringVar(&o.keysDir, "keys-dir", "", "the playback keys' directory (current, previous): a signed stream")
	fs.BoolVar(&o.rules, "rules", false, "the stream has a PlaybackPolicy: ask the worker on stdin/stdout about each caller")
	fs.IntVar(&o.maxReaders, "max-readers", 256, "connections in all (SRT and RTSP)")
	fs.IntVar(&o.perAdd, "max-per-address", 16, "connections of one client address (IPv6: its /64)")
	fs.DurationVar(&o.authTimeout, "auth-timeout", 5*time.Second, "an RTSP connection not authorized by then is closed")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() != 0 {
		return o, errors.New("unexpected arguments")
	}
	u, err := url.Parse(o.feed)
	if err != nil || u.Scheme != "http" || u.Host == "" || u.User != nil {
		return o, errors.New("--feed must be an http URL")
	}
	if o.srt == "" && o.rtsp == "" && o.rtsps == "" {
		return o, errors.New("no listener: --srt, --rtsp or --rtsps")
	}
	if o.rtsps != "" && (o.cert == "" || o.tlsKey == "") {
		return o, errors.New("--rtsps needs --cert and --tls-key")
	}
	if o.keysDir != "" && !strings.Contains(o.stream, "/") {
		return o, errors.New("--keys-dir needs --stream <namespace>/<name>")
	}
	if o.maxReaders < 1 || o.perAdd < 1 || o.authTimeout <= 0 {
		return o, errors.New("the caps must be positive")
	}
	return o, nil
}

func main() {
	o, err := parseOptions(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "streamops-readers:", err)
		os.Exit(2)
	}
	if err := run(o, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "streamops-readers:", err)
		os.Exit(1)
	}
}

// run serves until in ends.
func run(o options, in io.Reader, out io.Writer) error {
	ev := newEvents(out)
	a := &access{stream: o.stream, now: time.Now}
	if o.keysDir != "" {
		a.keys = &keyring{dir: o.keysDir}
	}
	if o.rules {
		a.rules = newRulesAsker(ev)
	}
	h := newHub(o.feed, o.credFile)
	sl := newSlots(o.maxReaders, o.perAdd)
	stop := make(chan struct{})
	defer close(stop)
	if o.srt != "" {
		cfg := srtConfig()
		ln, err := srt.Listen("srt", o.srt, cfg)
		if err != nil {
			return fmt.Errorf("srt listener: %w", err)
		}
		defer ln.Close()
		s := &srtServer{ln: ln, access: a, hub: h, slots: sl, events: ev}
		go s.serve()
		ev.emit(event{Type: "listening", Listener: "srt", Address: ln.Addr().String()})
	}
	if o.rtsp != "" || o.rtsps != "" {
		r := newRTSPReaders(a, h, sl, ev, o.authTimeout)
		defer r.close()
		go r.janitor()
		if o.rtsp != "" {
			addr, err := r.listen(o.rtsp, nil)
			if err != nil {
				return fmt.Errorf("rtsp listener: %w", err)
			}
			ev.emit(event{Type: "listening", Listener: "rtsp", Address: addr})
		}
		if o.rtsps != "" {
			certs := &certificate{cert: o.cert, key: o.tlsKey}
			if _, err := certs.get(nil); err != nil {
				return fmt.Errorf("rtsps certificate: %w", err)
			}
			cfg := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: certs.get}
			addr, err := r.listen(o.rtsps, cfg)
			if err != nil {
				return fmt.Errorf("rtsps listener: %w", err)
			}
			ev.emit(event{Type: "listening", Listener: "rtsps", Address: addr})
		}
	}
	go ev.run(time.Second, stop)
	ev.report()
	sc := bufio.NewScanner(in)
	for sc.Scan() { // the worker's answers to "ask" (rules.go); its end is the stop
		if a.rules != nil {
			a.rules.answer(sc.Bytes())
		}
	}
	return nil
}
