package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// publishWithFFmpeg runs FFmpeg publishing 4 s of testsrc (1 s GOPs) + AAC with the given video
// codec, as fast as it encodes, and returns its wait.
func publishWithFFmpeg(t *testing.T, addr, videoCodec string) func() error {
	t.Helper()
	return runFFmpeg(t, "-f", "lavfi", "-i", "testsrc=size=320x240:rate=30", "-f", "lavfi", "-i", "sine",
		"-c:v", videoCodec, "-g", "30", "-c:a", "aac", "-t", "4", "-f", "flv", "rtmp://"+addr+"/live/"+testKey)
}

// The worker's admit with `hls`: the front writes both HLS flavours in Go (mux/) beside the FIFO,
// which gets exactly what it gets without: FFmpeg's H.264 + AAC give four 1 s segments of each,
// listed from start_number with ENDLIST, every one decoding with ffprobe; and no `mux` event.
//
// Not parallel, nor the next: their x264 encodes would run beside the parallel tests' wall-clock
// bounds (TestTrickleIsCutAtTheDeadline's 4–6 s); serial tests finish before those start.
func TestAdmitWithHLSWritesSegments(t *testing.T) {
	h := startFront(t)
	wait := publishWithFFmpeg(t, h.rtmp, "libx264")
	ev := h.waitEvent("publish", 15*time.Second)
	fifo := newFIFO(t, h.dir, "hls.flv")
	dirs := map[string]string{"ts": filepath.Join(h.dir, "ts"), "cmaf": filepath.Join(h.dir, "cmaf")}
	for _, d := range dirs {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	h.send(map[string]any{"type": "admit", "id": ev.id(), "fifo": fifo.path, "hls": map[string]any{
		"ts_dir": dirs["ts"], "cmaf_dir": dirs["cmaf"], "segment_ms": 1000, "list_size": 10,
		"delete_threshold": 2, "start_number": 1000, "end_list": true}})
	endedByItsPublisher(t, h, ev.id(), fifo, wait)
	for _, e := range h.all() {
		if e.str("type") == "mux" {
			t.Fatalf("mux event: %v", e)
		}
	}
	ffprobe := tool(t, "ffprobe")
	for flavour, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, "index.m3u8"))
		if err != nil {
			t.Fatal(err)
		}
		var segments []string
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if line := sc.Text(); line != "" && !strings.HasPrefix(line, "#") {
				segments = append(segments, line)
			}
		}
		if len(segments) != 4 || !strings.Contains(string(b), "#EXT-X-MEDIA-SEQUENCE:1000\n") || !strings.HasSuffix(string(b), "#EXT-X-ENDLIST\n") {
			t.Fatalf("%s playlist:\n%s", flavour, b)
		}
		for _, name := range segments {
			path := filepath.Join(dir, name)
			if flavour == "cmaf" {
				initB, err := os.ReadFile(filepath.Join(dir, "init.mp4"))
				if err != nil {
					t.Fatal(err)
				}
				segB, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				path = filepath.Join(t.TempDir(), name+".mp4")
				if err := os.WriteFile(path, append(initB, segB...), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			out, err := exec.Command(ffprobe, "-v", "error", "-count_frames", "-select_streams", "v",
				"-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", path).CombinedOutput()
			// (TS: the stream is listed under its program too, hence each count it prints.)
			counts := strings.Fields(string(out))
			if err != nil || len(counts) == 0 || slices.ContainsFunc(counts, func(c string) bool { return c != "30" }) {
				t.Fatalf("%s/%s: ffprobe read %q video frames (%v), want 30", flavour, name, out, err)
			}
		}
	}
}

// A publisher the Go writers do not take (FFmpeg's Sorenson H.263, FLV codec 2): one `mux` event
// with unsupported true (the worker's cue to let FFmpeg write HLS), and the FIFO goes on unchanged
// to the publisher's end.
func TestAdmitWithHLSReportsAnUnsupportedCodec(t *testing.T) {
	h := startFront(t)
	wait := publishWithFFmpeg(t, h.rtmp, "flv")
	ev := h.waitEvent("publish", 15*time.Second)
	fifo := newFIFO(t, h.dir, "h263.flv")
	dir := filepath.Join(h.dir, "ts")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	h.send(map[string]any{"type": "admit", "id": ev.id(), "fifo": fifo.path, "hls": map[string]any{
		"ts_dir": dir, "segment_ms": 1000, "list_size": 6, "delete_threshold": 2, "start_number": 1}})
	m := h.waitEvent("mux", 15*time.Second)
	if m.id() != ev.id() || m["unsupported"] != true || !strings.Contains(m.str("error"), "codec 2") {
		t.Fatalf("mux event %v", m)
	}
	if got := endedByItsPublisher(t, h, ev.id(), fifo, wait); len(got) < 10000 {
		t.Fatalf("the FIFO got %d bytes", len(got))
	}
	n := 0
	for _, e := range h.all() {
		if e.str("type") == "mux" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d mux events", n)
	}
	if _, err := os.Stat(filepath.Join(dir, "index.m3u8")); !os.IsNotExist(err) {
		t.Fatalf("a playlist for a refused codec: %v", err)
	}
}
