// Command whep-load opens many receive-only WebRTC viewers in one process, on 127.0.0.1 only, of
// either a streamops-webrtc (`--target whep`: WHEP, POST offer → answer) or a Janus streaming
// mountpoint (`--target janus`: Janus's HTTP API, `watch` → Janus's offer → answer with `start`,
// keepalives). Each viewer receives and decrypts (SRTP) but does not decode: what a real viewer
// costs the server, without paying for decoders here. The receiving side is the same code for both
// targets; only the signalling differs.
//
// It prints JSON lines on stdout, so a benchmark can measure the server over the same window:
//
//	{"event":"joined",…}        every viewer connected or refused (or the join timeout passed)
//	{"event":"window-start"}    the first snapshot of the counters was taken
//	{"event":"result",…}        the second one: the summary and every viewer's counters
//
// Bounded: the whole run takes at most --join-timeout + --settle + --window (≤ 60 s), then every
// session is ended (WHEP DELETE, Janus destroy) and every peer connection closed. A run in which no
// viewer connected (every offer refused) has no settle and no window: its result comes at once.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"slices"
	"sync"
	"time"
)

// result is the last line: what every viewer received over the window.
type result struct {
	Event          string        `json:"event"`
	Target         string        `json:"target"`
	Viewers        int           `json:"viewers"`
	Connected      int           `json:"connected"`
	JoinErrors     int           `json:"joinErrors"`
	FirstJoinError string        `json:"firstJoinError,omitempty"`
	JoinSecondsAll float64       `json:"joinSecondsAll"`
	WindowSeconds  float64       `json:"windowSeconds"`
	FPSMin         float64       `json:"fpsMin"`
	FPSMedian      float64       `json:"fpsMedian"`
	FPSMax         float64       `json:"fpsMax"`
	AudioPPSMin    float64       `json:"audioPacketsPerSecondMin"`
	MbitPerViewer  float64       `json:"mbitPerViewer"`
	MbitTotal      float64       `json:"mbitTotal"`
	LostPackets    int64         `json:"lostPackets"` // sequence gaps over the window, all viewers
	PerViewer      []viewerDelta `json:"perViewer"`
}

// viewerDelta: one viewer's counters over the window (Frames: video timestamp changes).
type viewerDelta struct {
	Connected    bool    `json:"connected"`
	VideoPackets int64   `json:"videoPackets"`
	VideoBytes   int64   `json:"videoBytes"`
	Frames       int64   `json:"frames"`
	Markers      int64   `json:"markers"`
	AudioPackets int64   `json:"audioPackets"`
	AudioBytes   int64   `json:"audioBytes"`
	Lost         int64   `json:"lost"`
	FirstVideoS  float64 `json:"firstVideoSeconds"` // join start → first video packet; -1: none
}

// signaller negotiates one viewer's peer connection with a server.
type signaller interface {
	join(ctx context.Context, v *viewer) error
	leave(ctx context.Context, v *viewer)
}

func main() {
	target := flag.String("target", "whep", "whep (streamops-webrtc) or janus (Janus streaming plugin)")
	url := flag.String("url", "http://127.0.0.1:8190", "whep: the control API (POST /whep); janus: the HTTP API root (…/janus)")
	mountpoint := flag.Int("mountpoint", 1, "janus: the streaming mountpoint id to watch")
	n := flag.Int("viewers", 10, "number of viewers")
	window := flag.Duration("window", 20*time.Second, "measuring window once all viewers are connected")
	settle := flag.Duration("settle", 2*time.Second, "wait after the last join before the window (past the join bursts)")
	joinTimeout := flag.Duration("join-timeout", 25*time.Second, "give up waiting for viewers to connect after this")
	parallel := flag.Int("parallel", 4, "joins in flight at once")
	iceIP := flag.String("ice-ip", "127.0.0.1", "the viewers' one ICE address (in 127.0.0.0/8)")
	flag.BoolVar(&debugSDP, "debug-sdp", false, "print every offer and answer on stderr")
	flag.Parse()
	if *window+*settle+*joinTimeout > 60*time.Second {
		fail(fmt.Errorf("--join-timeout + --settle + --window must be at most 60s"))
	}
	var sig signaller
	switch *target {
	case "whep":
		sig = &whep{url: *url}
	case "janus":
		sig = &janus{url: *url, mountpoint: *mountpoint}
	default:
		fail(fmt.Errorf("--target: whep or janus, not %q", *target))
	}
	ip := net.ParseIP(*iceIP)
	if ip == nil || ip.To4() == nil || !ip.IsLoopback() {
		fail(fmt.Errorf("--ice-ip: an IPv4 address in 127.0.0.0/8, not %q", *iceIP))
	}
	api, err := newAPI(ip)
	if err != nil {
		fail(err)
	}

	start := time.Now()
	joinCtx, cancelJoin := context.WithTimeout(context.Background(), *joinTimeout)
	defer cancelJoin()
	viewers := make([]*viewer, *n)
	errs := make([]error, *n)
	var wg sync.WaitGroup
	slots := make(chan struct{}, max(1, *parallel))
	for i := range viewers {
		viewers[i] = newViewer(api)
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			select {
			case slots <- struct{}{}:
			case <-joinCtx.Done():
				errs[i] = joinCtx.Err()
				return
			}
			defer func() { <-slots }()
			errs[i] = viewers[i].start(joinCtx, sig)
		}(i)
	}
	defer func() { // end every session, bounded, whatever happened
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var done sync.WaitGroup
		for _, v := range viewers {
			done.Add(1)
			go func() { defer done.Done(); v.stop(ctx, sig) }()
		}
		done.Wait()
	}()
	wg.Wait()
	// A viewer whose start failed (a refused offer) never connects: waited for, it held a refused
	// run for the whole join timeout.
	startFailed := 0
	for _, e := range errs {
		if e != nil {
			startFailed++
		}
	}
	for countConnected(viewers) < *n-startFailed && joinCtx.Err() == nil {
		select {
		case <-joinCtx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	joined := time.Since(start)
	joinErrors, firstErr := 0, ""
	for _, e := range errs {
		if e != nil {
			joinErrors++
			if firstErr == "" {
				firstErr = e.Error()
			}
		}
	}
	emit(map[string]any{"event": "joined", "connected": countConnected(viewers), "viewers": *n,
		"joinErrors": joinErrors, "seconds": joined.Seconds()})

	// No viewer connected: nothing to settle or measure (a refused run ends here, its rates 0).
	measuring := countConnected(viewers) > 0
	if measuring {
		time.Sleep(*settle)
	}
	before := snapshot(viewers)
	t0 := time.Now()
	emit(map[string]any{"event": "window-start"})
	if measuring {
		time.Sleep(*window)
	}
	after := snapshot(viewers)
	secs := max(time.Since(t0).Seconds(), 1e-9) // never 0: the rates divide by it

	r := result{Event: "result", Target: *target, Viewers: *n, Connected: countConnected(viewers),
		JoinErrors: joinErrors, FirstJoinError: firstErr, JoinSecondsAll: joined.Seconds(), WindowSeconds: secs}
	var fps, aps []float64
	var total int64
	for i, v := range viewers {
		d := after[i].minus(before[i])
		d.Connected = v.connected.Load()
		d.FirstVideoS = v.firstVideoSeconds()
		r.PerViewer = append(r.PerViewer, d)
		fps = append(fps, float64(d.Frames)/secs)
		aps = append(aps, float64(d.AudioPackets)/secs)
		total += d.VideoBytes + d.AudioBytes
		r.LostPackets += d.Lost
	}
	slices.Sort(fps)
	slices.Sort(aps)
	if len(fps) > 0 {
		r.FPSMin, r.FPSMedian, r.FPSMax = fps[0], fps[len(fps)/2], fps[len(fps)-1]
		r.AudioPPSMin = aps[0]
		r.MbitTotal = float64(total) * 8 / secs / 1e6
		r.MbitPerViewer = r.MbitTotal / float64(len(fps))
	}
	emit(r)
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

func snapshot(vs []*viewer) []viewerDelta {
	out := make([]viewerDelta, len(vs))
	for i, v := range vs {
		out[i] = v.counters()
	}
	return out
}

func (a viewerDelta) minus(b viewerDelta) viewerDelta {
	return viewerDelta{
		VideoPackets: a.VideoPackets - b.VideoPackets, VideoBytes: a.VideoBytes - b.VideoBytes,
		Frames: a.Frames - b.Frames, Markers: a.Markers - b.Markers,
		AudioPackets: a.AudioPackets - b.AudioPackets, AudioBytes: a.AudioBytes - b.AudioBytes,
		Lost: a.Lost - b.Lost,
	}
}

var (
	stdout   = json.NewEncoder(os.Stdout)
	debugSDP bool
)

func emit(v any) {
	if err := stdout.Encode(v); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "whep-load:", err)
	os.Exit(1)
}
