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
	"os"
	"path/filepath"
	"sync"
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

	ln        net.Listener
	srv       *http.Server
	closeOnce sync.Once
}

func newComponent(cfg Config, log *slog.Logger) (_ *component, err error) {
	// c is not the named result: `return nil, err` must leave it for the deferred close.
	if cfg.ViewerConnectTimeout <= 0 {
		cfg.ViewerConnectTimeout = defaultViewerConnectTimeout
	}
	c := &component{cfg: cfg, log: log, st: &counters{}, viewers: map[string]*viewer{}}
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
	if c.ln, err = net.Listen("tcp", cfg.Control); err != nil {
		return nil, fmt.Errorf("--control: %w", err)
	}
	c.srv = &http.Server{Handler: c.routes(), ReadHeaderTimeout: 5 * time.Second}
	return c, nil
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
