package main

import (
	"encoding/json"
	"net/http"
)

// status is the JSON of GET /status (camelCase, like the rest of streamops).
type status struct {
	Live                   bool     `json:"live"`
	Source                 string   `json:"source"` // none, whip or rtp
	PublisherConnected     bool     `json:"publisherConnected"`
	PublisherSession       string   `json:"publisherSession,omitempty"`
	RTPInLive              bool     `json:"rtpInLive"`
	Viewers                int      `json:"viewers"` // connected WHEP viewers
	ViewerSessions         int      `json:"viewerSessions"`
	ViewersPending         int      `json:"viewersPending"` // WHEP offers waiting for their connection
	PacketsIn              uint64   `json:"packetsIn"`
	BytesIn                uint64   `json:"bytesIn"`
	PacketsOut             uint64   `json:"packetsOut"`
	BytesOut               uint64   `json:"bytesOut"`
	PacketsToFFmpeg        uint64   `json:"packetsToFfmpeg"`
	BytesToFFmpeg          uint64   `json:"bytesToFfmpeg"`
	Keyframes              uint64   `json:"keyframes"`
	GOPCachePackets        int      `json:"gopCachePackets"`
	GOPCacheBytes          int      `json:"gopCacheBytes"`
	KeyframeRequests       uint64   `json:"keyframeRequests"`
	ViewerKeyframeRequests uint64   `json:"viewerKeyframeRequests"`
	ViewerPacketsDropped   uint64   `json:"viewerPacketsDropped"`
	WHEPRateLimited        uint64   `json:"whepRateLimited"`
	WHEPAddressFull        uint64   `json:"whepAddressFull"`
	WHEPTokenFull          uint64   `json:"whepTokenFull"`
	WHEPViewersFull        uint64   `json:"whepViewersFull"`
	WHEPPendingFull        uint64   `json:"whepPendingFull"`
	WHEPConnectTimeouts    uint64   `json:"whepConnectTimeouts"`
	WHEPTokenExpiries      uint64   `json:"whepTokenExpiries"`
	ICEUDP                 []string `json:"iceUdp"`
	ICETCP                 string   `json:"iceTcp,omitempty"`
}

func (c *component) status() status {
	h := c.hub.status()
	s := status{
		Live:                   h.live,
		Source:                 h.source.String(),
		RTPInLive:              h.rtpInLive,
		Viewers:                h.viewers,
		PacketsIn:              c.st.packetsIn.Load(),
		BytesIn:                c.st.bytesIn.Load(),
		PacketsOut:             c.st.packetsOut.Load(),
		BytesOut:               c.st.bytesOut.Load(),
		PacketsToFFmpeg:        c.st.packetsToFFmpeg.Load(),
		BytesToFFmpeg:          c.st.bytesToFFmpeg.Load(),
		Keyframes:              h.keyframes,
		GOPCachePackets:        h.gopPackets,
		GOPCacheBytes:          h.gopBytes,
		KeyframeRequests:       c.st.keyframeRequests.Load(),
		ViewerKeyframeRequests: c.st.viewerKeyframeRequests.Load(),
		ViewerPacketsDropped:   c.st.viewerPacketsDropped.Load(),
		WHEPRateLimited:        c.st.whepRateLimited.Load(),
		WHEPAddressFull:        c.st.whepAddressFull.Load(),
		WHEPTokenFull:          c.st.whepTokenFull.Load(),
		WHEPViewersFull:        c.st.whepViewersFull.Load(),
		WHEPPendingFull:        c.st.whepPendingFull.Load(),
		WHEPConnectTimeouts:    c.st.whepConnectTimeouts.Load(),
		WHEPTokenExpiries:      c.st.whepTokenExpiries.Load(),
		ICEUDP:                 []string{},
	}
	for _, a := range c.ice.udpAddr {
		s.ICEUDP = append(s.ICEUDP, a.String())
	}
	if c.ice.tcpAddr != nil {
		s.ICETCP = c.ice.tcpAddr.String()
	}
	c.mu.Lock()
	if c.pub != nil {
		s.PublisherConnected = c.pub.connected.Load()
		s.PublisherSession = c.pub.id
	}
	s.ViewerSessions = len(c.viewers)
	s.ViewersPending = c.pendingViewers
	c.mu.Unlock()
	return s
}

func (c *component) getStatus(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(c.status())
}
