package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"time"
)

// Config is everything the Python ingest worker decides for this process (all from flags).
type Config struct {
	// Control is where the control API listens (no auth: the worker in front does it):
	// "unix:PATH", a socket in a directory only this user may enter (what the worker uses: no other
	// process on the node reaches it, even on the host network), or a loopback host:port (tools and
	// tests: every process of the network namespace reaches that).
	Control string

	// ICEUDP is the one UDP address:port every peer connection shares (ICE UDP mux).
	ICEUDP string
	// ICETCP is the ICE-TCP passive listener (fallback for viewers behind UDP-blocking networks);
	// empty turns ICE-TCP off.
	ICETCP string
	// AdvertiseIPs replace the local addresses in the host candidates (a NodePort or LoadBalancer
	// address), so peers are told an address they can reach rather than the Pod IP.
	AdvertiseIPs []string
	// AdvertiseUDPPort/AdvertiseTCPPort replace the ports in the candidates when the Service maps
	// them (a NodePort); 0 keeps the listening port.
	AdvertiseUDPPort int
	AdvertiseTCPPort int
	// ICEAllowedNets restricts which local IPs gather candidates (and which the UDP mux binds when
	// ICEUDP has no host); empty means every non-loopback address.
	ICEAllowedNets []netip.Prefix
	// ICEInterfaces restricts which interfaces gather candidates; empty means all.
	ICEInterfaces []string

	// WHIPOutVideoPort/WHIPOutAudioPort: 127.0.0.1 ports the WHIP publisher's RTP is forwarded to
	// (FFmpeg reads them through WHIPOutSDP); 0 turns that kind off.
	WHIPOutVideoPort int
	WHIPOutAudioPort int
	// WHIPOutSDP is where the SDP file describing those ports is written (also served at
	// GET /whip/sdp); empty: served only.
	WHIPOutSDP string

	// RTPInVideoPort/RTPInAudioPort: 127.0.0.1 ports where FFmpeg sends H.264/Opus RTP for the
	// WHEP viewers when the source is not WHIP (RTMP, SRT, pull); 0 turns that kind off.
	RTPInVideoPort int
	RTPInAudioPort int
	// RTPInLiveTimeout: the RTP input counts as live while a packet came within this time.
	RTPInLiveTimeout time.Duration

	// KeyframeInterval is how often a PLI asks the WHIP publisher for a keyframe (browsers
	// otherwise send one only when asked; FFmpeg's HLS segments need them); 0: only on request.
	KeyframeInterval time.Duration
	// ViewerPLIMinInterval throttles viewer keyframe requests forwarded to the publisher: all
	// viewers together cause at most one upstream PLI per interval.
	ViewerPLIMinInterval time.Duration
	// MaxViewers caps the connected WHEP viewers (503 beyond); 0: no cap. Offers still waiting
	// for their connection do not count: they have their own budget, MaxPendingViewers.
	MaxViewers int
	// MaxPendingViewers caps the WHEP offers answered but not connected yet (503 beyond), so
	// offers that never connect cannot hold memory or keep real viewers out; 0: no cap.
	MaxPendingViewers int
	// ViewerConnectTimeout: a WHEP offer not connected this long after its answer is dropped.
	ViewerConnectTimeout time.Duration
	// OfferRate/OfferBurst: the token bucket of WHEP offers per client address (clientHeader;
	// 429 beyond); OfferRate 0: no limit.
	OfferRate  float64
	OfferBurst int
	// MaxViewersPerAddress/MaxViewersPerToken cap the WHEP sessions (waiting and connected) of one
	// client address (clientHeader; IPv6 per /64) and of one playback token (tokenHeader), 429
	// beyond, so that one client cannot take the MaxViewers meant for everyone; 0: no cap.
	MaxViewersPerAddress int
	MaxViewersPerToken   int

	LogLevel string
}

// parseConfig reads the flags; args excludes the program name.
func parseConfig(args []string) (Config, error) {
	var c Config
	var advertise, allowed, ifaces string
	fs := flag.NewFlagSet("streamops-webrtc", flag.ContinueOnError)
	fs.StringVar(&c.Control, "control", "127.0.0.1:8190", "control API: unix:PATH (a socket in a directory of mode 0700) or a loopback host:port")
	fs.StringVar(&c.ICEUDP, "ice-udp", ":8189", "UDP address:port shared by all peer connections (ICE UDP mux)")
	fs.StringVar(&c.ICETCP, "ice-tcp", ":8189", "ICE-TCP listener address:port (fallback); empty: off")
	fs.StringVar(&advertise, "advertise-ip", "", "comma-separated IPs put in the host candidates instead of the local ones")
	fs.IntVar(&c.AdvertiseUDPPort, "advertise-udp-port", 0, "UDP port put in the candidates (NodePort); 0: the listening port")
	fs.IntVar(&c.AdvertiseTCPPort, "advertise-tcp-port", 0, "TCP port put in the candidates (NodePort); 0: the listening port")
	fs.StringVar(&allowed, "ice-allow-ip", "", "comma-separated CIDRs of the local IPs that gather candidates; empty: all non-loopback")
	fs.StringVar(&ifaces, "ice-interface", "", "comma-separated interface names that gather candidates; empty: all")
	fs.IntVar(&c.WHIPOutVideoPort, "whip-out-video-port", 0, "127.0.0.1 UDP port the WHIP video RTP is forwarded to; 0: off")
	fs.IntVar(&c.WHIPOutAudioPort, "whip-out-audio-port", 0, "127.0.0.1 UDP port the WHIP audio RTP is forwarded to; 0: off")
	fs.StringVar(&c.WHIPOutSDP, "whip-out-sdp", "", "path of the SDP file FFmpeg reads the forwarded WHIP RTP with")
	fs.IntVar(&c.RTPInVideoPort, "rtp-in-video-port", 0, "127.0.0.1 UDP port receiving H.264 RTP for the viewers; 0: off")
	fs.IntVar(&c.RTPInAudioPort, "rtp-in-audio-port", 0, "127.0.0.1 UDP port receiving Opus RTP for the viewers; 0: off")
	fs.DurationVar(&c.RTPInLiveTimeout, "rtp-in-live-timeout", 3*time.Second, "RTP input is live while packets came within this time")
	fs.DurationVar(&c.KeyframeInterval, "keyframe-interval", 2*time.Second, "PLI to the WHIP publisher this often; 0: only on request")
	fs.DurationVar(&c.ViewerPLIMinInterval, "viewer-pli-min-interval", time.Second, "at most one upstream PLI per interval for all viewers")
	fs.IntVar(&c.MaxViewers, "max-viewers", 500, "maximum connected WHEP viewers (503 beyond); 0: no cap")
	fs.IntVar(&c.MaxPendingViewers, "max-pending-viewers", defaultMaxPendingViewers, "maximum WHEP offers waiting for their connection (503 beyond); 0: no cap")
	fs.DurationVar(&c.ViewerConnectTimeout, "viewer-connect-timeout", defaultViewerConnectTimeout, "a WHEP offer not connected this long after its answer is dropped")
	fs.Float64Var(&c.OfferRate, "whep-offer-rate", defaultOfferRate, "WHEP offers a second per client address (429 beyond the burst); 0: no limit")
	fs.IntVar(&c.OfferBurst, "whep-offer-burst", defaultOfferBurst, "WHEP offers a client address may make at once")
	fs.IntVar(&c.MaxViewersPerAddress, "max-viewers-per-address", defaultMaxViewersPerAddress, "WHEP sessions of one client address (429 beyond); 0: no cap")
	fs.IntVar(&c.MaxViewersPerToken, "max-viewers-per-token", defaultMaxViewersPerToken, "WHEP sessions of one playback token (429 beyond); 0: no cap")
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	c.AdvertiseIPs = splitList(advertise)
	c.ICEInterfaces = splitList(ifaces)
	for _, s := range splitList(allowed) {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return c, fmt.Errorf("--ice-allow-ip: %w", err)
		}
		c.ICEAllowedNets = append(c.ICEAllowedNets, p.Masked())
	}
	return c, c.validate()
}

// controlSocket is the path of a unix:PATH control address ("" for host:port).
func (c Config) controlSocket() string {
	path, _ := strings.CutPrefix(c.Control, "unix:")
	if path == c.Control {
		return ""
	}
	return path
}

func (c Config) validate() error {
	if path := c.controlSocket(); path != "" {
		if !filepath.IsAbs(path) {
			return errors.New("--control unix:PATH needs an absolute path")
		}
	} else {
		host, _, err := net.SplitHostPort(c.Control)
		if err != nil {
			return fmt.Errorf("--control: %w", err)
		}
		// The control API has no auth: it must never be reachable from outside the Pod.
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			return errors.New("--control must be unix:PATH or a loopback IP address (the API has no authentication)")
		}
	}
	if _, _, err := net.SplitHostPort(c.ICEUDP); err != nil {
		return fmt.Errorf("--ice-udp: %w", err)
	}
	if c.ICETCP != "" {
		if _, _, err := net.SplitHostPort(c.ICETCP); err != nil {
			return fmt.Errorf("--ice-tcp: %w", err)
		}
	}
	for _, s := range c.AdvertiseIPs {
		if net.ParseIP(s) == nil {
			return fmt.Errorf("--advertise-ip: %q is not an IP address", s)
		}
	}
	if len(c.AdvertiseIPs) == 0 && (c.AdvertiseUDPPort != 0 || c.AdvertiseTCPPort != 0) {
		return errors.New("--advertise-udp-port/--advertise-tcp-port need --advertise-ip")
	}
	if c.AdvertiseUDPPort != c.AdvertiseTCPPort && c.AdvertiseUDPPort != 0 && c.AdvertiseTCPPort != 0 && c.ICETCP != "" {
		_, up, _ := net.SplitHostPort(c.ICEUDP)
		_, tp, _ := net.SplitHostPort(c.ICETCP)
		if up == tp && up != "0" {
			// pion rewrites candidate ports by the listening port alone, whatever the protocol.
			return errors.New("different --advertise-udp-port and --advertise-tcp-port need different --ice-udp and --ice-tcp ports")
		}
	}
	if c.ViewerConnectTimeout <= 0 {
		return errors.New("--viewer-connect-timeout must be positive")
	}
	if c.OfferRate < 0 || c.OfferBurst < 1 || c.MaxPendingViewers < 0 || c.MaxViewers < 0 || c.MaxViewersPerAddress < 0 || c.MaxViewersPerToken < 0 {
		return errors.New("--whep-offer-rate and the --max-viewers* caps must not be negative, --whep-offer-burst at least 1")
	}
	for _, p := range []int{c.AdvertiseUDPPort, c.AdvertiseTCPPort, c.WHIPOutVideoPort, c.WHIPOutAudioPort, c.RTPInVideoPort, c.RTPInAudioPort} {
		if p < 0 || p > 65535 {
			return fmt.Errorf("port %d out of range", p)
		}
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
