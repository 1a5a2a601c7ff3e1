package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"
)

// publisherConnectTimeout: a WHIP session whose peer never connects (it vanished after its POST)
// frees the publisher slot after this.
const publisherConnectTimeout = 15 * time.Second

// A WHEP viewer's ICE and DTLS take well under a second on a reachable path (0.03-0.05 s from
// POST to first picture in Chromium, docs/design/webrtc.md); an offer not connected after
// defaultViewerConnectTimeout never will be, and only holds memory. defaultMaxPendingViewers
// bounds how many such offers exist at once (a pending peer connection costs ≈1 MB).
const (
	defaultViewerConnectTimeout = 5 * time.Second
	defaultMaxPendingViewers    = 50
)

// The WHEP sessions one client may hold (issue 52, finding 4: one address that completed ICE/DTLS
// over and over filled --max-viewers, 500, in ≈100 s, and every other viewer got 503). An address
// is a venue's NAT, a carrier's CGNAT or a proxy whose X-Forwarded-For is not believed just as
// well as one attacker: 100 (a fifth of the default 500) serves a hall of viewers behind one
// address, and it takes five addresses, not one, to fill the cap. A signed playback token is meant
// for one viewer: 5 leaves room for a player that reconnects while its old session is still
// being found dead (ICE fails after seconds) and for a second device or tab. Both are chart values
// (playback.webrtc.maxViewersPerAddress, maxViewersPerToken).
const (
	defaultMaxViewersPerAddress = 100
	defaultMaxViewersPerToken   = 5
)

// component is the whole process: the shared ICE ports, the hub, the sessions and the control API.
type component struct {
	cfg   Config
	log   *slog.Logger
	st    *counters
	ice   *iceTransport
	api   *webrtc.API
	hub   *hub
	fwd   *rtpForwarder
	rtpIn *rtpInput
	sdp   string // the SDP of the forwarded WHIP RTP

	offers *offerLimiter // WHEP offers per client address

	mu      sync.Mutex
	pub     *publisher // nil, or the one WHIP session (set before its offer is answered)
	viewers map[string]*viewer
	// pendingViewers + connectedViewers == len(viewers): MaxViewers counts connected ones only,
	// MaxPendingViewers the offers still waiting for their connection.
	pendingViewers, connectedViewers int
	// The sessions (waiting and connected) of each client address and playback token, for
	// MaxViewersPerAddress/MaxViewersPerToken; an entry goes when its count reaches 0.
	byAddress map[netip.Prefix]int
	byToken   map[string]int

	ln        net.Listener
	srv       *http.Server
	closeOnce sync.Once
}

func newComponent(cfg Config, log *slog.Logger) (_ *component, err error) {
	// c is not the named result: `return nil, err` must leave it for the deferred close.
	if cfg.ViewerConnectTimeout <= 0 {
		cfg.ViewerConnectTimeout = defaultViewerConnectTimeout
	}
	c := &component{cfg: cfg, log: log, st: &counters{}, viewers: map[string]*viewer{},
		byAddress: map[netip.Prefix]int{}, byToken: map[string]int{}}
	c.offers = newOfferLimiter(cfg.OfferRate, cfg.OfferBurst)
	defer func() {
		if err != nil {
			c.close()
		}
	}()
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = pionLogLevel(cfg.LogLevel)
	filter := candidateFilter{nets: cfg.ICEAllowedNets, ifaces: cfg.ICEInterfaces}
	if c.ice, err = newICETransport(cfg, filter, lf); err != nil {
		return nil, err
	}
	s, err := settingEngine(cfg, filter, c.ice, lf)
	if err != nil {
		return nil, err
	}
	if c.api, err = newAPI(s, lf); err != nil {
		return nil, err
	}
	if cfg.WHIPOutVideoPort != 0 || cfg.WHIPOutAudioPort != 0 {
		if c.fwd, err = newRTPForwarder(cfg.WHIPOutVideoPort, cfg.WHIPOutAudioPort, c.st); err != nil {
			return nil, err
		}
		c.sdp = ffmpegSDP(cfg.WHIPOutVideoPort, cfg.WHIPOutAudioPort)
		if cfg.WHIPOutSDP != "" {
			if err = writeFileAtomic(cfg.WHIPOutSDP, c.sdp); err != nil {
				return nil, fmt.Errorf("--whip-out-sdp: %w", err)
			}
		}
	}
	c.hub = newHub(c.st, cfg.RTPInLiveTimeout, cfg.ViewerPLIMinInterval, c.fwd)
	if c.rtpIn, err = startRTPInput(cfg.RTPInVideoPort, cfg.RTPInAudioPort, c.hub, log); err != nil {
		return nil, err
	}
	if c.ln, err = listenControl(cfg); err != nil {
		return nil, fmt.Errorf("--control: %w", err)
	}
	c.srv = &http.Server{Handler: c.routes(), ReadHeaderTimeout: 5 * time.Second}
	return c, nil
}

// listenControl opens the control API. On unix:PATH the socket is its only guard (issue 52,
// finding 8: with the host network a loopback port is every node process's), so its directory
// must be this user's and closed to everyone else, and the socket is 0600.
func listenControl(cfg Config) (net.Listener, error) {
	path := cfg.controlSocket()
	if path == "" {
		return net.Listen("tcp", cfg.Control)
	}
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || fi.Mode().Perm()&0o077 != 0 || !ok || int(st.Uid) != os.Getuid() {
		return nil, fmt.Errorf("%s must be a directory of this user closed to others (mode 0700), is %s", dir, fi.Mode())
	}
	// A socket left by a run that was killed (never anything else: a file there is refused).
	if fi, err := os.Lstat(path); err == nil && fi.Mode().Type() == os.ModeSocket {
		_ = os.Remove(path)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		_ = ln.Close()
		return nil, err
	}
	return ln, nil
}

// serve runs the control API until close.
func (c *component) serve() error {
	err := c.srv.Serve(c.ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func (c *component) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /whip", c.postWHIP)
	mux.HandleFunc("GET /whip/sdp", c.getWHIPSDP)
	mux.HandleFunc("POST /whip/keyframe", c.postWHIPKeyframe)
	mux.HandleFunc("DELETE /whip/{id}", c.deleteWHIP)
	mux.HandleFunc("PATCH /whip/{id}", notSupported)
	mux.HandleFunc("POST /whep", c.postWHEP)
	mux.HandleFunc("DELETE /whep/{id}", c.deleteWHEP)
	mux.HandleFunc("PATCH /whep/{id}", notSupported)
	mux.HandleFunc("GET /status", c.getStatus)
	return mux
}

// close ends every session and releases every port (once; later calls do nothing).
func (c *component) close() {
	c.closeOnce.Do(c.closeNow)
}

func (c *component) closeNow() {
	if c.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = c.srv.Shutdown(ctx)
		cancel()
	} else if c.ln != nil {
		_ = c.ln.Close()
	}
	c.mu.Lock()
	pub, viewers := c.pub, c.viewers
	c.pub, c.viewers = nil, map[string]*viewer{}
	c.pendingViewers, c.connectedViewers = 0, 0
	c.byAddress, c.byToken = map[netip.Prefix]int{}, map[string]int{}
	c.mu.Unlock()
	if pub != nil {
		_ = pub.stop()
	}
	for _, v := range viewers {
		_ = v.stop()
	}
	if c.rtpIn != nil {
		c.rtpIn.close()
	}
	if c.fwd != nil {
		c.fwd.close()
	}
	if c.ice != nil {
		c.ice.close()
	}
}

func newSessionID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func writeFileAtomic(path, content string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".sdp-*")
	if err != nil {
		return err
	}
	if _, err = tmp.WriteString(content); err == nil {
		err = tmp.Close()
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func pionLogLevel(s string) logging.LogLevel {
	switch s {
	case "debug":
		return logging.LogLevelDebug
	case "info":
		return logging.LogLevelWarn // pion's info is per-connection chatter
	case "error":
		return logging.LogLevelError
	}
	return logging.LogLevelWarn
}
