package main

// The Go HLS writers (mux/) fed from an admitted session, when the worker's `admit` asks for them
// (its `hls` object; absent: nothing changes). Issue 53's step towards HLS without FFmpeg for an
// RTMP passthrough: the worker does not ask yet (docs/design/lean-ingest.md, "Step 1 landed").

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"streamops.dev/components/rtmp/mux"
)

// hlsCommand is `admit`'s optional `hls`: where and how to write, as the worker's FFmpeg hls
// outputs are given today (commands.hls_options).
type hlsCommand struct {
	TSDir           string `json:"ts_dir,omitempty"`   // absolute; "" for no MPEG-TS flavour
	CMAFDir         string `json:"cmaf_dir,omitempty"` // absolute; "" for no CMAF flavour
	SegmentMS       int    `json:"segment_ms"`
	ListSize        int    `json:"list_size"`
	DeleteThreshold int    `json:"delete_threshold"`
	StartNumber     uint64 `json:"start_number"`
	EndList         bool   `json:"end_list"`
}

// muxEvent says the session's HLS writers stopped on an error (once; the FIFO goes on):
// `unsupported` when FFmpeg should write this session's HLS instead (codec, parameter change).
type muxEvent struct {
	Type        string `json:"type"`
	ID          uint64 `json:"id"`
	Error       string `json:"error"`
	Unsupported bool   `json:"unsupported"`
}

// sessionMuxer hands a session's audio and video tags to a mux.Muxer until the first error.
type sessionMuxer struct {
	s       *session
	m       *mux.Muxer
	stopped bool
}

// startMuxer makes the session's writers; nil when not asked for, or when they cannot start (the
// `mux` event says why).
func (s *session) startMuxer(c *hlsCommand) *sessionMuxer {
	if c == nil {
		return nil
	}
	sm := &sessionMuxer{s: s}
	for _, d := range []string{c.TSDir, c.CMAFDir} {
		if d != "" && !filepath.IsAbs(d) {
			sm.fail(fmt.Errorf("the HLS directory %q is not absolute", d))
			return nil
		}
	}
	m, err := mux.New(mux.Config{TSDir: c.TSDir, CMAFDir: c.CMAFDir, Segment: time.Duration(c.SegmentMS) * time.Millisecond,
		ListSize: c.ListSize, DeleteThreshold: c.DeleteThreshold, StartNumber: c.StartNumber, EndList: c.EndList})
	if err != nil {
		sm.fail(err)
		return nil
	}
	sm.m = m
	s.f.log.Info("writing HLS", "id", s.id, "ts", c.TSDir, "cmaf", c.CMAFDir)
	return sm
}

// tag is the flvWriter's tee: each audio/video tag as FFmpeg gets it.
func (sm *sessionMuxer) tag(typ uint8, ts uint32, body []byte) {
	if sm.stopped {
		return
	}
	if err := sm.m.Tag(typ, ts, body); err != nil {
		sm.fail(err)
		sm.m.Close() // the files are closed, the last segment not listed
	}
}

func (sm *sessionMuxer) fail(err error) {
	sm.stopped = true
	unsupported := errors.Is(err, mux.ErrUnsupported)
	sm.s.f.log.Warn("HLS writing stopped", "id", sm.s.id, "unsupported", unsupported, "err", err)
	sm.s.f.ev.emit(muxEvent{Type: "mux", ID: sm.s.id, Error: err.Error(), Unsupported: unsupported})
}

// close lists the last segment (and ENDLIST when asked) at the session's end.
func (sm *sessionMuxer) close() {
	if sm == nil || sm.stopped {
		return
	}
	sm.stopped = true
	if err := sm.m.Close(); err != nil {
		sm.fail(err)
	}
}
