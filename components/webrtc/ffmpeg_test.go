package main

import (
	"context"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FFmpeg (when installed) reads the forwarded WHIP RTP through the SDP file and decodes video:
// the contract the Python ingest worker relies on. -localaddr keeps FFmpeg's RTP sockets on
// 127.0.0.1 (it binds 0.0.0.0 otherwise).
func TestFFmpegReadsForwardedWHIP(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg not installed")
	}
	cfg := testConfig()
	cfg.WHIPOutVideoPort, cfg.WHIPOutAudioPort = twoUDPPortPairs(t)
	cfg.WHIPOutSDP = filepath.Join(t.TempDir(), "whip.sdp")
	_, base := startComponent(t, cfg)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "info",
		"-protocol_whitelist", "file,udp,rtp", "-localaddr", "127.0.0.1", "-i", cfg.WHIPOutSDP,
		"-map", "0:v:0", "-frames:v", "30", "-f", "null", "-")
	var out strings.Builder
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // FFmpeg binds its ports
	publish(t, base)
	// FFmpeg starts on a keyframe: ask for one every half second until it has its frames. Once
	// was not enough: on a machine busy with disk I/O FFmpeg took longer than the 300 ms above to
	// bind, and the only keyframe went by before it listened (CI, 2026-11-27).
	done := make(chan struct{})
	go func() {
		for {
			req, _ := http.NewRequest(http.MethodPost, base+"/whip/keyframe", nil)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
			select {
			case <-done:
				return
			case <-time.After(500 * time.Millisecond):
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	if code := httpDo(t, http.MethodPost, base+"/whip/keyframe"); code != http.StatusNoContent {
		t.Fatalf("POST /whip/keyframe: %d", code)
	}
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out.String())
	}
	for _, want := range []string{"Video: h264", "640x360", "Audio: opus"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("ffmpeg saw no %q:\n%s", want, out.String())
		}
	}
}
