package main

// The control channel: JSON lines on stdin (commands, from the pusher's Python station) and on
// stdout (events). Keys travel here and nowhere else: never argv, the environment or a log. A
// command is parsed bounded and refused whole when anything is off; a refusal never quotes a value.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"strings"
	"sync"
)

const (
	maxLine     = 256 << 10 // a command with a CA bundle; a longer line ends the relay (fail closed)
	maxID       = 256
	maxField    = 4096
	maxCABytes  = 128 << 10
	maxKeyBytes = 1024 // as the Python side's check (commands.MAX_KEY_LENGTH)
)

// command is one line on stdin: open a target or close it.
type command struct {
	Op       string `json:"op"`       // "open" | "close"
	ID       string `json:"id"`       // the target's id (the Python side's name for it)
	Feed     string `json:"feed"`     // the ingest's HTTP MPEG-TS feed
	FeedAuth string `json:"feedAuth"` // the Authorization header the feed asks for (the worker credential)
	Scheme   string `json:"scheme"`   // rtmp | rtmps
	Address  string `json:"address"`  // the egress-pinned ip:port to dial
	Host     string `json:"host"`     // host:port as the tcUrl names it (the name the user wrote)
	SNI      string `json:"sni"`      // TLS server name and the certificate's name (rtmps); empty: Address's IP
	App      string `json:"app"`      // the RTMP application (path[?query] without the leading slash)
	Stream   string `json:"stream"`   // the stream name published (holds the key)
	CA       string `json:"ca"`       // PEM bundle the target's certificate must chain to; empty: system roots
	Insecure bool   `json:"insecure"` // tls.insecureSkipVerify
}

var errRefused = errors.New("refused")

func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == ' ' {
			return false
		}
	}
	return true
}

// parseCommand decodes and checks one line. Errors name the field, never its value.
func parseCommand(line []byte) (command, error) {
	var c command
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return command{}, fmt.Errorf("%w: not a command object", errRefused)
	}
	if _, err := dec.Token(); err != io.EOF {
		return command{}, fmt.Errorf("%w: trailing data after the command", errRefused)
	}
	if c.ID == "" || len(c.ID) > maxID || !printable(c.ID) {
		return command{}, fmt.Errorf("%w: id", errRefused)
	}
	switch c.Op {
	case "close":
		return c, nil
	case "open":
	default:
		return command{}, fmt.Errorf("%w: op", errRefused)
	}
	if err := checkOpen(&c); err != nil {
		return command{ID: c.ID}, err
	}
	return c, nil
}

func checkOpen(c *command) error {
	for name, v := range map[string]string{"feed": c.Feed, "feedAuth": c.FeedAuth, "host": c.Host, "sni": c.SNI, "app": c.App} {
		if len(v) > maxField {
			return fmt.Errorf("%w: %s is too long", errRefused, name)
		}
	}
	feed, err := url.Parse(c.Feed)
	if err != nil || feed.Scheme != "http" || feed.Host == "" || feed.User != nil || !printable(c.Feed) {
		return fmt.Errorf("%w: feed must be an http URL", errRefused)
	}
	if strings.ContainsAny(c.FeedAuth, "\r\n") {
		return fmt.Errorf("%w: feedAuth", errRefused)
	}
	if c.Scheme != "rtmp" && c.Scheme != "rtmps" {
		return fmt.Errorf("%w: scheme must be rtmp or rtmps", errRefused)
	}
	if _, err := netip.ParseAddrPort(c.Address); err != nil {
		return fmt.Errorf("%w: address must be a pinned ip:port", errRefused)
	}
	if c.Host == "" || !printable(c.Host) || strings.ContainsAny(c.Host, "/?#@") {
		return fmt.Errorf("%w: host", errRefused)
	}
	if !printable(c.SNI) || !printable(c.App) || strings.Contains(c.App, "#") {
		return fmt.Errorf("%w: sni or app", errRefused)
	}
	// Empty: a target URI without a key names no stream either; FFmpeg published "" then, as this does.
	if len(c.Stream) > maxKeyBytes+maxField || !printable(c.Stream) || strings.Contains(c.Stream, "#") {
		return fmt.Errorf("%w: stream", errRefused)
	}
	if len(c.CA) > maxCABytes {
		return fmt.Errorf("%w: ca is too long", errRefused)
	}
	return nil
}

// event is one line on stdout.
type event struct {
	ID      string  `json:"id"`
	Event   string  `json:"event"`             // connecting | connected | sent | ended | refused
	Bytes   uint64  `json:"bytes,omitempty"`   // sent: written to the target's connection so far
	Drops   uint64  `json:"drops,omitempty"`   // sent: batches skipped to the next keyframe (a slow target)
	Acked   *uint64 `json:"acked,omitempty"`   // sent: the socket's tcpi_bytes_acked (what the target's kernel took)
	Notsent *uint64 `json:"notsent,omitempty"` // sent: tcpi_notsent_bytes
	Wnd     *uint64 `json:"wnd,omitempty"`     // sent: tcpi_snd_wnd (the target's receive window: whether it reads)
	Local   string  `json:"local,omitempty"`   // connected: the socket's local ip:port
	Peer    string  `json:"peer,omitempty"`    // connected: its peer
	Inode   uint64  `json:"inode,omitempty"`   // connected: its inode (the Python side reads its TCP counters)
	Reason  string  `json:"reason,omitempty"`  // ended: feed-ended | feed-failed | target-failed | closed
	Error   string  `json:"error,omitempty"`   // ended/refused: what went wrong, the key redacted
}

// events writes event lines: each one alone, or a report's together in one write (one wake of
// the supervisor a second, not one per target).
type events struct {
	mu  sync.Mutex
	out io.Writer
	buf []byte
}

func (e *events) emit(ev event) { e.emitAll([]event{ev}) }

func (e *events) emitAll(evs []event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.buf = e.buf[:0]
	for _, ev := range evs {
		line, err := json.Marshal(ev)
		if err != nil {
			continue
		}
		e.buf = append(append(e.buf, line...), '\n')
	}
	if len(e.buf) > 0 {
		_, _ = e.out.Write(e.buf)
	}
}
