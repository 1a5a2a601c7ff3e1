package main

import (
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"
)

// The control headers the Python worker adds to a WHEP offer. They are trusted because only the
// worker reaches the control API (Config.validate: its unix socket, or loopback for tools); the
// worker never passes a client's own headers on.
const (
	// clientHeader: the viewer's address, as the worker decided it (the key of the offer rate limit
	// and of MaxViewersPerAddress). Without it (a local tool such as whep-load) neither applies.
	clientHeader = "X-Streamops-Client"
	// sessionExpiresHeader: Unix seconds at which the viewer's playback token stops being honoured
	// (signed playback); the session ends then. Without it (public playback) it does not expire.
	sessionExpiresHeader = "X-Streamops-Session-Expires"
	// tokenHeader: an opaque name of the viewer's playback token (the worker's digest of it, never
	// the token), the key of MaxViewersPerToken. Without it (public playback) no token cap applies.
	tokenHeader     = "X-Streamops-Token-Id"
	maxTokenIDBytes = 64
)

// whepControl is what the worker's control headers say of an offer.
type whepControl struct {
	client  netip.Addr // invalid: no rate limit, no cap per address
	expires time.Time  // zero: no end
	token   string     // "": no cap per token
}

// readWHEPControl reads the control headers; on false the error was answered.
func readWHEPControl(w http.ResponseWriter, r *http.Request) (whepControl, bool) {
	var ctl whepControl
	if !fromControlClient(r) { // cannot happen on the control listener; the headers mean nothing elsewhere
		http.Error(w, "the control API is for the ingest worker", http.StatusForbidden)
		return ctl, false
	}
	if v := r.Header.Get(clientHeader); v != "" {
		a, err := netip.ParseAddr(v)
		if err != nil {
			http.Error(w, clientHeader+" is not an IP address", http.StatusBadRequest)
			return ctl, false
		}
		ctl.client = a
	}
	if v := r.Header.Get(sessionExpiresHeader); v != "" {
		secs, err := strconv.ParseInt(v, 10, 64)
		if err != nil || secs <= 0 {
			http.Error(w, sessionExpiresHeader+" is not Unix seconds", http.StatusBadRequest)
			return ctl, false
		}
		ctl.expires = time.Unix(secs, 0)
	}
	if v := r.Header.Get(tokenHeader); v != "" {
		if len(v) > maxTokenIDBytes {
			http.Error(w, tokenHeader+" is too long", http.StatusBadRequest)
			return ctl, false
		}
		ctl.token = v
	}
	return ctl, true
}

// fromControlClient: the request came over the unix socket or from loopback.
func fromControlClient(r *http.Request) bool {
	if _, unix := r.Context().Value(http.LocalAddrContextKey).(*net.UnixAddr); unix {
		return true
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	return err == nil && ap.Addr().Unmap().IsLoopback()
}

// sessionCapsLocked refuses an offer whose address or token holds its cap of sessions already
// (c.mu held): the reason's counter moves and the answer is written; "" when it may go on.
func (c *component) sessionCapsLocked(ctl whepControl) string {
	if ctl.client.IsValid() && c.cfg.MaxViewersPerAddress > 0 && c.byAddress[limitKey(ctl.client)] >= c.cfg.MaxViewersPerAddress {
		c.st.whepAddressFull.Add(1)
		return "too many WHEP sessions from this address"
	}
	if ctl.token != "" && c.cfg.MaxViewersPerToken > 0 && c.byToken[ctl.token] >= c.cfg.MaxViewersPerToken {
		c.st.whepTokenFull.Add(1)
		return "too many WHEP sessions with this playback token"
	}
	return ""
}

// countSessionLocked adds (+1) or removes (-1) v from its address's and token's counts (c.mu held).
func (c *component) countSessionLocked(v *viewer, delta int) {
	if v.client.IsValid() {
		k := limitKey(v.client)
		if c.byAddress[k] += delta; c.byAddress[k] <= 0 {
			delete(c.byAddress, k)
		}
	}
	if v.token != "" {
		if c.byToken[v.token] += delta; c.byToken[v.token] <= 0 {
			delete(c.byToken, v.token)
		}
	}
}

// postWHEP: POST /whep with an SDP offer adds a viewer of whatever the source is.
func (c *component) postWHEP(w http.ResponseWriter, r *http.Request) {
	ctl, ok := readWHEPControl(w, r)
	if !ok {
		return
	}
	// First, before anything costs: a flood from one address is refused for the price of a lookup.
	if ctl.client.IsValid() {
		if allowed, wait := c.offers.allow(ctl.client); !allowed {
			c.st.whepRateLimited.Add(1)
			w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(wait)))
			http.Error(w, "too many WHEP offers from this address", http.StatusTooManyRequests)
			return
		}
	}
	offer, codecs, ok := readOffer(w, r)
	if !ok {
		return
	}
	if !codecs.h264 {
		http.Error(w, "the offer has no H.264 video (packetization-mode=1): WHEP plays H.264", http.StatusNotAcceptable)
		return
	}
	if !c.hub.live() {
		http.Error(w, "the stream is not live", http.StatusNotFound)
		return
	}
	if !ctl.expires.IsZero() && !time.Now().Before(ctl.expires) {
		c.st.whepTokenExpiries.Add(1)
		http.Error(w, "playback token expired", http.StatusForbidden)
		return
	}
	c.mu.Lock()
	// The client's own share first: its sessions count from the answer on (a waiting one becomes a
	// connected one), so no race of concurrent offers can take more. 429: it is this client's.
	if why := c.sessionCapsLocked(ctl); why != "" {
		c.mu.Unlock()
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(c.cfg.ViewerConnectTimeout)))
		http.Error(w, why, http.StatusTooManyRequests)
		return
	}
	if c.cfg.MaxViewers > 0 && c.connectedViewers >= c.cfg.MaxViewers {
		c.mu.Unlock()
		c.st.whepViewersFull.Add(1)
		w.Header().Set("Retry-After", "5")
		http.Error(w, "too many viewers", http.StatusServiceUnavailable)
		return
	}
	if c.cfg.MaxPendingViewers > 0 && c.pendingViewers >= c.cfg.MaxPendingViewers {
		c.mu.Unlock()
		c.st.whepPendingFull.Add(1)
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(c.cfg.ViewerConnectTimeout)))
		http.Error(w, "too many WHEP offers waiting for their connection", http.StatusServiceUnavailable)
		return
	}
	pc, err := c.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		c.mu.Unlock()
		http.Error(w, "peer connection: "+err.Error(), http.StatusInternalServerError)
		return
	}
	v := newViewer(newSessionID(), pc, c.st)
	v.client, v.token = ctl.client, ctl.token
	c.viewers[v.id] = v
	c.pendingViewers++
	c.countSessionLocked(v, 1)
	c.mu.Unlock()

	if err := c.addViewerTracks(v, codecs.opus); err != nil {
		c.endViewer(v)
		http.Error(w, "peer connection: "+err.Error(), http.StatusInternalServerError)
		return
	}
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		switch s {
		case webrtc.PeerConnectionStateConnected:
			// Only now do the tracks have a transport: the GOP cache sent earlier would be lost.
			if c.admitViewer(v) {
				c.hub.addViewer(v)
			}
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			go c.endViewer(v)
		}
	})
	go v.run()
	answer, err := answerOffer(pc, offer)
	if err != nil {
		c.endViewer(v)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	v.connectDeadline.Store(time.AfterFunc(c.cfg.ViewerConnectTimeout, func() {
		c.endViewerIf(v, func() bool { return !v.admitted }, &c.st.whepConnectTimeouts)
	}))
	if !ctl.expires.IsZero() {
		// The token's end is the session's: a viewer keeps watching only as long as it may.
		v.tokenDeadline.Store(time.AfterFunc(time.Until(ctl.expires), func() {
			c.endViewerIf(v, func() bool { return true }, &c.st.whepTokenExpiries)
		}))
	}
	writeAnswer(w, "/whep/"+v.id, answer)
}

// admitViewer moves v from the pending offers to the connected viewers (once); false when it was
// ended meanwhile or MaxViewers are connected already (v is then ended: concurrent offers may all
// have passed the check at POST time).
func (c *component) admitViewer(v *viewer) bool {
	c.mu.Lock()
	if c.viewers[v.id] != v || v.admitted { // ended, or connected again after a disconnect
		c.mu.Unlock()
		return false
	}
	if c.cfg.MaxViewers > 0 && c.connectedViewers >= c.cfg.MaxViewers {
		c.mu.Unlock()
		c.st.whepViewersFull.Add(1)
		go c.endViewer(v) // not from pion's callback goroutine: Close waits for it
		return false
	}
	v.admitted = true
	c.pendingViewers--
	c.connectedViewers++
	c.mu.Unlock()
	return true
}

// endViewerIf ends v if it is still a session and cond holds (called under c.mu), and counts it in
// why. The count moves before the session leaves c.viewers: GET /status never shows a session gone
// without its reason (closing the peer connection can take a while).
func (c *component) endViewerIf(v *viewer, cond func() bool, why *atomic.Uint64) {
	c.mu.Lock()
	ending := c.viewers[v.id] == v && cond()
	if ending {
		why.Add(1)
	}
	c.mu.Unlock()
	if ending {
		c.endViewer(v)
	}
}

// addViewerTracks gives the viewer its own send-only tracks: video always, audio when offered.
func (c *component) addViewerTracks(v *viewer, audio bool) error {
	kinds := []mediaKind{videoKind}
	if audio {
		kinds = append(kinds, audioKind)
	}
	for _, kind := range kinds {
		codec := trackH264
		if kind == audioKind {
			codec = trackOpus
		}
		t, err := webrtc.NewTrackLocalStaticRTP(codec, kind.String(), "streamops")
		if err != nil {
			return err
		}
		tr, err := v.pc.AddTransceiverFromTrack(t, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			return err
		}
		v.tracks[kind] = t
		onKeyframeRequest := func() {}
		if kind == videoKind {
			onKeyframeRequest = func() { c.hub.viewerKeyframeRequest(v) }
		}
		go v.readRTCP(tr.Sender(), onKeyframeRequest)
	}
	return nil
}

func (c *component) endViewer(v *viewer) {
	c.mu.Lock()
	if c.viewers[v.id] == v {
		delete(c.viewers, v.id)
		c.countSessionLocked(v, -1)
		if v.admitted {
			c.connectedViewers--
		} else {
			c.pendingViewers--
		}
	}
	c.mu.Unlock()
	// Stop first: an addViewer racing with this sees the viewer stopped and skips it.
	if err := v.stop(); err != nil {
		c.log.Warn("closing viewer", "session", v.id, "err", err)
	}
	c.hub.removeViewer(v)
}

// deleteWHEP: DELETE /whep/{id} ends a viewer session.
func (c *component) deleteWHEP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	v := c.viewers[r.PathValue("id")]
	c.mu.Unlock()
	if v == nil {
		http.Error(w, "no such WHEP session", http.StatusNotFound)
		return
	}
	c.endViewer(v)
	w.WriteHeader(http.StatusOK)
}
