package main

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// publisher is the one WHIP session: it reads the publisher's tracks into the hub and asks it for
// keyframes (periodically, and when FFmpeg or the viewers need one).
type publisher struct {
	id        string
	pc        *webrtc.PeerConnection
	hub       *hub
	st        *counters
	videoSSRC atomic.Uint32              // 0 until the video track arrives
	connected atomic.Bool                // now
	joined    atomic.Bool                // ever (the connect deadline looks at this)
	deadline  atomic.Pointer[time.Timer] // ends the session if it never connects
	tracks    [2]atomic.Bool             // a track of this kind is already read into the hub
	done      chan struct{}
	once      sync.Once
	mu        sync.Mutex // guards stopped and wg.Add against stop's wg.Wait
	stopped   bool
	wg        sync.WaitGroup
}

func newPublisher(id string, pc *webrtc.PeerConnection, h *hub, st *counters, keyframeInterval time.Duration) *publisher {
	p := &publisher{id: id, pc: pc, hub: h, st: st, done: make(chan struct{})}
	pc.OnTrack(func(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
		kind := audioKind
		if t.Kind() == webrtc.RTPCodecTypeVideo {
			kind = videoKind
			if p.videoSSRC.CompareAndSwap(0, uint32(t.SSRC())) {
				p.requestKeyframe() // start FFmpeg and the cache on a keyframe
			}
		}
		// One track per kind goes to the hub: a second one (simulcast layers, another camera)
		// would interleave two streams. It is still read, so that pion's buffers drain.
		toHub := p.tracks[kind].CompareAndSwap(false, true)
		p.mu.Lock()
		defer p.mu.Unlock()
		if !p.stopped {
			p.wg.Add(2)
			go p.read(t, kind, toHub)
			go p.readRTCP(r, uint32(t.SSRC()), kind, toHub)
		}
	})
	if keyframeInterval > 0 {
		p.wg.Add(1)
		go p.keyframeTicker(keyframeInterval)
	}
	return p
}

func (p *publisher) read(t *webrtc.TrackRemote, kind mediaKind, toHub bool) {
	defer p.wg.Done()
	for {
		pkt, _, err := t.ReadRTP()
		if err != nil {
			return
		}
		if toHub {
			p.hub.pushFromPublisher(p, kind, pkt)
		}
	}
}

// readRTCP passes the publisher's sender reports on (FFmpeg's A/V sync).
func (p *publisher) readRTCP(r *webrtc.RTPReceiver, ssrc uint32, kind mediaKind, toHub bool) {
	defer p.wg.Done()
	for {
		pkts, _, err := r.ReadRTCP()
		if err != nil {
			return
		}
		for _, pkt := range pkts {
			if sr, ok := pkt.(*rtcp.SenderReport); ok && toHub && sr.SSRC == ssrc {
				p.hub.senderReport(p, kind, ssrc, sr.NTPTime, sr.RTPTime)
			}
		}
	}
}

// keyframeTicker: browsers send keyframes only when asked, and FFmpeg's HLS segments need one
// every segment.
func (p *publisher) keyframeTicker(every time.Duration) {
	defer p.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-p.done:
			return
		case <-t.C:
			p.requestKeyframe()
		}
	}
}

// requestKeyframe sends a PLI; false when there is no video track yet.
func (p *publisher) requestKeyframe() bool {
	ssrc := p.videoSSRC.Load()
	if ssrc == 0 {
		return false
	}
	if err := p.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}}); err != nil {
		return false
	}
	p.st.keyframeRequests.Add(1)
	return true
}

func (p *publisher) stop() error {
	var err error
	p.once.Do(func() {
		p.mu.Lock()
		p.stopped = true
		p.mu.Unlock()
		if t := p.deadline.Load(); t != nil {
			t.Stop()
		}
		close(p.done)
		err = p.pc.Close() // ends the track readers
		p.wg.Wait()
	})
	if errors.Is(err, webrtc.ErrConnectionClosed) {
		return nil
	}
	return err
}
