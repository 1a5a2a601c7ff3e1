package main

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// peerCodecs chooses what a test peer offers.
type peerCodecs struct {
	h264, vp8, opus, pcmu bool
}

var allCodecs = peerCodecs{h264: true, opus: true}

// testPeerAPI is a pion API confined to loopback: host candidates on 127.0.0.0/8 only, no mDNS,
// no STUN. networks: UDP4 by default.
func testPeerAPI(t *testing.T, codecs peerCodecs, networks ...webrtc.NetworkType) *webrtc.API {
	t.Helper()
	m := &webrtc.MediaEngine{}
	reg := func(c webrtc.RTPCodecCapability, pt webrtc.PayloadType, kind webrtc.RTPCodecType) {
		if err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: c, PayloadType: pt}, kind); err != nil {
			t.Fatal(err)
		}
	}
	fb := []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}}
	if codecs.h264 {
		reg(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f", RTCPFeedback: fb}, 102, webrtc.RTPCodecTypeVideo)
	}
	if codecs.vp8 {
		reg(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: fb}, 96, webrtc.RTPCodecTypeVideo)
	}
	if codecs.opus {
		reg(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, 111, webrtc.RTPCodecTypeAudio)
	}
	if codecs.pcmu {
		reg(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000}, 0, webrtc.RTPCodecTypeAudio)
	}
	var s webrtc.SettingEngine
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelError
	s.LoggerFactory = lf
	s.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	s.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	s.SetIncludeLoopbackCandidate(true)
	if len(networks) == 0 {
		networks = []webrtc.NetworkType{webrtc.NetworkTypeUDP4}
	}
	s.SetNetworkTypes(networks)
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(s))
}

// offerFrom completes the offer of pc (all candidates in it).
func offerFrom(t *testing.T, pc *webrtc.PeerConnection) string {
	t.Helper()
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	return pc.LocalDescription().SDP
}

// testPublisher is a WHIP client sending the test H.264 and Opus silence in real time.
type testPublisher struct {
	pc       *webrtc.PeerConnection
	video    *webrtc.TrackLocalStaticSample
	audio    *webrtc.TrackLocalStaticSample
	location string
	plis     atomic.Int64
	keyframe atomic.Bool // a PLI came: restart at the next keyframe
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// newTestPublisher makes the peer and its offer; publish sends it.
func newTestPublisher(t *testing.T, codecs peerCodecs) (*testPublisher, string) {
	t.Helper()
	pc, err := testPeerAPI(t, codecs).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	p := &testPublisher{pc: pc}
	t.Cleanup(p.close)
	add := func(c webrtc.RTPCodecCapability, id string) *webrtc.TrackLocalStaticSample {
		tr, err := webrtc.NewTrackLocalStaticSample(c, id, "test")
		if err != nil {
			t.Fatal(err)
		}
		sender, err := pc.AddTrack(tr)
		if err != nil {
			t.Fatal(err)
		}
		go p.readRTCP(sender)
		return tr
	}
	switch {
	case codecs.h264:
		p.video = add(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000}, "video")
	case codecs.vp8:
		add(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video")
	}
	switch {
	case codecs.opus:
		p.audio = add(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio")
	case codecs.pcmu:
		add(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000}, "audio")
	}
	return p, offerFrom(t, pc)
}

func (p *testPublisher) readRTCP(s *webrtc.RTPSender) {
	for {
		pkts, _, err := s.ReadRTCP()
		if err != nil {
			return
		}
		for _, pkt := range pkts {
			if _, ok := pkt.(*rtcp.PictureLossIndication); ok {
				p.plis.Add(1)
				p.keyframe.Store(true)
			}
		}
	}
}

// publish posts the offer to base/whip, applies the answer and starts sending media.
func publish(t *testing.T, base string) *testPublisher {
	t.Helper()
	p, offer := newTestPublisher(t, allCodecs)
	code, loc, body := postSDP(t, base+"/whip", "application/sdp", offer)
	if code != http.StatusCreated {
		t.Fatalf("POST /whip: %d %s", code, body)
	}
	p.location = loc
	connected := make(chan struct{})
	var once sync.Once
	p.pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(connected) })
		}
	})
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: body}); err != nil {
		t.Fatal(err)
	}
	select { // like an encoder, start when the transport is up (frames before it are lost)
	case <-connected:
	case <-time.After(5 * time.Second):
		t.Fatal("publisher did not connect")
	}
	p.start(testAccessUnits(t))
	return p
}

// start sends the access units in a loop at 30 fps, and Opus every 20 ms, until close.
func (p *testPublisher) start(aus [][]byte) {
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		tick := time.NewTicker(time.Second / 30)
		defer tick.Stop()
		for i := 0; ; i++ {
			if p.keyframe.Swap(false) {
				i = 0 // the test stream starts with a keyframe
			}
			_ = p.video.WriteSample(media.Sample{Data: aus[i%len(aus)], Duration: time.Second / 30})
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	go func() {
		defer p.wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			_ = p.audio.WriteSample(media.Sample{Data: opusSilence, Duration: 20 * time.Millisecond})
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
}

func (p *testPublisher) close() {
	if p.cancel != nil {
		p.cancel()
		p.wg.Wait()
	}
	_ = p.pc.Close()
}

// testViewer is a WHEP client that records what it receives.
type testViewer struct {
	pc         *webrtc.PeerConnection
	location   string
	mu         sync.Mutex
	firstVideo []byte // payload of the first video packet
	lastSeq    uint16
	seqGaps    int // video sequence numbers skipped or repeated (the cache must join the live packets seamlessly)
	video      atomic.Int64
	audio      atomic.Int64
	wg         sync.WaitGroup
}

// watch posts a WHEP offer (video and audio, receive only) and returns the viewer, or the
// HTTP status and body of a refusal.
func watch(t *testing.T, base string, networks ...webrtc.NetworkType) (*testViewer, int, string) {
	t.Helper()
	return watchWith(t, base, nil, networks...)
}

// watchWith is watch with extra request headers (the worker's control headers).
func watchWith(t *testing.T, base string, headers map[string]string, networks ...webrtc.NetworkType) (*testViewer, int, string) {
	t.Helper()
	pc, err := testPeerAPI(t, allCodecs, networks...).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	v := &testViewer{pc: pc}
	t.Cleanup(v.close)
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		v.wg.Add(1)
		go v.read(tr)
	})
	code, h, body := postSDPWith(t, base+"/whep", headers, offerFrom(t, pc))
	if code != http.StatusCreated {
		return nil, code, body
	}
	v.location = h.Get("Location")
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: body}); err != nil {
		t.Fatal(err)
	}
	return v, code, body
}

func (v *testViewer) read(tr *webrtc.TrackRemote) {
	defer v.wg.Done()
	for {
		p, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		if tr.Kind() == webrtc.RTPCodecTypeAudio {
			v.audio.Add(1)
			continue
		}
		v.mu.Lock()
		if v.firstVideo == nil {
			v.firstVideo = append([]byte{}, p.Payload...)
		} else if p.SequenceNumber != v.lastSeq+1 {
			v.seqGaps++
		}
		v.lastSeq = p.SequenceNumber
		v.mu.Unlock()
		v.video.Add(1)
	}
}

func (v *testViewer) first() ([]byte, int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.firstVideo, v.seqGaps
}

func (v *testViewer) close() {
	_ = v.pc.Close()
	v.wg.Wait()
}
