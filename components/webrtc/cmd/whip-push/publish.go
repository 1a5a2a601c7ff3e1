package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/logging"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

const (
	h264PT        = 102
	opusPT        = 111
	gatherTimeout = 10 * time.Second
	httpTimeout   = 15 * time.Second
	deleteTimeout = 5 * time.Second
)

var loopbackNet = netip.MustParsePrefix("127.0.0.0/8")

// publisher: the peer connection, its two tracks, the RTP input sockets and the counters.
type publisher struct {
	cfg    config
	logf   func(format string, args ...any)
	status *statusWriter
	client *http.Client
	pc     *webrtc.PeerConnection
	video  *webrtc.TrackLocalStaticRTP
	audio  *webrtc.TrackLocalStaticRTP
	conns  []*net.UDPConn // video, video RTCP, audio, audio RTCP
	states chan webrtc.PeerConnectionState
	done   chan struct{} // closed when the publisher ends (closed or abandoned)
	ended  sync.Once
	once   sync.Once
	wg     sync.WaitGroup

	connectedOnce                    atomic.Bool // RTP is forwarded from the first connection on
	videoPackets, audioPackets       atomic.Int64
	bytesSent, dropped, keyframeReqs atomic.Int64
}

// run publishes until a signal (ctx) or the end of the connection; the exit code.
func run(ctx context.Context, cfg config, stderr io.Writer) int {
	logf := func(format string, args ...any) { fmt.Fprintf(stderr, "whip-push: "+format+"\n", args...) }
	st := &statusWriter{path: cfg.statusFile, logf: logf, s: status{VideoPort: cfg.videoPort, AudioPort: cfg.audioPort}}
	defer st.finish() // last: pion's late callbacks write nothing after run returned
	p, err := newPublisher(cfg, st, logf)
	if err != nil {
		logf("%v", err)
		st.update(func(s *status) { s.Error = err.Error() })
		return exitError
	}
	st.counters = p.counters
	abandoned := false
	defer func() {
		if !abandoned {
			p.close()
			st.update(func(s *status) { s.State, s.Connected = webrtc.PeerConnectionStateClosed.String(), false })
		}
	}()
	p.start()
	st.update(func(s *status) { s.State = "new" }) // the ports are bound: FFmpeg may start

	code, err := p.publish(ctx)
	if err != nil {
		logf("%v", err)
		st.update(func(s *status) { s.Error = err.Error() })
		return code
	}
	if code != 0 {
		return code
	}
	if p.status.location() == "" { // a signal came before the answer: no session to DELETE
		return exitOK
	}

	var timeout <-chan time.Time
	if cfg.connectTimeout > 0 {
		t := time.NewTimer(cfg.connectTimeout)
		defer t.Stop()
		timeout = t.C
	}
	for {
		select {
		case <-ctx.Done():
			if cfg.noDelete {
				// Gone without a word: no DELETE, no DTLS close_notify; the server finds out when
				// ICE times out. The sockets close when the process exits.
				abandoned = true
				p.abandon()
				if cfg.vanished != nil {
					cfg.vanished(p.pc)
				}
				logf("exiting without DELETE (--no-delete)")
				return exitOK
			}
			p.deleteSession()
			return exitOK
		case s := <-p.states:
			switch s {
			case webrtc.PeerConnectionStateConnected:
				timeout = nil
			case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
				logf("the peer connection %s", s)
				p.deleteSession()
				return exitNoMedia
			}
		case <-timeout:
			logf("the peer connection is not up %s after the answer", cfg.connectTimeout)
			st.update(func(s *status) { s.Error = "not connected within --connect-timeout" })
			p.deleteSession()
			return exitNoMedia
		}
	}
}

func newPublisher(cfg config, st *statusWriter, logf func(string, ...any)) (*publisher, error) {
	p := &publisher{cfg: cfg, logf: logf, status: st, client: newHTTPClient(cfg),
		states: make(chan webrtc.PeerConnectionState, 16), done: make(chan struct{})}
	for _, port := range []int{cfg.videoPort, cfg.videoPort + 1, cfg.audioPort, cfg.audioPort + 1} {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
		if err != nil {
			p.closeInputs()
			return nil, fmt.Errorf("bind 127.0.0.1:%d/udp: %w", port, err)
		}
		_ = c.SetReadBuffer(1 << 20) // a keyframe's burst (capped by net.core.rmem_max)
		p.conns = append(p.conns, c)
	}
	api, err := newAPI(cfg)
	if err != nil {
		p.closeInputs()
		return nil, err
	}
	if p.pc, err = api.NewPeerConnection(webrtc.Configuration{}); err != nil { // no ICE servers: no STUN, no TURN
		p.closeInputs()
		return nil, err
	}
	p.pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		st.update(func(x *status) {
			x.State = s.String()
			x.Connected = s == webrtc.PeerConnectionStateConnected
		})
		if s == webrtc.PeerConnectionStateConnected && !p.connectedOnce.Swap(true) {
			logf("connected")
		}
		select {
		case p.states <- s:
		case <-p.done:
		}
	})
	h264, opus := codecs(cfg.profileLevelID)
	if p.video, err = p.addTrack(h264.RTPCodecCapability, "video", true); err == nil {
		p.audio, err = p.addTrack(opus.RTPCodecCapability, "audio", false)
	}
	if err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

// codecs: what the offer has, one format each (the server picks nothing else).
func codecs(profileLevelID string) (h264, opus webrtc.RTPCodecParameters) {
	fb := []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"}}
	h264 = webrtc.RTPCodecParameters{PayloadType: h264PT, RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeH264, ClockRate: 90000, RTCPFeedback: fb,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=" + profileLevelID}}
	opus = webrtc.RTPCodecParameters{PayloadType: opusPT, RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}}
	return h264, opus
}

// newAPI: host candidates on local IPs in --ice-allow-ip only, IPv4, UDP (or TCP only), no mDNS;
// NACKs answered from a history, sender reports sent (the server passes them on for A/V sync).
func newAPI(cfg config) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	h264, opus := codecs(cfg.profileLevelID)
	if err := m.RegisterCodec(h264, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, err
	}
	if err := m.RegisterCodec(opus, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	reg := &interceptor.Registry{}
	if err := webrtc.ConfigureNack(m, reg); err != nil {
		return nil, err
	}
	if err := webrtc.ConfigureRTCPReports(reg); err != nil {
		return nil, err
	}
	var s webrtc.SettingEngine
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelError
	s.LoggerFactory = lf
	s.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	nets := cfg.allowNets
	s.SetIPFilter(func(ip net.IP) bool { return allowed(nets, ip) })
	for _, n := range nets {
		if n.Overlaps(loopbackNet) {
			s.SetIncludeLoopbackCandidate(true)
		}
	}
	if cfg.tcpOnly {
		s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeTCP4})
	} else {
		s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(s), webrtc.WithInterceptorRegistry(reg)), nil
}

func allowed(nets []netip.Prefix, ip net.IP) bool {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return false
	}
	a = a.Unmap()
	for _, n := range nets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// newHTTPClient: to --url only: no proxy, no redirect followed (a 3xx is an answer like any
// other non-201).
func newHTTPClient(cfg config) *http.Client {
	return &http.Client{
		Timeout:       httpTimeout,
		Transport:     &http.Transport{Proxy: nil, TLSClientConfig: cfg.tlsConfig},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// addTrack adds one sendonly track and reads its RTCP (the interceptors need it read; keyframe
// requests are counted: an encoder behind RTP cannot be asked).
func (p *publisher) addTrack(c webrtc.RTPCodecCapability, id string, video bool) (*webrtc.TrackLocalStaticRTP, error) {
	track, err := webrtc.NewTrackLocalStaticRTP(c, id, "whip-push")
	if err != nil {
		return nil, err
	}
	tr, err := p.pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		return nil, err
	}
	sender := tr.Sender()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			pkts, _, err := sender.ReadRTCP()
			if err != nil {
				return
			}
			for _, pkt := range pkts {
				switch pkt.(type) {
				case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
					if video {
						p.keyframeReqs.Add(1)
					}
				}
			}
		}
	}()
	return track, nil
}

// start reads the RTP input ports (forwarding once connected) and discards what comes to their
// RTCP neighbours (FFmpeg's sender reports: bound so FFmpeg gets no "connection refused").
func (p *publisher) start() {
	for i, c := range p.conns {
		p.wg.Add(1)
		switch i {
		case 0:
			go p.forward(c, p.video, true)
		case 2:
			go p.forward(c, p.audio, false)
		default:
			go p.discard(c)
		}
	}
	p.wg.Add(1)
	go p.writeStatusPeriodically()
}

func (p *publisher) discard(c *net.UDPConn) {
	defer p.wg.Done()
	buf := make([]byte, 1500)
	for {
		if _, _, err := c.ReadFromUDP(buf); err != nil {
			return
		}
	}
}

// forward writes each RTP packet to the track (which puts the negotiated SSRC and payload type in
// it). Before the first connection everything is dropped; video then starts at a keyframe.
func (p *publisher) forward(c *net.UDPConn, track *webrtc.TrackLocalStaticRTP, video bool) {
	defer p.wg.Done()
	buf := make([]byte, 1600)
	var pkt rtp.Packet
	waitKeyframe := video
	for {
		n, _, err := c.ReadFromUDP(buf)
		if err != nil {
			return
		}
		if pkt.Unmarshal(buf[:n]) != nil || !p.connectedOnce.Load() || (waitKeyframe && !keyframeStart(pkt.Payload)) {
			p.dropped.Add(1)
			continue
		}
		waitKeyframe = false
		size := int64(len(pkt.Payload))
		if err := track.WriteRTP(&pkt); err != nil {
			p.dropped.Add(1)
			continue
		}
		if video {
			p.videoPackets.Add(1)
		} else {
			p.audioPackets.Add(1)
		}
		p.bytesSent.Add(size)
	}
}

// keyframeStart: an H.264 RTP payload (packetization-mode 1) that starts a keyframe: an SPS, an
// IDR, a STAP-A holding either, the first fragment (FU-A) of an IDR.
func keyframeStart(payload []byte) bool {
	if len(payload) < 2 {
		return len(payload) == 1 && isKeyNAL(payload[0])
	}
	switch payload[0] & 0x1f {
	case 24: // STAP-A: [size(2) NAL]...
		for rest := payload[1:]; len(rest) > 2; {
			size := int(rest[0])<<8 | int(rest[1])
			if size == 0 || size > len(rest)-2 {
				return false
			}
			if isKeyNAL(rest[2]) {
				return true
			}
			rest = rest[2+size:]
		}
		return false
	case 28: // FU-A: start bit and the fragmented NAL's type
		return payload[1]&0x80 != 0 && payload[1]&0x1f == 5
	default:
		return isKeyNAL(payload[0])
	}
}

func isKeyNAL(header byte) bool {
	t := header & 0x1f
	return t == 5 || t == 7
}

func (p *publisher) counters() (video, audio, bytes, dropped, keyframeReqs int64) {
	return p.videoPackets.Load(), p.audioPackets.Load(), p.bytesSent.Load(), p.dropped.Load(), p.keyframeReqs.Load()
}

// writeStatusPeriodically keeps the counters in the status file fresh (4 times a second, only
// when they moved).
func (p *publisher) writeStatusPeriodically() {
	defer p.wg.Done()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-p.done:
			return
		case <-tick.C:
			p.status.refresh()
		}
	}
}

// publish: the offer (every candidate in it), POST, the answer applied. (0, nil) when the
// answer is applied; (0, nil) too when a signal came before the answer (nothing to delete);
// (exitRefused, nil) on a non-201 (printed); (code, err) otherwise.
func (p *publisher) publish(ctx context.Context) (int, error) {
	offer, err := p.pc.CreateOffer(nil)
	if err != nil {
		return exitError, err
	}
	gathered := webrtc.GatheringCompletePromise(p.pc)
	if err := p.pc.SetLocalDescription(offer); err != nil {
		return exitError, err
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return exitOK, nil
	case <-time.After(gatherTimeout):
		return exitError, errors.New("ICE gathering did not complete in 10s")
	}
	sdp := p.pc.LocalDescription().SDP
	if !p.cfg.tcpOnly && !strings.Contains(sdp, "a=candidate:") {
		return exitError, fmt.Errorf("no ICE candidate: no local IPv4 address in --ice-allow-ip %v", p.cfg.allowNets)
	}
	if p.cfg.debugSDP {
		p.logf("offer:\n%s", sdp)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.cfg.url.String(), strings.NewReader(sdp))
	if err != nil {
		return exitError, err
	}
	req.Header.Set("Content-Type", "application/sdp")
	p.authorize(req)
	resp, err := p.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return exitOK, nil
		}
		return exitError, fmt.Errorf("POST: %w", err)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		return exitError, fmt.Errorf("POST: reading the answer: %w", err)
	}
	if resp.StatusCode != http.StatusCreated {
		text := string(bytes.TrimSpace(body))
		p.logf("%d %s", resp.StatusCode, text)
		p.status.update(func(s *status) { s.Status, s.Body = resp.StatusCode, text })
		return exitRefused, nil
	}
	loc, err := p.location(resp.Header.Get("Location"))
	p.status.update(func(s *status) { s.Status = resp.StatusCode; s.Location = loc })
	if err != nil {
		return exitError, err
	}
	p.logf("201, session %s", loc)
	if p.cfg.debugSDP {
		p.logf("answer:\n%s", body)
	}
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(body)}); err != nil {
		p.deleteSession()
		return exitError, fmt.Errorf("the answer does not apply: %w", err)
	}
	return exitOK, nil
}

// location resolves the Location header against --url (a WHIP server may answer a relative one).
func (p *publisher) location(header string) (string, error) {
	if header == "" {
		return "", errors.New("201 without a Location header: no session resource to DELETE")
	}
	ref, err := url.Parse(header)
	if err != nil {
		return "", fmt.Errorf("201 with a malformed Location %q: %w", header, err)
	}
	return p.cfg.url.ResolveReference(ref).String(), nil
}

func (p *publisher) authorize(req *http.Request) {
	if p.cfg.token != "" {
		req.Header.Set("Authorization", "Bearer "+p.cfg.token)
	}
}

// deleteSession ends the session on the server (RFC 9725: DELETE of the resource, authorized
// like the POST); the answer's status goes into the status file.
func (p *publisher) deleteSession() {
	loc := p.status.location()
	if loc == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), deleteTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, loc, nil)
	if err != nil {
		p.logf("DELETE %s: %v", loc, err)
		return
	}
	p.authorize(req)
	resp, err := p.client.Do(req)
	if err != nil {
		p.logf("DELETE %s: %v", loc, err)
		p.status.update(func(s *status) { s.Error = "DELETE: " + err.Error() })
		return
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	p.status.update(func(s *status) { s.DeleteStatus = resp.StatusCode })
	if resp.StatusCode/100 != 2 {
		p.logf("DELETE %s: %d %s", loc, resp.StatusCode, bytes.TrimSpace(body))
		return
	}
	p.logf("DELETE %s: %d", loc, resp.StatusCode)
}

// closeInputs stops reading RTP (the forwarders end).
func (p *publisher) closeInputs() {
	for _, c := range p.conns {
		_ = c.Close()
	}
}

// abandon stops reading RTP and writing the status file but leaves the peer connection open.
func (p *publisher) abandon() {
	p.ended.Do(func() { close(p.done) })
	p.closeInputs()
}

// close ends everything: the inputs, the peer connection (DTLS close_notify), the goroutines;
// the status file gets its last counters.
func (p *publisher) close() {
	p.once.Do(func() {
		p.abandon()
		if p.pc != nil {
			_ = p.pc.Close()
		}
		p.wg.Wait()
		p.status.refresh()
	})
}
