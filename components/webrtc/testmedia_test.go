package main

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/pion/webrtc/v4/pkg/media/h264reader"
)

// testAccessUnits is a short H.264 stream (30 fps, a keyframe every 30 frames, no B-frames) as
// Annex-B access units: from FFmpeg's libx264 when ffmpeg is installed, else synthetic NAL units
// (the component never decodes, it only looks at NAL types).
var (
	accessUnitsOnce sync.Once
	accessUnits     [][]byte
	accessUnitsErr  error
)

func testAccessUnits(t *testing.T) [][]byte {
	t.Helper()
	accessUnitsOnce.Do(func() {
		if _, err := exec.LookPath("ffmpeg"); err == nil {
			accessUnits, accessUnitsErr = ffmpegAccessUnits()
		} else {
			accessUnits = syntheticAccessUnits()
		}
	})
	if accessUnitsErr != nil {
		t.Fatalf("test H.264: %v", accessUnitsErr)
	}
	return accessUnits
}

func ffmpegAccessUnits() ([][]byte, error) {
	dir, err := os.MkdirTemp("", "streamops-webrtc-test")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "x.h264")
	cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin",
		"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30", "-t", "2",
		"-c:v", "libx264", "-preset", "ultrafast", "-profile:v", "baseline", "-pix_fmt", "yuv420p",
		"-bf", "0", "-g", "30", "-f", "h264", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, errors.New(string(b))
	}
	data, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	return splitAccessUnits(data)
}

// splitAccessUnits groups NAL units up to and including each slice (one slice per frame here).
func splitAccessUnits(data []byte) ([][]byte, error) {
	r, err := h264reader.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	var aus [][]byte
	var cur []byte
	for {
		nal, err := r.NextNAL()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		cur = append(cur, 0, 0, 0, 1)
		cur = append(cur, nal.Data...)
		if t := nal.Data[0] & 0x1f; t == 1 || t == 5 {
			aus = append(aus, cur)
			cur = nil
		}
	}
	return aus, nil
}

// syntheticAccessUnits: SPS+PPS+IDR every 30 frames, P slices between; sizes like 640x360.
func syntheticAccessUnits() [][]byte {
	nal := func(header byte, size int) []byte {
		b := make([]byte, size)
		_, _ = rand.Read(b)
		b[0] = header
		return append([]byte{0, 0, 0, 1}, b...)
	}
	var aus [][]byte
	for i := range 60 {
		if i%30 == 0 {
			au := append(nal(0x67, 12), nal(0x68, 4)...)
			aus = append(aus, append(au, nal(0x65, 12000)...))
		} else {
			aus = append(aus, nal(0x41, 1500))
		}
	}
	return aus
}

// startsKeyframe is the test's own reading of RFC 6184: does this payload let a decoder start?
func startsKeyframe(payload []byte) bool {
	if len(payload) < 2 {
		return false
	}
	switch payload[0] & 0x1f {
	case 5, 7:
		return true
	case 24: // STAP-A: the first aggregated NAL
		return len(payload) > 3 && (payload[3]&0x1f == 7 || payload[3]&0x1f == 5)
	case 28: // FU-A start of an IDR
		return payload[1]&0x80 != 0 && payload[1]&0x1f == 5
	}
	return false
}

// opusSilence is one 20 ms Opus frame (TOC for a CELT silence frame); the component never decodes.
var opusSilence = []byte{0xf8, 0xff, 0xfe}
