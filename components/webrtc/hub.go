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

	mu        sync.Mutex
	pub       *publisher // the WHIP session whose packets count (the RTP input is ignored meanwhile)
	current   sourceKind
	epoch     uint64 // bumps at every source change
	seq       [2]sequencer
	gop       gopCache
	viewers   map[*viewer]struct{}
	rtpInLast time.Time
	toFFmpeg  *rtpForwarder // WHIP media to FFmpeg; nil when off
	lastUpPLI time.Time
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

// pushFromPublisher takes a packet of a WHIP session; a session that is no longer the current
// one (its readers still draining after DELETE) is ignored, so two publishers never mix.
func (h *hub) pushFromPublisher(from *publisher, kind mediaKind, p *rtp.Packet) {
	h.count(p)
	h.mu.Lock()
	defer h.mu.Unlock()
	if from != h.pub {
		return
	}
	h.pushLocked(sourceWHIP, kind, p)
}

// pushFromRTPInput takes a packet from FFmpeg's RTP; while a WHIP session exists it only keeps the
// input's liveness up to date.
func (h *hub) pushFromRTPInput(kind mediaKind, p *rtp.Packet) {
	h.count(p)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.rtpInLast = time.Now()
	if h.pub != nil {
		return
	}
	h.pushLocked(sourceRTPIn, kind, p)
}

func (h *hub) count(p *rtp.Packet) {
	h.st.packetsIn.Add(1)
	h.st.bytesIn.Add(uint64(len(p.Payload)))
}

// pushLocked renumbers, caches and fans out one packet (p is neither modified nor kept).
func (h *hub) pushLocked(src sourceKind, kind mediaKind, p *rtp.Packet) {
	if src != h.current {
		h.switchSourceLocked(src)
	}
	if len(p.Payload) == 0 { // padding only (bandwidth probing): nothing to decode
		h.seq[kind].skip()
		return
	}
	out := h.seq[kind].rewrite(p, h.epoch, time.Now())
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

// senderReport forwards a WHIP publisher's sender report to FFmpeg, its RTP time moved into the
// renumbered timeline (only while that SSRC is the one being forwarded).
func (h *hub) senderReport(from *publisher, kind mediaKind, ssrc uint32, ntpTime uint64, rtpTime uint32) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := &h.seq[kind]
	if from != h.pub || h.current != sourceWHIP || h.toFFmpeg == nil || !s.started || s.inSSRC != ssrc {
		return
	}
	h.toFFmpeg.sendSenderReport(kind, ntpTime, rtpTime+s.tsOffset)
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

// setPublisher makes p the WHIP source (the RTP input is ignored from now on).
func (h *hub) setPublisher(p *publisher) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.pub = p
	if h.current == sourceWHIP { // a new session starts a new stream: new epoch at its first packet
		h.switchSourceLocked(sourceNone)
	}
}

// clearPublisher ends p's part (if it is still the current session).
func (h *hub) clearPublisher(p *publisher) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.pub != p {
		return
	}
	h.pub = nil
	if h.current == sourceWHIP {
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
	return h.pub != nil || (!h.rtpInLast.IsZero() && time.Since(h.rtpInLast) < h.rtpInLiveTimeout)
}

// addViewer starts sending to v (once its connection is up, so nothing is lost before the
// transport exists): the GOP cache first, then the live packets.
func (h *hub) addViewer(v *viewer) {
	h.mu.Lock()
	defer h.mu.Unlock()
	select {
	case <-v.done: // ended while connecting: endViewer stops the viewer before removing it
		return
	default:
	}
	v.waitKeyframe = true
	if cached := h.gop.snapshot(); len(cached) > 0 && v.tracks[videoKind] != nil {
		// false cannot happen while the cache (1536 packets at most) fits the queue
		v.waitKeyframe = !v.enqueueBacklog(videoKind, cached)
	}
	v.joinedAt.Store(time.Now().UnixNano())
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
	if joined := v.joinedAt.Load(); joined == 0 || time.Since(time.Unix(0, joined)) < viewerJoinGrace {
		return
	}
	h.mu.Lock()
	pub, due := h.pub, time.Since(h.lastUpPLI) >= h.viewerPLIMinInterval
	if pub != nil && due {
		h.lastUpPLI = time.Now()
	}
	h.mu.Unlock()
	if pub != nil && due {
		pub.requestKeyframe()
	}
}

// hubStatus is the hub's part of GET /status.
type hubStatus struct {
	live                 bool
	source               sourceKind
	rtpInLive            bool
	viewers              int
	keyframes            uint64
	gopPackets, gopBytes int
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
