package main

import (
	"sync"
	"time"

	"github.com/pion/rtp"
)

type mediaKind int

const (
	videoKind mediaKind = iota
	audioKind
)

func (k mediaKind) String() string {
	if k == videoKind {
		return "video"
	}
	return "audio"
}

type sourceKind int

const (
	sourceNone  sourceKind = iota
	sourceWHIP             // the WHIP publisher
	sourceRTPIn            // FFmpeg's RTP on the loopback input ports (RTMP, SRT, pull)
)

func (s sourceKind) String() string {
	return [...]string{"none", "whip", "rtp"}[s]
}

// viewerJoinGrace: keyframe requests a viewer sends this soon after joining are answered by the
// GOP cache it was just sent, never forwarded to the encoder.
const viewerJoinGrace = 2 * time.Second

// hub is the fan-out: every packet of the current source goes through it once, is renumbered,
// cached (video) and queued to every viewer and, for a WHIP source, to FFmpeg.
type hub struct {
	st                   *counters
	rtpInLiveTimeout     time.Duration
	viewerPLIMinInterval time.Duration

	mu         sync.Mutex
	whipActive bool // a WHIP session exists: the RTP input is ignored meanwhile
	current    sourceKind
	epoch      uint64 // bumps at every source change
	seq        [2]sequencer
	gop        gopCache
	viewers    map[*viewer]struct{}
	rtpInLast  time.Time
	toFFmpeg   *rtpForwarder     // WHIP media to FFmpeg; nil when off
	keyframeUp func() bool       // asks the WHIP publisher for a keyframe; nil without one
	lastUpPLI  time.Time
}

func newHub(st *counters, rtpInLiveTimeout, viewerPLIMinInterval time.Duration, toFFmpeg *rtpForwarder) *hub {
	return &hub{
		st:                   st,
		rtpInLiveTimeout:     rtpInLiveTimeout,
		viewerPLIMinInterval: viewerPLIMinInterval,
		seq:                  [2]sequencer{{clockRate: 90000}, {clockRate: 48000}},
		viewers:              map[*viewer]struct{}{},
		toFFmpeg:             toFFmpeg,
	}
}

// push takes one packet from a source. p is not modified (nor kept).
func (h *hub) push(src sourceKind, kind mediaKind, p *rtp.Packet) {
	now := time.Now()
	h.st.packetsIn.Add(1)
	h.st.bytesIn.Add(uint64(len(p.Payload)))
	h.mu.Lock()
	defer h.mu.Unlock()
	if src == sourceRTPIn {
		h.rtpInLast = now
		if h.whipActive {
			return
		}
	}
	if src != h.current {
		h.switchSourceLocked(src)
	}
	if len(p.Payload) == 0 { // padding only (bandwidth probing): nothing to decode
		h.seq[kind].skip()
		return
	}
	out := h.seq[kind].rewrite(p, h.epoch, now)
	key := false
	if kind == videoKind {
		key = h.gop.add(out)
	}
	if src == sourceWHIP && h.toFFmpeg != nil {
		h.toFFmpeg.send(kind, out)
	}
	for v := range h.viewers {
		v.offerLocked(kind, out, key)
	}
}

// switchSourceLocked: the cache of the old source is useless to the new one's decoder, and
// viewers must wait for the new source's first keyframe.
func (h *hub) switchSourceLocked(src sourceKind) {
	h.current = src
	h.epoch++
	h.gop.reset()
	for v := range h.viewers {
		v.waitKeyframe = true
	}
}

// setWHIP marks a WHIP session as present (true) or gone; keyframeUp asks it for a keyframe.
func (h *hub) setWHIP(active bool, keyframeUp func() bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.whipActive = active
	h.keyframeUp = keyframeUp
	if !active && h.current == sourceWHIP {
		h.switchSourceLocked(sourceNone)
	}
}

// live: a WHEP viewer can be served (a WHIP publisher, or RTP that came recently).
func (h *hub) live() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.liveLocked()
}

func (h *hub) liveLocked() bool {
	return h.whipActive || (!h.rtpInLast.IsZero() && time.Since(h.rtpInLast) < h.rtpInLiveTimeout)
}

// addViewer starts sending to v (once its connection is up, so nothing is lost before the
// transport exists): the GOP cache first, then the live packets.
func (h *hub) addViewer(v *viewer) {
	h.mu.Lock()
	defer h.mu.Unlock()
	v.waitKeyframe = true
	if cached := h.gop.snapshot(); len(cached) > 0 {
		v.waitKeyframe = false
		for _, p := range cached {
			v.enqueue(videoKind, p)
		}
	}
	h.viewers[v] = struct{}{}
}

func (h *hub) removeViewer(v *viewer) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.viewers, v)
}

// viewerKeyframeRequest handles a PLI/FIR from a viewer: a joiner's is answered by the cache it
// got; later ones (real loss) are merged into at most one PLI to the publisher per interval.
// RTP from FFmpeg has no way back: its GOP length bounds the recovery.
func (h *hub) viewerKeyframeRequest(v *viewer) {
	h.st.viewerKeyframeRequests.Add(1)
	if time.Since(v.joinedAt) < viewerJoinGrace {
		return
	}
	h.mu.Lock()
	up, due := h.keyframeUp, time.Since(h.lastUpPLI) >= h.viewerPLIMinInterval
	if up != nil && due {
		h.lastUpPLI = time.Now()
	}
	h.mu.Unlock()
	if up != nil && due {
		up()
	}
}

// hubStatus is the hub's part of GET /status.
type hubStatus struct {
	live                       bool
	source                     sourceKind
	rtpInLive                  bool
	viewers                    int
	keyframes                  uint64
	gopPackets, gopBytes       int
}

func (h *hub) status() hubStatus {
	h.mu.Lock()
	defer h.mu.Unlock()
	return hubStatus{
		live:       h.liveLocked(),
		source:     h.current,
		rtpInLive:  !h.rtpInLast.IsZero() && time.Since(h.rtpInLast) < h.rtpInLiveTimeout,
		viewers:    len(h.viewers),
		keyframes:  h.gop.keyframes,
		gopPackets: len(h.gop.pkts),
		gopBytes:   h.gop.bytes,
	}
}
