package mux

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkMux: both flavours written from a publisher's FLV tags, files and deletions included (no
// network: what the front would add is its socket reads). cpu-ms/media-s is this process's user +
// system CPU per second of media, robust to the machine's load; MB/s counts the tags' bodies.
// STREAMOPS_MUX_BENCH_FLV: an FLV file to use instead of the tests' 7 s 320x240 clip, e.g. the
// bench's 2.5 Mbit/s 720p30 publisher clip.
func BenchmarkMux(b *testing.B) {
	tags := clip(b)
	if path := os.Getenv("STREAMOPS_MUX_BENCH_FLV"); path != "" {
		raw, err := os.ReadFile(path)
		if err != nil {
			b.Fatal(err)
		}
		if tags, err = readFLV(raw); err != nil {
			b.Fatal(err)
		}
	}
	var bytes int64
	var first, last uint32
	for i, t := range tags {
		bytes += int64(len(t.body))
		if i == 0 {
			first = t.ts
		}
		last = max(last, t.ts)
	}
	media := time.Duration(last-first) * time.Millisecond
	b.SetBytes(bytes)
	root := b.TempDir()
	b.ResetTimer()
	start := cpuTime()
	for i := 0; i < b.N; i++ {
		dir, err := os.MkdirTemp(root, "")
		if err != nil {
			b.Fatal(err)
		}
		cfg := Config{TSDir: filepath.Join(dir, "ts"), CMAFDir: filepath.Join(dir, "cmaf"), Segment: 2 * time.Second,
			ListSize: 6, DeleteThreshold: 2, StartNumber: 1}
		for _, d := range []string{cfg.TSDir, cfg.CMAFDir} {
			if err := os.Mkdir(d, 0o755); err != nil {
				b.Fatal(err)
			}
		}
		m, err := New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		for _, t := range tags {
			if err := m.Tag(t.typ, t.ts, t.body); err != nil {
				b.Fatal(err)
			}
		}
		if err := m.Close(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		os.RemoveAll(dir)
		b.StartTimer()
	}
	cpu := cpuTime() - start
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N)/media.Seconds(), "cpu-ms/media-s")
}
