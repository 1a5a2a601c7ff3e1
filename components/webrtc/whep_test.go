package main

import (
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
)

// assertViewing waits until v has video and audio, checks the video began on a keyframe and
// went on without a gap (cache, then live packets).
func assertViewing(t *testing.T, v *testViewer, name string) {
	t.Helper()
	waitFor(t, 5*time.Second, name+" receiving", func() bool { return v.video.Load() >= 30 && v.audio.Load() >= 5 })
	n := v.video.Load()
	waitFor(t, 5*time.Second, name+" receiving live video", func() bool { return v.video.Load() >= n+30 })
	first, gaps := v.first()
	if !startsKeyframe(first) {
		t.Errorf("%s: first video packet does not start a keyframe (NAL type %d)", name, first[0]&0x1f)
	}
	if gaps != 0 {
		t.Errorf("%s: %d gaps in the video sequence numbers", name, gaps)
	}
}

func TestWHEPViewersOfWHIPStartOnKeyframe(t *testing.T) {
	c, base := startComponent(t, testConfig()) // no periodic keyframe requests
	pub := publish(t, base)
	waitFor(t, 5*time.Second, "GOP cache", func() bool { return c.status().GOPCachePackets > 0 })
	time.Sleep(400 * time.Millisecond) // join mid-GOP: the cache is what starts them on a keyframe

	plisBefore := pub.plis.Load()
	var viewers []*testViewer
	for i := range 3 {
		v, code, body := watch(t, base)
		if code != http.StatusCreated {
			t.Fatalf("viewer %d: %d %s", i, code, body)
		}
		viewers = append(viewers, v)
	}
	for i, v := range viewers {
		assertViewing(t, v, "viewer "+string(rune('1'+i)))
	}
	if st := c.status(); st.Viewers != 3 || st.PacketsOut == 0 {
		t.Errorf("status %+v", st)
	}
	// Joiners are served from the cache: the publisher was not asked for keyframes.
	if got := pub.plis.Load() - plisBefore; got != 0 {
		t.Errorf("publisher got %d PLIs for 3 joiners", got)
	}

	// DELETE ends one viewer.
	if code := httpDo(t, http.MethodDelete, base+viewers[0].location); code != http.StatusOK {
		t.Fatalf("DELETE viewer: %d", code)
	}
	waitFor(t, 2*time.Second, "2 viewers", func() bool { return c.status().Viewers == 2 })
}

func TestWHEPNotLive(t *testing.T) {
	_, base := startComponent(t, testConfig())
	_, code, body := watch(t, base)
	if code != http.StatusNotFound || !strings.Contains(body, "not live") {
		t.Errorf("got %d %q", code, body)
	}
	code, _, body = postSDP(t, base+"/whep", "application/sdp", "garbage")
	if code != http.StatusBadRequest {
		t.Errorf("malformed: %d %q", code, body)
	}
}

// rtpFeeder stands for FFmpeg's `-f rtp` outputs: it packetizes the test H.264 and Opus and sends
// them to the component's RTP input ports on 127.0.0.1.
func feedRTP(t *testing.T, videoPort, audioPort int) {
	t.Helper()
	dial := func(port int) *net.UDPConn {
		c, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	vc, ac := dial(videoPort), dial(audioPort)
	vp := rtp.NewPacketizer(1200, 96, 0x1234, &codecs.H264Payloader{}, rtp.NewRandomSequencer(), 90000)
	ap := rtp.NewPacketizer(1200, 97, 0x5678, &codecs.OpusPayloader{}, rtp.NewRandomSequencer(), 48000)
	aus := testAccessUnits(t)
	done := make(chan struct{})
	stopped := make(chan struct{})
	t.Cleanup(func() {
		close(done)
		<-stopped
		vc.Close()
		ac.Close()
	})
	send := func(c *net.UDPConn, pkts []*rtp.Packet) {
		for _, p := range pkts {
			b, _ := p.Marshal()
			_, _ = c.Write(b)
		}
	}
	go func() {
		defer close(stopped)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			if i%5 == 0 || i%5 == 3 { // ≈30 fps of video beside 50 Opus packets a second
				send(vc, vp.Packetize(aus[(i*3/5)%len(aus)], 3000))
			}
			send(ac, ap.Packetize(opusSilence, 960))
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
}

func TestWHEPViewerOfRTPInput(t *testing.T) {
	cfg := testConfig()
	cfg.RTPInVideoPort, cfg.RTPInAudioPort = twoUDPPortPairs(t)
	c, base := startComponent(t, cfg)
	feedRTP(t, cfg.RTPInVideoPort, cfg.RTPInAudioPort)
	waitFor(t, 3*time.Second, "RTP input live", func() bool { return c.status().Live })
	time.Sleep(300 * time.Millisecond)

	v, code, body := watch(t, base)
	if code != http.StatusCreated {
		t.Fatalf("viewer: %d %s", code, body)
	}
	assertViewing(t, v, "viewer")
	if st := c.status(); st.Source != "rtp" || !st.RTPInLive || st.PublisherConnected {
		t.Errorf("status %+v", st)
	}
}

// ICE-TCP on the one TCP port: a viewer that may not use UDP still plays.
func TestWHEPViewerOverICETCP(t *testing.T) {
	_, base := startComponent(t, testConfig())
	publish(t, base)
	v, code, body := watch(t, base, webrtc.NetworkTypeTCP4)
	if code != http.StatusCreated {
		t.Fatalf("viewer: %d %s", code, body)
	}
	assertViewing(t, v, "TCP viewer")
}

// A viewer stays through a publisher change (a reconnect) and resumes on the new one's keyframe.
func TestWHEPViewerSurvivesPublisherReconnect(t *testing.T) {
	c, base := startComponent(t, testConfig())
	first := publish(t, base)
	v, code, body := watch(t, base)
	if code != http.StatusCreated {
		t.Fatalf("viewer: %d %s", code, body)
	}
	waitFor(t, 5*time.Second, "video", func() bool { return v.video.Load() > 30 })
	if code := httpDo(t, http.MethodDelete, base+first.location); code != http.StatusOK {
		t.Fatalf("DELETE: %d", code)
	}
	first.close()
	publish(t, base)
	n := v.video.Load()
	waitFor(t, 5*time.Second, "video from the second publisher", func() bool { return v.video.Load() > n+30 })
	if st := c.status(); st.Source != "whip" || st.Viewers != 1 {
		t.Errorf("status %+v", st)
	}
}

// While a WHIP session exists the RTP input only counts as live: the two never mix.
func TestRTPInputIgnoredWhileWHIPPublishes(t *testing.T) {
	cfg := testConfig()
	cfg.RTPInVideoPort, cfg.RTPInAudioPort = twoUDPPortPairs(t)
	c, base := startComponent(t, cfg)
	publish(t, base)
	feedRTP(t, cfg.RTPInVideoPort, cfg.RTPInAudioPort)
	waitFor(t, 3*time.Second, "RTP input live", func() bool { return c.status().RTPInLive })
	time.Sleep(300 * time.Millisecond)
	if st := c.status(); st.Source != "whip" {
		t.Errorf("source %q while a WHIP publisher is connected", st.Source)
	}
}
