package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/pion/webrtc/v4"
)

// whep: the viewer offers (recvonly video + audio), POST /whep answers (the WHEP draft: 201, the
// answer with every candidate, Location of the session resource, DELETEd at the end).
type whep struct{ url string }

func (w *whep) join(ctx context.Context, v *viewer) error {
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := v.pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			return err
		}
	}
	offer, err := v.pc.CreateOffer(nil)
	if err != nil {
		return err
	}
	sdp, err := gatheredSDP(ctx, v.pc, offer)
	if err != nil {
		return err
	}
	// Through the ingest worker the offers of one address are rate limited (429 with Retry-After):
	// a load of many viewers from 127.0.0.1 waits its turn as a browser would.
	var resp *http.Response
	var body []byte
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url+"/whep", bytes.NewBufferString(sdp))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/sdp")
		if resp, err = client.Do(req); err != nil {
			return err
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests {
			break
		}
		wait, err := strconv.Atoi(resp.Header.Get("Retry-After"))
		if err != nil || wait < 1 {
			wait = 1
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("POST /whep: 429 until the end: %w", ctx.Err())
		case <-time.After(time.Duration(wait) * time.Second):
		}
	}
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("POST /whep: %d %s", resp.StatusCode, bytes.TrimSpace(body))
	}
	if loc := resp.Header.Get("Location"); loc != "" {
		v.session.Store(loc)
	}
	if debugSDP {
		fmt.Fprintf(os.Stderr, "whep offer:\n%s\nanswer:\n%s\n", sdp, body)
	}
	if err := onLoopback(string(body)); err != nil {
		return err
	}
	return v.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(body)})
}

func (w *whep) leave(ctx context.Context, v *viewer) {
	loc, _ := v.session.Load().(string)
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, w.url+loc, nil)
	if err != nil {
		return
	}
	if resp, err := client.Do(req); err == nil {
		resp.Body.Close()
	}
}
