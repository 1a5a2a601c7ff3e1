package main

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"streamops.dev/components/rtmp/mux"
)

// muxRecords turns an FLV file's tags into FuzzMux's records: type, timestamp (4 bytes), length
// (2 bytes), body.
func muxRecords(t testing.TB, flv []byte) []byte {
	t.Helper()
	var out []byte
	for _, tag := range parseFLV(t, flv[13:]) {
		out = append(out, tag.typ)
		out = binary.BigEndian.AppendUint32(out, tag.ts)
		out = binary.BigEndian.AppendUint16(out, uint16(len(tag.body)))
		out = append(out, tag.body...)
	}
	return out
}

// FuzzMux: arbitrary FLV tag payloads given to the Go HLS muxer (mux/) never panic, every error is
// one the caller can act on (unsupported: FFmpeg's path; malformed; over the cap), and what its
// playlists list exists. The seed is a real encoder's 0.6 s (FFmpeg's x264 with a B-frame and 2-frame
// GOPs, AAC 8 kHz: testdata/mux-seed.flv), with 100 ms segments so that cuts and deletions happen.
func FuzzMux(f *testing.F) {
	seed, err := os.ReadFile("testdata/mux-seed.flv")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(muxRecords(f, seed))
	f.Add([]byte{9, 0, 0, 0, 0, 0, 5, 0x17, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		cfg := mux.Config{TSDir: filepath.Join(dir, "ts"), CMAFDir: filepath.Join(dir, "cmaf"), Segment: 100 * time.Millisecond,
			ListSize: 2, StartNumber: 1, MaxFrame: 64 << 10}
		for _, d := range []string{cfg.TSDir, cfg.CMAFDir} {
			if err := os.Mkdir(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		m, err := mux.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		for len(data) >= 7 {
			n := min(int(binary.BigEndian.Uint16(data[5:7])), len(data)-7)
			err := m.Tag(data[0], binary.BigEndian.Uint32(data[1:5]), data[7:7+n])
			if err != nil {
				if !errors.Is(err, mux.ErrUnsupported) && !errors.Is(err, mux.ErrMalformed) && !errors.Is(err, mux.ErrFrameTooLarge) {
					t.Fatalf("an error the caller cannot act on: %v", err)
				}
				break
			}
			data = data[7+n:]
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		for _, d := range []string{cfg.TSDir, cfg.CMAFDir} {
			b, err := os.ReadFile(filepath.Join(d, "index.m3u8"))
			if err != nil {
				continue // no segment finished
			}
			for _, line := range strings.Split(string(b), "\n") {
				if line != "" && !strings.HasPrefix(line, "#") {
					if _, err := os.Stat(filepath.Join(d, line)); err != nil {
						t.Fatalf("listed and missing: %v", err)
					}
				}
			}
		}
	})
}

// TestMuxSeedReachesTheSegmenters: FuzzMux's seed is taken whole and cuts segments, so the
// fuzzer starts from inputs that reach both writers, the cuts and the deletions.
func TestMuxSeedReachesTheSegmenters(t *testing.T) {
	seed, err := os.ReadFile("testdata/mux-seed.flv")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := mux.Config{TSDir: dir, Segment: 100 * time.Millisecond, ListSize: 2, StartNumber: 1}
	m, err := mux.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range parseFLV(t, seed[13:]) {
		if err := m.Tag(tag.typ, tag.ts, tag.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "index.m3u8"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "#EXT-X-MEDIA-SEQUENCE:2\n") { // 3 segments, a window of 2
		t.Fatalf("playlist:\n%s", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "seg-000001.ts")); !os.IsNotExist(err) { // out of the window, no threshold
		t.Fatalf("seg-000001.ts: %v", err)
	}
}
