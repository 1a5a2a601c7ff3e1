package main

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// udpSink is a test socket standing where FFmpeg reads the forwarded RTP.
type udpSink struct {
	conn    *net.UDPConn
	packets chan *rtp.Packet
}

func newUDPSink(t *testing.T) *udpSink {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	s := &udpSink{conn: c, packets: make(chan *rtp.Packet, 4096)}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 1600)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			p := &rtp.Packet{}
			if p.Unmarshal(append([]byte{}, buf[:n]...)) == nil {
				select {
				case s.packets <- p:
				default:
				}
			}
		}
	}()
	return s
}

func (s *udpSink) port() int { return s.conn.LocalAddr().(*net.UDPAddr).Port }

// next returns the next packet or fails after timeout.
func (s *udpSink) next(t *testing.T, timeout time.Duration) *rtp.Packet {
	t.Helper()
	select {
	case p := <-s.packets:
		return p
	case <-time.After(timeout):
		t.Fatal("no RTP forwarded")
		return nil
	}
}

func TestWHIPForwardsRTPToFFmpegPorts(t *testing.T) {
	video, audio := newUDPSink(t), newUDPSink(t)
	cfg := testConfig()
	cfg.WHIPOutVideoPort, cfg.WHIPOutAudioPort = video.port(), audio.port()
	cfg.WHIPOutSDP = filepath.Join(t.TempDir(), "whip.sdp")
	c, base := startComponent(t, cfg)

	sdp, err := os.ReadFile(cfg.WHIPOutSDP)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"m=video " + strconv.Itoa(video.port()) + " RTP/AVP 96", "a=rtpmap:96 H264/90000",
		"m=audio " + strconv.Itoa(audio.port()) + " RTP/AVP 111", "a=rtpmap:111 opus/48000/2"} {
		if !strings.Contains(string(sdp), want) {
			t.Errorf("SDP file lacks %q:\n%s", want, sdp)
		}
	}

	pub := publish(t, base)
	if !strings.HasPrefix(pub.location, "/whip/") {
		t.Fatalf("Location %q", pub.location)
	}
	// Forwarded RTP: fixed payload types, continuous sequence numbers; the video starts on a
	// keyframe (the publisher's first frame) so FFmpeg can start at once.
	v := video.next(t, 5*time.Second)
	if v.PayloadType != ffmpegVideoPT || !startsKeyframe(v.Payload) {
		t.Errorf("first forwarded video packet: PT %d keyframe start %v", v.PayloadType, startsKeyframe(v.Payload))
	}
	for range 20 {
		n := video.next(t, 2*time.Second)
		if n.SequenceNumber != v.SequenceNumber+1 || n.SSRC != v.SSRC {
			t.Fatalf("video not continuous: seq %d after %d, SSRC %x/%x", n.SequenceNumber, v.SequenceNumber, n.SSRC, v.SSRC)
		}
		v = n
	}
	if a := audio.next(t, 2*time.Second); a.PayloadType != ffmpegAudioPT || len(a.Payload) == 0 {
		t.Errorf("forwarded audio: PT %d, %d bytes", a.PayloadType, len(a.Payload))
	}

	waitFor(t, 3*time.Second, "publisherConnected", func() bool { return c.status().PublisherConnected })
	st := c.status()
	if st.Source != "whip" || !st.Live || st.PacketsToFFmpeg == 0 || st.Keyframes == 0 || st.GOPCachePackets == 0 {
		t.Errorf("status %+v", st)
	}

	// A keyframe on request reaches the publisher as a PLI.
	before := pub.plis.Load()
	if code := httpDo(t, http.MethodPost, base+"/whip/keyframe"); code != http.StatusNoContent {
		t.Fatalf("POST /whip/keyframe: %d", code)
	}
	waitFor(t, 2*time.Second, "PLI at the publisher", func() bool { return pub.plis.Load() > before })

	resp, err := http.Get(base + "/whip/sdp")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /whip/sdp: %v %v", err, resp)
	}
	resp.Body.Close()

	// DELETE ends the session and frees the slot.
	if code := httpDo(t, http.MethodDelete, base+pub.location); code != http.StatusOK {
		t.Fatalf("DELETE: %d", code)
	}
	if code := httpDo(t, http.MethodDelete, base+pub.location); code != http.StatusNotFound {
		t.Fatalf("second DELETE: %d", code)
	}
	if st := c.status(); st.PublisherSession != "" || st.Live {
		t.Errorf("after DELETE: %+v", st)
	}
	if code := httpDo(t, http.MethodPost, base+"/whip/keyframe"); code != http.StatusNotFound {
		t.Errorf("keyframe without publisher: %d", code)
	}
}

func TestWHIPRefusesBadOffers(t *testing.T) {
	_, base := startComponent(t, testConfig())
	_, vp8Offer := newTestPublisher(t, peerCodecs{vp8: true, opus: true})
	_, pcmuOffer := newTestPublisher(t, peerCodecs{h264: true, pcmu: true})
	_, videoOnly := newTestPublisher(t, peerCodecs{h264: true})
	for _, tc := range []struct {
		name, contentType, body string
		code                    int
		message                 string
	}{
		{"no H.264", "application/sdp", vp8Offer, http.StatusNotAcceptable, "no H.264 video"},
		{"no Opus", "application/sdp", pcmuOffer, http.StatusNotAcceptable, "no Opus audio"},
		{"no audio", "application/sdp", videoOnly, http.StatusNotAcceptable, "no Opus audio"},
		{"malformed", "application/sdp", "this is not SDP", http.StatusBadRequest, "malformed SDP"},
		{"no media", "application/sdp", "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n", http.StatusBadRequest, "malformed SDP"},
		{"not SDP", "application/json", "{}", http.StatusUnsupportedMediaType, "application/sdp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, body := postSDP(t, base+"/whip", tc.contentType, tc.body)
			if code != tc.code || !strings.Contains(body, tc.message) {
				t.Errorf("got %d %q, want %d containing %q", code, body, tc.code, tc.message)
			}
		})
	}
}

func TestWHIPSecondPublisherConflicts(t *testing.T) {
	c, base := startComponent(t, testConfig())
	publish(t, base)
	_, offer := newTestPublisher(t, allCodecs)
	code, _, body := postSDP(t, base+"/whip", "application/sdp", offer)
	if code != http.StatusConflict || !strings.Contains(body, "already") {
		t.Errorf("second publisher: %d %q", code, body)
	}
	if code := httpDo(t, http.MethodPatch, base+"/whip/"+c.status().PublisherSession); code != http.StatusMethodNotAllowed {
		t.Errorf("PATCH: %d", code)
	}
}

// The publisher's sender reports reach FFmpeg's RTCP port (forwarded port + 1) under the SSRC of
// the forwarded RTP, so FFmpeg can sync audio and video by wall clock.
func TestWHIPForwardsSenderReports(t *testing.T) {
	port := freeUDPPort(t)
	bind := func(p int) *net.UDPConn {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	media, reports := bind(port), bind(port+1)
	cfg := testConfig()
	cfg.WHIPOutVideoPort = port
	_, base := startComponent(t, cfg)
	publish(t, base)

	buf := make([]byte, 1600)
	_ = media.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := media.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	var p rtp.Packet
	if err := p.Unmarshal(buf[:n]); err != nil {
		t.Fatal(err)
	}
	_ = reports.SetReadDeadline(time.Now().Add(5 * time.Second)) // pion sends one a second
	n, err = reports.Read(buf)
	if err != nil {
		t.Fatalf("no sender report: %v", err)
	}
	pkts, err := rtcp.Unmarshal(buf[:n])
	if err != nil {
		t.Fatal(err)
	}
	sr, ok := pkts[0].(*rtcp.SenderReport)
	if !ok || sr.SSRC != p.SSRC || sr.NTPTime == 0 {
		t.Errorf("got %T %+v, want a sender report for SSRC %x", pkts[0], pkts[0], p.SSRC)
	}
}
