package main

import (
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// viewerMaxQueue: a viewer this far behind (≈ 8 s of 2.5 Mbit/s video; the packets are shared,
// the queue holds pointers) loses its backlog and resumes at the next keyframe, rather than
// holding memory or slowing the others.
const viewerMaxQueue = 2048

// A joiner's backlog (the GOP cache, then the live packets that queued meanwhile) is sent
// paced: paceBurst packets per pacePause, ≈ 2000 packets/s ≈ 19 Mbit/s. Unpaced, the burst of a
// cached GOP overflowed the receiver's socket buffer after ≈ 90 packets even on loopback (the
// viewer NACKed the lost ones back); on a real path a bottleneck queue would drop it likewise.
const (
	paceBurst = 8
	pacePause = 4 * time.Millisecond
)

type queuedPacket struct {
	kind mediaKind
	p    *rtp.Packet
}

// viewer is one WHEP session: its own tracks (so the GOP cache can be sent to it alone) fed from a
// queue by its own goroutine (so a slow viewer never blocks the hub).
type viewer struct {
	id       string
	pc       *webrtc.PeerConnection
	tracks   [2]*webrtc.TrackLocalStaticRTP // audio is nil when the offer had no Opus
	joinedAt atomic.Int64                   // unix ns of the hub join (the connection up, the cache sent)
	st       *counters
	// connectDeadline ends the session if it never connects; tokenDeadline when its playback token
	// expires (nil: public playback).
	connectDeadline atomic.Pointer[time.Timer]
	tokenDeadline   atomic.Pointer[time.Timer]
	admitted        bool // guarded by component.mu: connected and counted against MaxViewers
	// client and token: the control headers' (MaxViewersPerAddress/PerToken); invalid, "": none.
	client netip.Addr
	token  string

	waitKeyframe bool // guarded by hub.mu: video is dropped until a keyframe starts

	mu         sync.Mutex
	queue      []queuedPacket
	catchingUp bool // a backlog was queued: pace until a batch is small (caught up with live)
	wake       chan struct{}
	done       chan struct{}
	once       sync.Once
}

func newViewer(id string, pc *webrtc.PeerConnection, st *counters) *viewer {
	return &viewer{id: id, pc: pc, st: st, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// offerLocked is called by the hub (hub.mu held) with every packet of the current source.
func (v *viewer) offerLocked(kind mediaKind, p *rtp.Packet, keyframeStart bool) {
	if v.tracks[kind] == nil {
		return
	}
	if kind == videoKind && v.waitKeyframe {
		if !keyframeStart {
			return
		}
		v.waitKeyframe = false
	}
	if !v.enqueue(kind, p) {
		v.waitKeyframe = true
	}
}

// enqueue reports false when the queue overflowed and was dropped.
func (v *viewer) enqueue(kind mediaKind, p *rtp.Packet) bool {
	v.mu.Lock()
	if len(v.queue) >= viewerMaxQueue {
		v.st.viewerPacketsDropped.Add(uint64(len(v.queue)))
		clear(v.queue)
		v.queue = v.queue[:0]
		v.mu.Unlock()
		return false
	}
	v.queue = append(v.queue, queuedPacket{kind, p})
	v.mu.Unlock()
	select {
	case v.wake <- struct{}{}:
	default:
	}
	return true
}

// enqueueBacklog queues a joiner's GOP cache in one step (so run takes it as one batch and paces
// it); false when it does not fit the queue (nothing queued).
func (v *viewer) enqueueBacklog(kind mediaKind, pkts []*rtp.Packet) bool {
	v.mu.Lock()
	if len(v.queue)+len(pkts) > viewerMaxQueue {
		v.mu.Unlock()
		return false
	}
	for _, p := range pkts {
		v.queue = append(v.queue, queuedPacket{kind, p})
	}
	v.catchingUp = true
	v.mu.Unlock()
	select {
	case v.wake <- struct{}{}:
	default:
	}
	return true
}

// run writes the queue to the tracks until stop.
func (v *viewer) run() {
	var batch []queuedPacket
	// One timer for the pacing pauses (time.After allocated one per 8 packets of a backlog).
	pace := time.NewTimer(pacePause)
	defer pace.Stop()
	for {
		select {
		case <-v.done:
			return
		case <-v.wake:
		}
		v.mu.Lock()
		batch, v.queue = v.queue, batch[:0]
		// Live bursts after the catch-up (a keyframe queued under load) go out at once: pacing
		// them would add their pacing time to the viewer's latency.
		pacing := v.catchingUp && len(batch) > 2*paceBurst
		v.catchingUp = pacing
		v.mu.Unlock()
		for i, q := range batch {
			if pacing && i > 0 && i%paceBurst == 0 {
				pace.Reset(pacePause) // Go >= 1.23: no stale tick survives a Reset
				select {
				case <-v.done:
					return
				case <-pace.C:
				}
			}
			// WriteRTP copies the header before setting this viewer's SSRC and payload type, so
			// the packet shared by all viewers stays untouched.
			if err := v.tracks[q.kind].WriteRTP(q.p); err == nil {
				v.st.packetsOut.Add(1)
				v.st.bytesOut.Add(uint64(len(q.p.Payload)))
			}
		}
		clear(batch)
	}
}

// readRTCP drains a sender's RTCP (the interceptors need it read: NACKs are answered there) and
// passes keyframe requests on.
func (v *viewer) readRTCP(s *webrtc.RTPSender, onKeyframeRequest func()) {
	for {
		pkts, _, err := s.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				onKeyframeRequest()
			}
		}
	}
}

func (v *viewer) stop() error {
	var err error
	v.once.Do(func() {
		for _, t := range []*time.Timer{v.connectDeadline.Load(), v.tokenDeadline.Load()} {
			if t != nil {
				t.Stop()
			}
		}
		close(v.done)
		err = v.pc.Close()
	})
	if errors.Is(err, webrtc.ErrConnectionClosed) {
		return nil
	}
	return err
}
