package main

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"
)

// postWHEP: POST /whep with an SDP offer adds a viewer of whatever the source is.
func (c *component) postWHEP(w http.ResponseWriter, r *http.Request) {
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
	c.mu.Lock()
	if c.cfg.MaxViewers > 0 && len(c.viewers) >= c.cfg.MaxViewers {
		c.mu.Unlock()
		http.Error(w, "too many viewers", http.StatusServiceUnavailable)
		return
	}
	pc, err := c.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		c.mu.Unlock()
		http.Error(w, "peer connection: "+err.Error(), http.StatusInternalServerError)
		return
	}
	v := newViewer(newSessionID(), pc, c.st)
	c.viewers[v.id] = v
	c.mu.Unlock()

	if err := c.addViewerTracks(v, codecs.opus); err != nil {
		c.endViewer(v)
		http.Error(w, "peer connection: "+err.Error(), http.StatusInternalServerError)
		return
	}
	var joined sync.Once
	var connected atomic.Bool
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		switch s {
		case webrtc.PeerConnectionStateConnected:
			// Only now do the tracks have a transport: the GOP cache sent earlier would be lost.
			joined.Do(func() { c.hub.addViewer(v) })
			connected.Store(true)
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
	v.deadline.Store(time.AfterFunc(sessionConnectTimeout, func() {
		if !connected.Load() {
			c.endViewer(v)
		}
	}))
	writeAnswer(w, "/whep/"+v.id, answer)
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
