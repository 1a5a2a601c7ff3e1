package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// captureProxy relays one TCP connection to target and records what the client sent.
type captureProxy struct {
	addr string
	mu   sync.Mutex
	buf  bytes.Buffer
}

func startCaptureProxy(t *testing.T, target string) *captureProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &captureProxy{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		client, err := ln.Accept()
		if err != nil {
			return
		}
		defer client.Close()
		server, err := net.Dial("tcp", target)
		if err != nil {
			return
		}
		defer server.Close()
		go func() {
			io.Copy(client, server)
			client.Close()
		}()
		b := make([]byte, 32*1024)
		for {
			n, err := client.Read(b)
			p.mu.Lock()
			p.buf.Write(b[:n])
			p.mu.Unlock()
			if _, werr := server.Write(b[:n]); werr != nil || err != nil {
				return
			}
		}
	}()
	return p
}

func (p *captureProxy) bytes() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]byte(nil), p.buf.Bytes()...)
}

// runFFmpeg starts FFmpeg with args (quiet, no stdin) and returns its wait: nil once it exited
// well, its error and stderr otherwise, an error if it has not exited within 10 s of the call.
// Killed at the test's end if still running.
func runFFmpeg(t *testing.T, args ...string) func() error {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(tool(t, "ffmpeg"), append([]string{"-hide_banner", "-nostdin", "-loglevel", "error"}, args...)...)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-waited
	})
	return func() error {
		select {
		case err := <-waited:
			waited <- err
			if err != nil {
				return fmt.Errorf("ffmpeg: %v\n%s", err, stderr.String())
			}
			return nil
		case <-time.After(10 * time.Second):
			return fmt.Errorf("ffmpeg did not exit")
		}
	}
}

// endedByItsPublisher waits for session id's end, its FIFO's EOF and FFmpeg's exit (wait), and
// returns what the FIFO got: the session must have ended with its publisher, having written that.
func endedByItsPublisher(t *testing.T, h *frontHarness, id uint64, fifo *fifoReader, wait func() error) []byte {
	t.Helper()
	end := h.waitEnded(id, 30*time.Second)
	got := fifo.waitEOF(t, 5*time.Second)
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if end.str("reason") != "publisher" || int(end["bytes"].(float64)) != len(got) {
		t.Fatalf("ended %v; the FIFO got %d bytes", end, len(got))
	}
	return got
}

// Real FFmpeg publishes (through a recording proxy); the FIFO's bytes decode as h264 + aac, and
// what FFmpeg sent before its publish was accepted passes the pre-auth state machine on its own.
func TestFFmpegPublishesThroughTheFIFO(t *testing.T) {
	t.Parallel()
	ffprobe := tool(t, "ffprobe")
	h := startFront(t)
	proxy := startCaptureProxy(t, h.rtmp)
	wait := runFFmpeg(t, "-re", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=30", "-f", "lavfi", "-i", "sine",
		"-c:v", "libx264", "-g", "30", "-c:a", "aac", "-t", "3",
		"-f", "flv", "rtmp://"+proxy.addr+"/live/"+testKey)

	ev := h.waitEvent("publish", 15*time.Second)
	preauth := proxy.bytes() // FFmpeg waits for onStatus: nothing after publish yet
	fifo := newFIFO(t, h.dir, "ffmpeg.flv")
	h.send(map[string]any{"type": "admit", "id": ev.id(), "fifo": fifo.path})
	got := endedByItsPublisher(t, h, ev.id(), fifo, wait)
	if !bytes.Equal(got[:5], []byte{'F', 'L', 'V', 1, 0x05}) {
		t.Fatalf("FLV header % x, want audio+video", got[:13])
	}
	tags := parseFLV(t, got[13:])
	if tags[0].typ != 18 || !bytes.HasPrefix(tags[0].body, onMetaData) {
		t.Fatalf("the first tag is type %d, not onMetaData", tags[0].typ)
	}

	file := filepath.Join(t.TempDir(), "got.flv")
	if err := os.WriteFile(file, got, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(ffprobe, "-v", "error", "-f", "flv", "-show_entries", "stream=codec_name",
		"-of", "csv=p=0", file).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe: %v\n%s", err, out)
	}
	if codecs := strings.Fields(string(out)); strings.Join(codecs, ",") != "h264,aac" {
		t.Fatalf("ffprobe found %q, want h264 and aac", out)
	}
	out, err = exec.Command(ffprobe, "-v", "error", "-f", "flv", "-count_frames", "-select_streams", "v",
		"-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", file).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "90" {
		t.Fatalf("ffprobe counted %q video frames (%v), want 90", out, err)
	}

	if accepted, reason := preauthVerdict(preauth); !accepted {
		t.Fatalf("FFmpeg's own pre-auth bytes (%d) are refused on their own: %q", len(preauth), reason)
	}
	if os.Getenv("STREAMOPS_RTMP_WRITE_SEEDS") != "" {
		writeSeed(t, "ffmpeg-publish", preauth)
	}
}
