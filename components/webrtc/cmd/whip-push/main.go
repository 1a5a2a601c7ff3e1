// Command whip-push is a WHIP publisher (RFC 9725 client) standing in for an encoder in the media
// tests and benchmarks. FFmpeg encodes and sends plain RTP to two 127.0.0.1 ports, e.g.
//
//	ffmpeg … -map 0:v -c:v libx264 -tune zerolatency -bf 0 -f rtp 'rtp://127.0.0.1:VPORT?pkt_size=1200&localaddr=127.0.0.1' \
//	         -map 1:a -c:a libopus -f rtp 'rtp://127.0.0.1:APORT?pkt_size=1200&localaddr=127.0.0.1'
//
// and whip-push publishes it over one pion peer connection (one sendonly H.264 track, one sendonly
// Opus track): the complete offer (every candidate, no trickle) is POSTed to --url with the bearer
// token, the answer applied, the RTP forwarded (SSRC and payload type rewritten to what was
// negotiated; video starts at the first keyframe after the connection is up). SIGTERM/SIGINT:
// DELETE of the session resource (the Location header, resolved against --url), exit 0.
//
// The token comes from --token-file or $WHIP_TOKEN, never from the command line (keys must not
// appear in /proc/PID/cmdline), and is never printed.
//
// Network confinement: the RTP ports are bound on 127.0.0.1 only; ICE gathers host candidates on
// local IPs in --ice-allow-ip only (default 127.0.0.0/8), no mDNS, no STUN, no TURN; HTTP goes to
// --url only (no proxy, no redirect followed); media goes to the candidates of the answer only.
//
// Exit codes: 0 after a signal (DELETE sent unless --no-delete), 1 a runtime error (a port taken,
// the server unreachable, an answer that does not apply), 2 a bad flag, 3 the server answered the
// POST with anything but 201 (`whip-push: <status> <body>` on stderr), 4 the peer connection never
// came up within --connect-timeout, or failed or was closed by the server.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// Exit codes.
const (
	exitOK       = 0
	exitError    = 1
	exitUsage    = 2
	exitRefused  = 3
	exitNoMedia  = 4
	tokenEnvName = "WHIP_TOKEN"
)

// config is what the flags say.
type config struct {
	url            *url.URL
	token          string // "": no Authorization header
	videoPort      int
	audioPort      int
	allowNets      []netip.Prefix
	tcpOnly        bool
	noDelete       bool
	statusFile     string
	profileLevelID string // H.264 profile-level-id put in the offer
	connectTimeout time.Duration
	tlsConfig      *tls.Config // nil: the system's roots
	debugSDP       bool

	// vanished receives the peer connection left open by --no-delete (tests close it; the
	// command exits right after, which closes it without a word to the peer).
	vanished func(io.Closer)
}

var profileLevelIDPattern = regexp.MustCompile(`^[0-9a-fA-F]{6}$`)

// parseConfig reads the flags; getenv gives $WHIP_TOKEN.
func parseConfig(args []string, getenv func(string) string, output io.Writer) (config, error) {
	fs := flag.NewFlagSet("whip-push", flag.ContinueOnError)
	fs.SetOutput(output)
	rawURL := fs.String("url", "", "the WHIP endpoint (http:// or https://): the offer is POSTed here")
	tokenFile := fs.String("token-file", "", "file holding the bearer token (else $"+tokenEnvName+"; neither: no Authorization header)")
	videoPort := fs.Int("video-port", 0, "127.0.0.1 UDP port where FFmpeg sends the H.264 RTP (port + 1, its RTCP, is bound and discarded)")
	audioPort := fs.Int("audio-port", 0, "127.0.0.1 UDP port where FFmpeg sends the Opus RTP (port + 1, its RTCP, is bound and discarded)")
	allow := fs.String("ice-allow-ip", "127.0.0.0/8", "comma-separated CIDRs: only local IPs in them gather ICE candidates")
	tcpOnly := fs.Bool("ice-tcp-only", false, "ICE over TCP only (active, to the answer's passive TCP candidates): the UDP-blocked fallback")
	noDelete := fs.Bool("no-delete", false, "on SIGTERM/SIGINT exit without DELETE and without closing the connection (a publisher that vanished)")
	statusFile := fs.String("status-file", "", "write the state as JSON here (atomically) whenever it changes")
	profile := fs.String("h264-profile-level-id", "42e01f", "the H.264 profile-level-id offered (what the encoder sends: 42e01f baseline, 4d001f main, 64001f high)")
	connectTimeout := fs.Duration("connect-timeout", 15*time.Second, "exit 4 (after DELETE) when the connection is not up this long after the answer; 0: wait forever")
	caFile := fs.String("ca-file", "", "PEM certificates trusted for an https:// --url (else the system's roots)")
	debugSDP := fs.Bool("debug-sdp", false, "print the offer and the answer on stderr")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments %q (the token goes in --token-file or $%s)", fs.Args(), tokenEnvName)
	}
	cfg := config{videoPort: *videoPort, audioPort: *audioPort, tcpOnly: *tcpOnly, noDelete: *noDelete,
		statusFile: *statusFile, profileLevelID: strings.ToLower(*profile), connectTimeout: *connectTimeout, debugSDP: *debugSDP}
	var err error
	if cfg.url, err = parseURL(*rawURL); err != nil {
		return config{}, err
	}
	for _, p := range []struct {
		name string
		port int
	}{{"--video-port", cfg.videoPort}, {"--audio-port", cfg.audioPort}} {
		if p.port < 1 || p.port > 65534 {
			return config{}, fmt.Errorf("%s: a UDP port in 1-65534 (port + 1 is bound too), not %d", p.name, p.port)
		}
	}
	if d := cfg.videoPort - cfg.audioPort; d > -2 && d < 2 {
		return config{}, fmt.Errorf("--video-port and --audio-port must be at least 2 apart (each port + 1 is RTCP)")
	}
	if cfg.allowNets, err = parseNets(*allow); err != nil {
		return config{}, err
	}
	if !profileLevelIDPattern.MatchString(cfg.profileLevelID) {
		return config{}, fmt.Errorf("--h264-profile-level-id: 6 hex digits, not %q", *profile)
	}
	if cfg.connectTimeout < 0 {
		return config{}, fmt.Errorf("--connect-timeout: not negative")
	}
	if cfg.token, err = readToken(*tokenFile, getenv); err != nil {
		return config{}, err
	}
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			return config{}, fmt.Errorf("--ca-file: %w", err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return config{}, fmt.Errorf("--ca-file %s: no PEM certificate in it", *caFile)
		}
		cfg.tlsConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	}
	return cfg, nil
}

func parseURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("--url is required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("--url: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--url: an http:// or https:// URL, not %q", raw)
	}
	if u.User != nil {
		return nil, fmt.Errorf("--url: no credentials in the URL (the token goes in --token-file or $%s)", tokenEnvName)
	}
	return u, nil
}

func parseNets(list string) ([]netip.Prefix, error) {
	var nets []netip.Prefix
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("--ice-allow-ip: %w", err)
		}
		if !p.Addr().Is4() {
			return nil, fmt.Errorf("--ice-allow-ip: IPv4 CIDRs only (ICE here is UDP4/TCP4), not %s", s)
		}
		nets = append(nets, p.Masked())
	}
	if len(nets) == 0 {
		return nil, errors.New("--ice-allow-ip: at least one CIDR")
	}
	return nets, nil
}

// readToken: the file's content (surrounding whitespace trimmed) when a file is given, else
// $WHIP_TOKEN, else "" (no Authorization header). Errors never quote the token.
func readToken(file string, getenv func(string) string) (string, error) {
	token, from := getenv(tokenEnvName), "$"+tokenEnvName
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("--token-file: %w", err)
		}
		token, from = string(b), "--token-file "+file
		if strings.TrimSpace(token) == "" {
			return "", fmt.Errorf("%s is empty", from)
		}
	}
	token = strings.TrimSpace(token)
	for _, c := range []byte(token) {
		if c <= ' ' || c >= 0x7f {
			return "", fmt.Errorf("the token of %s has a space, a control or a non-ASCII character: not a bearer token", from)
		}
	}
	return token, nil
}

func main() {
	cfg, err := parseConfig(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(exitOK)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "whip-push:", err)
		os.Exit(exitUsage)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	code := run(ctx, cfg, os.Stderr)
	stop()
	os.Exit(code)
}
