package main

import (
	"fmt"
	"math/rand/v2"
	"net"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// Payload types in the SDP file FFmpeg reads: fixed, whatever the publisher negotiated, so the
// file never changes (the worker can start FFmpeg before the publisher comes).
const (
	ffmpegVideoPT = 96
	ffmpegAudioPT = 111
)

// rtpForwarder sends the WHIP publisher's (renumbered) RTP to FFmpeg on 127.0.0.1, with one SSRC
// per kind for the life of the process, so a publisher reconnect looks like one stream to FFmpeg.
type rtpForwarder struct {
	conns [2]*net.UDPConn
	rtcp  [2]*net.UDPConn // port + 1: sender reports, so FFmpeg syncs audio and video by wall clock
	ssrc  [2]uint32
	pt    [2]uint8
	buf   []byte // used under hub.mu only
	st    *counters
}

func newRTPForwarder(videoPort, audioPort int, st *counters) (*rtpForwarder, error) {
	f := &rtpForwarder{ssrc: [2]uint32{rand.Uint32(), rand.Uint32()}, pt: [2]uint8{ffmpegVideoPT, ffmpegAudioPT}, buf: make([]byte, 1500), st: st}
	for kind, port := range [2]int{videoPort, audioPort} {
		if port == 0 {
			continue
		}
		c, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
		if err != nil {
			f.close()
			return nil, fmt.Errorf("forward %s RTP: %w", mediaKind(kind), err)
		}
		f.conns[kind] = c
		if f.rtcp[kind], err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port + 1}); err != nil {
			f.close()
			return nil, fmt.Errorf("forward %s RTCP: %w", mediaKind(kind), err)
		}
	}
	return f, nil
}

// send is called under hub.mu (it reuses one buffer). A send error (FFmpeg not listening yet)
// is not ours to handle: FFmpeg starts on the next keyframe it gets.
func (f *rtpForwarder) send(kind mediaKind, p *rtp.Packet) {
	c := f.conns[kind]
	if c == nil {
		return
	}
	h := p.Header
	h.SSRC, h.PayloadType = f.ssrc[kind], f.pt[kind]
	n, err := h.MarshalTo(f.buf)
	if err != nil || n+len(p.Payload) > len(f.buf) {
		return
	}
	n += copy(f.buf[n:], p.Payload)
	if _, err := c.Write(f.buf[:n]); err == nil {
		f.st.packetsToFFmpeg.Add(1)
		f.st.bytesToFFmpeg.Add(uint64(len(p.Payload)))
	}
}

// sendSenderReport passes the publisher's wall-clock/RTP-time pair on (rtpTime already in the
// renumbered timeline). Without it FFmpeg starts each stream's clock at its first packet, and the
// audio/video offset of a recording would be whatever the first packets' arrival made it.
func (f *rtpForwarder) sendSenderReport(kind mediaKind, ntpTime uint64, rtpTime uint32) {
	c := f.rtcp[kind]
	if c == nil {
		return
	}
	b, err := (&rtcp.SenderReport{SSRC: f.ssrc[kind], NTPTime: ntpTime, RTPTime: rtpTime}).Marshal()
	if err == nil {
		_, _ = c.Write(b)
	}
}

func (f *rtpForwarder) close() {
	for _, c := range append(f.conns[:], f.rtcp[:]...) {
		if c != nil {
			_ = c.Close()
		}
	}
}

// ffmpegSDP describes the forwarded RTP for `ffmpeg -protocol_whitelist file,udp,rtp -i x.sdp`.
// FFmpeg listens on each port and the next one (RTCP): the ports must be two apart at least.
func ffmpegSDP(videoPort, audioPort int) string {
	s := "v=0\r\n" +
		"o=- 0 0 IN IP4 127.0.0.1\r\n" +
		"s=streamops-webrtc WHIP\r\n" +
		"c=IN IP4 127.0.0.1\r\n" +
		"t=0 0\r\n"
	if videoPort != 0 {
		s += fmt.Sprintf("m=video %d RTP/AVP %d\r\n", videoPort, ffmpegVideoPT) +
			fmt.Sprintf("a=rtpmap:%d H264/90000\r\n", ffmpegVideoPT) +
			fmt.Sprintf("a=fmtp:%d packetization-mode=1\r\n", ffmpegVideoPT)
	}
	if audioPort != 0 {
		s += fmt.Sprintf("m=audio %d RTP/AVP %d\r\n", audioPort, ffmpegAudioPT) +
			fmt.Sprintf("a=rtpmap:%d opus/48000/2\r\n", ffmpegAudioPT)
	}
	return s
}
