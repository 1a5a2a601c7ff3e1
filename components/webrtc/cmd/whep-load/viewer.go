package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/logging"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// viewer: one receive-only peer connection and what it got. The counters are written by the
// track readers and read by snapshots (atomics, no lock on the packet path).
type viewer struct {
	api       *webrtc.API
	pc        *webrtc.PeerConnection
	joinedAt  time.Time
	connected atomic.Bool
	session   atomic.Value // the signaller's handle: a WHEP resource path, a Janus session

	videoPackets, videoBytes, frames, markers atomic.Int64
	audioPackets, audioBytes, lost            atomic.Int64
	firstVideo                                atomic.Int64 // ns since joinedAt; 0: none yet
}

// newAPI: host candidates on iceIP only (a loopback address: checked by main; UDP4), no mDNS, no STUN/TURN (no ICE servers are ever
// configured), no interceptors (no NACK, no reports: the cheapest honest receiver, the same for
// both servers).
func newAPI(iceIP net.IP) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	var s webrtc.SettingEngine
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelError
	s.LoggerFactory = lf
	s.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	s.SetIPFilter(func(ip net.IP) bool { return ip.Equal(iceIP) })
	s.SetIncludeLoopbackCandidate(true)
	s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(s),
		webrtc.WithInterceptorRegistry(&interceptor.Registry{})), nil
}

// client: signalling on loopback, never through a proxy.
var client = &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64}}

// onLoopback refuses a server's SDP with a candidate off 127.0.0.0/8: the benchmark is confined
// to loopback, and a server gathering elsewhere is a finding, not something to connect to.
func onLoopback(sdp string) error {
	for _, line := range strings.Split(sdp, "\n") {
		if !strings.HasPrefix(line, "a=candidate:") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 6 {
			return fmt.Errorf("malformed candidate %q", strings.TrimSpace(line))
		}
		if ip := net.ParseIP(f[4]); ip == nil || !ip.IsLoopback() || ip.To4() == nil {
			return fmt.Errorf("the server offered a candidate off 127.0.0.0/8: %q", strings.TrimSpace(line))
		}
	}
	return nil
}

func newViewer(api *webrtc.API) *viewer { return &viewer{api: api} }

// start makes the peer connection and lets the signaller negotiate it.
func (v *viewer) start(ctx context.Context, sig signaller) error {
	pc, err := v.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return err
	}
	v.pc = pc
	v.joinedAt = time.Now()
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		v.connected.Store(s == webrtc.PeerConnectionStateConnected)
	})
	pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { go v.read(t) })
	return sig.join(ctx, v)
}

// read counts one track's packets until it ends: video frames by timestamp changes (markers
// counted too), losses by sequence gaps.
func (v *viewer) read(t *webrtc.TrackRemote) {
	video := t.Kind() == webrtc.RTPCodecTypeVideo
	var p rtp.Packet
	buf := make([]byte, 1500)
	var lastTS uint32
	var lastSeq uint16
	first := true
	for {
		n, _, err := t.Read(buf)
		if err != nil {
			return
		}
		if p.Unmarshal(buf[:n]) != nil {
			continue
		}
		if !first {
			if gap := int64(p.SequenceNumber - lastSeq - 1); gap > 0 && gap < 1<<15 {
				v.lost.Add(gap)
			}
		}
		lastSeq = p.SequenceNumber
		if video {
			v.videoPackets.Add(1)
			v.videoBytes.Add(int64(len(p.Payload)))
			if first {
				v.firstVideo.CompareAndSwap(0, max(1, int64(time.Since(v.joinedAt))))
			}
			if first || p.Timestamp != lastTS {
				v.frames.Add(1)
				lastTS = p.Timestamp
			}
			if p.Marker {
				v.markers.Add(1)
			}
		} else {
			v.audioPackets.Add(1)
			v.audioBytes.Add(int64(len(p.Payload)))
		}
		first = false
	}
}

func (v *viewer) counters() viewerDelta {
	return viewerDelta{
		VideoPackets: v.videoPackets.Load(), VideoBytes: v.videoBytes.Load(),
		Frames: v.frames.Load(), Markers: v.markers.Load(),
		AudioPackets: v.audioPackets.Load(), AudioBytes: v.audioBytes.Load(), Lost: v.lost.Load(),
	}
}

func (v *viewer) firstVideoSeconds() float64 {
	if ns := v.firstVideo.Load(); ns > 0 {
		return time.Duration(ns).Seconds()
	}
	return -1
}

// stop ends the session on the server (best effort, bounded by ctx) and closes the connection.
func (v *viewer) stop(ctx context.Context, sig signaller) {
	if v.session.Load() != nil {
		sig.leave(ctx, v)
	}
	if v.pc != nil {
		_ = v.pc.Close()
	}
}

// gatheredSDP sets the local description and returns it with every candidate in it (no trickle).
func gatheredSDP(ctx context.Context, pc *webrtc.PeerConnection, d webrtc.SessionDescription) (string, error) {
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(d); err != nil {
		return "", err
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	return pc.LocalDescription().SDP, nil
}
