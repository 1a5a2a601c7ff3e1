package main

import (
	"fmt"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"
)

// Payload types of the codecs we answer with. Only H.264 (packetization-mode 1, the one that
// fragments) and Opus: what the hosted platform takes over WHIP and what every browser plays.
var h264Profiles = []struct {
	pt             webrtc.PayloadType
	profileLevelID string
}{
	{102, "42001f"}, // baseline
	{106, "42e01f"}, // constrained baseline (browsers' default)
	{127, "4d001f"}, // main
	{112, "64001f"}, // high (x264's default; Chromium decodes it)
}

const (
	opusPT        = 111
	h264FmtpStart = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id="
	opusFmtp      = "minptime=10;useinbandfec=1"
)

// trackH264 and trackOpus are the capabilities of the tracks we send to viewers; pion matches
// them against the viewer's offer (falling back to the mime type for another H.264 profile).
var (
	trackH264 = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: h264FmtpStart + "42e01f"}
	trackOpus = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: opusFmtp}
)

// newAPI builds the one pion API every peer connection (publisher and viewers) comes from.
func newAPI(s webrtc.SettingEngine, lf logging.LoggerFactory) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	videoFeedback := []webrtc.RTCPFeedback{{Type: "ccm", Parameter: "fir"}, {Type: "nack"}, {Type: "nack", Parameter: "pli"}}
	for _, p := range h264Profiles {
		err := m.RegisterCodec(webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{
				MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: h264FmtpStart + p.profileLevelID, RTCPFeedback: videoFeedback,
			},
			PayloadType: p.pt,
		}, webrtc.RTPCodecTypeVideo)
		if err != nil {
			return nil, fmt.Errorf("register H.264: %w", err)
		}
	}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: trackOpus, PayloadType: opusPT}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("register Opus: %w", err)
	}
	reg := &interceptor.Registry{}
	// NACK: ask the publisher to resend what we lost, and resend to viewers what they lost (a
	// small per-viewer history: 256 packets ≈ 0.8 s of 2.5 Mbit/s video).
	responderOpts := []nack.ResponderOption{nack.ResponderSize(256), nack.WithResponderLoggerFactory(lf)}
	if err := webrtc.ConfigureNackWithOptions(m, reg, nil, responderOpts...); err != nil {
		return nil, err
	}
	// Sender/receiver reports: viewers need SRs for lip sync; publishers expect RRs.
	if err := webrtc.ConfigureRTCPReports(reg); err != nil {
		return nil, err
	}
	// Transport-wide CC feedback to the publisher: without it a browser's bandwidth estimator
	// stays near its start bitrate.
	if err := webrtc.ConfigureTWCCSender(m, reg); err != nil {
		return nil, err
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(s), webrtc.WithInterceptorRegistry(reg)), nil
}
