package main

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/pion/webrtc/v4"
)

// postWHIP: POST /whip with an SDP offer starts the one publisher session.
func (c *component) postWHIP(w http.ResponseWriter, r *http.Request) {
	offer, codecs, ok := readOffer(w, r)
	if !ok {
		return
	}
	if missing := codecs.missingForWHIP(); missing != "" {
		http.Error(w, missing+": WHIP needs H.264 video and Opus audio", http.StatusNotAcceptable)
		return
	}
	c.mu.Lock()
	if c.pub != nil {
		c.mu.Unlock()
		http.Error(w, "a WHIP publisher is already connected to this stream", http.StatusConflict)
		return
	}
	pc, err := c.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		c.mu.Unlock()
		http.Error(w, "peer connection: "+err.Error(), http.StatusInternalServerError)
		return
	}
	id := newSessionID()
	p := newPublisher(id, pc, c.hub, c.st, c.cfg.KeyframeInterval)
	c.pub = p // the slot is taken from here on: a concurrent POST gets 409
	c.hub.setPublisher(p)
	c.mu.Unlock()
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		c.log.Info("publisher connection", "session", id, "state", s.String())
		p.connected.Store(s == webrtc.PeerConnectionStateConnected)
		switch s {
		case webrtc.PeerConnectionStateConnected:
			p.joined.Store(true)
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			go c.endPublisher(p) // not from pion's callback goroutine: stop waits for it
		}
	})
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			c.endPublisher(p)
			http.Error(w, "peer connection: "+err.Error(), http.StatusInternalServerError)
			return
		}
	}
	answer, err := answerOffer(pc, offer)
	if err != nil {
		c.endPublisher(p)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	// The offer named the codecs, but pion may still have found no profile in common.
	if got, _ := inspectSDP([]byte(answer)); got.missingForWHIP() != "" {
		c.endPublisher(p)
		http.Error(w, "no H.264 (packetization-mode=1) or Opus format of the offer could be accepted", http.StatusNotAcceptable)
		return
	}
	p.deadline.Store(time.AfterFunc(publisherConnectTimeout, func() {
		if !p.joined.Load() {
			c.log.Warn("WHIP publisher never connected", "session", id)
			c.endPublisher(p)
		}
	}))
	c.log.Info("WHIP publisher", "session", id)
	writeAnswer(w, "/whip/"+id, answer)
}

// endPublisher frees the publisher slot (if p still holds it) and closes p.
func (c *component) endPublisher(p *publisher) {
	c.mu.Lock()
	if c.pub == p {
		c.pub = nil
	}
	c.hub.clearPublisher(p)
	c.mu.Unlock()
	if err := p.stop(); err != nil {
		c.log.Warn("closing publisher", "session", p.id, "err", err)
	}
}

func (c *component) currentPublisher() *publisher {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pub
}

// deleteWHIP: DELETE /whip/{id} ends the session.
func (c *component) deleteWHIP(w http.ResponseWriter, r *http.Request) {
	p := c.currentPublisher()
	if p == nil || p.id != r.PathValue("id") {
		http.Error(w, "no such WHIP session", http.StatusNotFound)
		return
	}
	c.endPublisher(p)
	c.log.Info("WHIP session deleted", slog.String("session", p.id))
	w.WriteHeader(http.StatusOK)
}

// postWHIPKeyframe: POST /whip/keyframe asks the publisher for a keyframe now (FFmpeg just
// started and waits for one).
func (c *component) postWHIPKeyframe(w http.ResponseWriter, _ *http.Request) {
	p := c.currentPublisher()
	if p == nil {
		http.Error(w, "no WHIP publisher", http.StatusNotFound)
		return
	}
	if !p.requestKeyframe() {
		http.Error(w, "the WHIP publisher has no video track yet", http.StatusConflict)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// getWHIPSDP: GET /whip/sdp is the SDP FFmpeg reads the forwarded WHIP RTP with (also written
// to --whip-out-sdp).
func (c *component) getWHIPSDP(w http.ResponseWriter, _ *http.Request) {
	if c.sdp == "" {
		http.Error(w, "WHIP RTP forwarding is off (no --whip-out-video-port/--whip-out-audio-port)", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/sdp")
	_, _ = w.Write([]byte(c.sdp))
}
