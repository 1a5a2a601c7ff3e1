package main

// What the relay parses that is new: the control lines and the feed's MPEG-TS (through
// mediacommon's demuxer into RTMP messages). Neither may panic or hang on any input.

import (
	"bytes"
	"testing"
	"time"
)

func FuzzCommand(f *testing.F) {
	f.Add([]byte(`{"op":"close","id":"a"}`))
	f.Add([]byte(`{"op":"open","id":"a","feed":"http://127.0.0.1:1/f.ts","scheme":"rtmps","address":"127.0.0.1:443","host":"x.example:443","sni":"x.example","app":"live","stream":"k"}`))
	f.Add([]byte(`{"op":"open","id":"a","address":"[::1]:1935"}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		c, err := parseCommand(line)
		if err != nil {
			if bytes.Contains([]byte(err.Error()), []byte(c.Stream)) && c.Stream != "" {
				t.Fatalf("a refusal quotes the stream name")
			}
			return
		}
		if c.Op == "open" && checkOpen(&c) != nil {
			t.Fatalf("accepted an open command its own check refuses")
		}
	})
}

func FuzzFeed(f *testing.F) {
	seed := tsFeed(f, 1) // made by FFmpeg, as the ingest's feed is
	f.Add(seed)
	f.Add(seed[:len(seed)/2])
	f.Add(bytes.Repeat([]byte{0x47}, 188*3))
	f.Fuzz(func(t *testing.T, data []byte) {
		fd := newFeed("http://127.0.0.1:1/", "", 0)
		sink := &target{queue: make(chan *batch, 1<<16), ended: make(chan struct{})}
		fd.subs[sink] = true
		sink.skipping = true
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = fd.demux(bytes.NewReader(data), func() {})
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("the demuxer hung on %d bytes", len(data))
		}
	})
}
