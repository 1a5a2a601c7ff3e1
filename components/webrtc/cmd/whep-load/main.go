// Command whep-load opens many WHEP viewers of a streamops-webrtc in one process, on 127.0.0.1
// only. Each viewer receives and decrypts (SRTP) but does not decode: what a real viewer costs
// the server, without paying for decoders here. It prints one JSON line: the viewers connected and
// the frames and bits each received per second over the measuring window.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"
)

type viewer struct {
	pc        *webrtc.PeerConnection
	connected atomic.Bool
	frames    atomic.Int64 // video packets with the marker bit: one per frame
	bytes     atomic.Int64
}

type result struct {
	Viewers        int     `json:"viewers"`
	Connected      int     `json:"connected"`
	WindowSeconds  float64 `json:"windowSeconds"`
	FPSMin         float64 `json:"fpsMin"`
	FPSMedian      float64 `json:"fpsMedian"`
	FPSMax         float64 `json:"fpsMax"`
	MbitPerViewer  float64 `json:"mbitPerViewer"`
	MbitTotal      float64 `json:"mbitTotal"`
	JoinSecondsAll float64 `json:"joinSecondsAll"`
}

func main() {
	url := flag.String("url", "http://127.0.0.1:8190", "control API of streamops-webrtc (POST /whep)")
	n := flag.Int("viewers", 10, "number of viewers")
	window := flag.Duration("window", 15*time.Second, "measuring window once all viewers are connected")
	ramp := flag.Duration("ramp", 20*time.Millisecond, "pause between two joins")
	flag.Parse()
	if *window > 50*time.Second {
		fail(fmt.Errorf("--window at most 50s"))
	}
	api := newAPI()
	start := time.Now()
	viewers := make([]*viewer, 0, *n)
	defer func() {
		for _, v := range viewers {
			_ = v.pc.Close()
		}
	}()
	for range *n {
		v, err := join(api, *url)
		if err != nil {
			fail(err)
		}
		viewers = append(viewers, v)
		time.Sleep(*ramp)
	}
	deadline := time.Now().Add(15 * time.Second)
	for countConnected(viewers) < len(viewers) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	joined := time.Since(start)
	time.Sleep(time.Second) // past the GOP-cache bursts
	before := snapshot(viewers)
	t0 := time.Now()
	time.Sleep(*window)
	after := snapshot(viewers)
	secs := time.Since(t0).Seconds()
	var fps []float64
	var total int64
	for i := range viewers {
		fps = append(fps, float64(after[i][0]-before[i][0])/secs)
		total += after[i][1] - before[i][1]
	}
	slices.Sort(fps)
	r := result{
		Viewers: len(viewers), Connected: countConnected(viewers), WindowSeconds: secs,
		FPSMin: fps[0], FPSMedian: fps[len(fps)/2], FPSMax: fps[len(fps)-1],
		MbitTotal: float64(total) * 8 / secs / 1e6, JoinSecondsAll: joined.Seconds(),
	}
	r.MbitPerViewer = r.MbitTotal / float64(len(viewers))
	_ = json.NewEncoder(os.Stdout).Encode(r)
}

// newAPI: loopback host candidates only, no mDNS, no interceptors (no NACK, no reports: the
// cheapest honest receiver).
func newAPI() *webrtc.API {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		fail(err)
	}
	var s webrtc.SettingEngine
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelError
	s.LoggerFactory = lf
	s.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	s.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	s.SetIncludeLoopbackCandidate(true)
	s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(s), webrtc.WithInterceptorRegistry(&interceptor.Registry{}))
}

func join(api *webrtc.API, url string) (*viewer, error) {
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	v := &viewer{pc: pc}
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			return nil, err
		}
	}
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		v.connected.Store(s == webrtc.PeerConnectionStateConnected)
	})
	pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		video := t.Kind() == webrtc.RTPCodecTypeVideo
		go func() {
			for {
				p, _, err := t.ReadRTP()
				if err != nil {
					return
				}
				if video {
					v.bytes.Add(int64(len(p.Payload)))
					if p.Marker {
						v.frames.Add(1)
					}
				}
			}
		}()
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return nil, err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return nil, err
	}
	<-gathered
	resp, err := http.Post(url+"/whep", "application/sdp", bytes.NewBufferString(pc.LocalDescription().SDP))
	if err != nil {
		return nil, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return nil, fmt.Errorf("POST /whep: %d %s", resp.StatusCode, body)
	}
	return v, pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(body)})
}

func countConnected(vs []*viewer) int {
	n := 0
	for _, v := range vs {
		if v.connected.Load() {
			n++
		}
	}
	return n
}

func snapshot(vs []*viewer) [][2]int64 {
	out := make([][2]int64, len(vs))
	for i, v := range vs {
		out[i] = [2]int64{v.frames.Load(), v.bytes.Load()}
	}
	return out
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "whep-load:", err)
	os.Exit(1)
}
