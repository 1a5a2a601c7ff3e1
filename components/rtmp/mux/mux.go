// Package mux writes a publisher's H.264 + AAC, as the FLV tags the front reads, into the ingest's
// HLS layout without FFmpeg: MPEG-TS segments (ts/) and CMAF segments with their init segment
// (cmaf/), cut at keyframes at the target duration, with the playlist FFmpeg's hls muxer writes for
// the ingest today (commands.hls_options: seg-%06d numbered from a media sequence the caller gives,
// a sliding window, hls_delete_threshold, EXT-X-PROGRAM-DATE-TIME, ENDLIST or not). Issue 53's
// written muxers (docs/design/lean-ingest.md): no reflection or bit writer on the per-frame path,
// one reused buffer per writer.
//
// Anything but H.264 (AVC) video and AAC audio is refused with an error wrapping ErrUnsupported:
// the caller falls back to FFmpeg. Input is bounded: a tag over Config.MaxFrame is refused
// (ErrFrameTooLarge), malformed tags give ErrMalformed, and nothing is held longer than one
// fragment (CMAF) or one packet batch (TS).
package mux

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

var (
	// ErrUnsupported: a codec or stream shape these writers do not take; FFmpeg's path does.
	ErrUnsupported = errors.New("not supported by the Go muxer")
	// ErrMalformed: a tag that cannot be read.
	ErrMalformed = errors.New("malformed FLV tag")
	// ErrFrameTooLarge: a tag's body over Config.MaxFrame.
	ErrFrameTooLarge = errors.New("frame over the size cap")
)

// FLV tag types (the RTMP message types they come from).
const (
	TagAudio = 8
	TagVideo = 9
	TagData  = 18
)

// DefaultMaxFrame bounds one tag's body: a 2160p intra frame at a high bitrate is ≈ 1–2 MB.
const DefaultMaxFrame = 8 << 20

// audioOnlyLimit: audio without any H.264 keyframe for this long (media time) is refused, the
// segments being cut at video keyframes (an audio-only stream stays on FFmpeg).
const audioOnlyLimit = 10 * time.Second

// Config says what to write and where. Directories must exist.
type Config struct {
	TSDir   string // MPEG-TS HLS: seg-%06d.ts and index.m3u8 here; "" for none
	CMAFDir string // CMAF HLS: init.mp4, seg-%06d.m4s and index.m3u8 here; "" for none
	// Segment is the target duration (hls_time): a keyframe at or after it from the segment's
	// first one starts the next segment.
	Segment time.Duration
	// ListSize is the number of segments in the playlist (hls_list_size, the DVR window).
	ListSize int
	// DeleteThreshold is how many segments out of the window are kept before deletion
	// (hls_delete_threshold; the ingest gives 2).
	DeleteThreshold int
	// StartNumber is the first segment's media sequence number (the ingest: epoch seconds, so a
	// later session's numbers go on upwards).
	StartNumber uint64
	// EndList writes EXT-X-ENDLIST at Close (hls.endListOnStop).
	EndList bool
	// MaxFrame caps one tag's body (DefaultMaxFrame when 0).
	MaxFrame int
	// Now gives the wall clock of the first segment's EXT-X-PROGRAM-DATE-TIME (time.Now when nil).
	Now func() time.Time
}

// Muxer takes one session's FLV tags. Not safe for concurrent use.
type Muxer struct {
	cfg      Config
	avc      *avcConfig // from the AVC sequence header
	aac      *aacConfig // from the AAC sequence header
	started  bool       // the first keyframe came: segments are being written
	segStart int64      // dts (90 kHz) of the current segment's first keyframe
	lastDTS  int64      // of the last video frame
	lastDur  int64      // the last video frame interval (the last segment's end at Close)
	firstAAC int64      // dts of the first audio frame before any keyframe, for audioOnlyLimit
	ts       *tsSegmenter
	cmaf     *cmafSegmenter
	failed   error
	closed   bool
}

// New checks cfg; nothing is written before the first keyframe.
func New(cfg Config) (*Muxer, error) {
	if cfg.TSDir == "" && cfg.CMAFDir == "" {
		return nil, errors.New("mux: neither TSDir nor CMAFDir")
	}
	if cfg.Segment <= 0 || cfg.ListSize < 1 || cfg.DeleteThreshold < 0 {
		return nil, fmt.Errorf("mux: bad window: segment %s, list size %d, delete threshold %d",
			cfg.Segment, cfg.ListSize, cfg.DeleteThreshold)
	}
	for _, d := range []string{cfg.TSDir, cfg.CMAFDir} {
		if d == "" {
			continue
		}
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("mux: %s is not a directory", d)
		}
	}
	if cfg.MaxFrame <= 0 {
		cfg.MaxFrame = DefaultMaxFrame
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Muxer{cfg: cfg, firstAAC: -1}, nil
}

// Tag takes one FLV tag (type, timestamp in ms with its extension byte, body). Data tags are
// ignored. After an error the muxer takes nothing more (the same error again): the caller ends the
// session or hands it to FFmpeg.
func (m *Muxer) Tag(typ uint8, ts uint32, body []byte) error {
	if m.failed != nil {
		return m.failed
	}
	if m.closed {
		return errors.New("mux: closed")
	}
	if len(body) > m.cfg.MaxFrame {
		return m.fail(fmt.Errorf("%w: a %d-byte tag, the cap is %d", ErrFrameTooLarge, len(body), m.cfg.MaxFrame))
	}
	var err error
	switch typ {
	case TagVideo:
		err = m.video(ts, body)
	case TagAudio:
		err = m.audio(ts, body)
	}
	if err != nil {
		return m.fail(err)
	}
	return nil
}

func (m *Muxer) fail(err error) error {
	m.failed = err
	return err
}

func (m *Muxer) video(ts uint32, body []byte) error {
	v, err := parseVideo(body)
	if err != nil {
		return err
	}
	switch v.kind {
	case videoConfig:
		c, err := parseAVCConfig(v.data)
		if err != nil {
			return err
		}
		if m.avc != nil && !m.avc.equal(c) {
			// The CMAF init segment would change mid-session: a new session (or FFmpeg) does it.
			return fmt.Errorf("%w: the H.264 parameters changed mid-session", ErrUnsupported)
		}
		m.avc = c
		return nil
	case videoEnd:
		return nil
	}
	if m.avc == nil {
		return fmt.Errorf("%w: H.264 frames before the AVC sequence header", ErrMalformed)
	}
	dts := int64(ts) * 90
	pts := dts + int64(v.cts)*90
	if m.started && dts < m.lastDTS {
		return fmt.Errorf("%w: video timestamps went back (%d ms after %d ms)", ErrMalformed, ts, m.lastDTS/90)
	}
	nalus, err := m.avc.split(v.data)
	if err != nil {
		return err
	}
	if !m.started {
		if !v.key {
			return nil // a segment starts at a keyframe: what comes before is dropped
		}
		if err := m.start(dts); err != nil {
			return err
		}
	} else {
		m.lastDur = dts - m.lastDTS
		if v.key && dts-m.segStart >= int64(m.cfg.Segment)*90000/int64(time.Second) {
			if err := m.cut(dts); err != nil {
				return err
			}
		}
	}
	m.lastDTS = dts
	if m.ts != nil {
		if err := m.ts.video(pts, dts, nalus, v.key); err != nil {
			return err
		}
	}
	if m.cmaf != nil {
		if err := m.cmaf.video(pts, dts, nalus, v.key); err != nil {
			return err
		}
	}
	return nil
}

func (m *Muxer) audio(ts uint32, body []byte) error {
	a, err := parseAudio(body)
	if err != nil {
		return err
	}
	if a.config {
		c, err := parseAACConfig(a.data)
		if err != nil {
			return err
		}
		if m.aac != nil && !m.aac.equal(c) || m.aac == nil && m.started {
			// Both would change the CMAF init segment (and the TS program) after it was written.
			return fmt.Errorf("%w: the AAC configuration changed or came after the video started", ErrUnsupported)
		}
		m.aac = c
		return nil
	}
	if m.aac == nil {
		return fmt.Errorf("%w: AAC frames before the AAC sequence header", ErrMalformed)
	}
	if len(a.data) == 0 || len(a.data) > maxAACFrame {
		return fmt.Errorf("%w: an AAC frame of %d bytes", ErrMalformed, len(a.data))
	}
	dts := int64(ts) * 90
	if !m.started {
		if m.firstAAC < 0 {
			m.firstAAC = dts
		} else if dts-m.firstAAC > int64(audioOnlyLimit/time.Millisecond)*90 {
			return fmt.Errorf("%w: no H.264 keyframe in %s of audio (audio-only)", ErrUnsupported, audioOnlyLimit)
		}
		return nil // before the first keyframe: dropped, as the video before it
	}
	if m.ts != nil {
		if err := m.ts.audio(dts, a.data); err != nil {
			return err
		}
	}
	if m.cmaf != nil {
		if err := m.cmaf.audio(dts, a.data); err != nil {
			return err
		}
	}
	return nil
}

// start opens the first segments at the first keyframe.
func (m *Muxer) start(dts int64) error {
	m.started, m.segStart = true, dts
	now := m.cfg.Now()
	if m.cfg.TSDir != "" {
		t, err := newTSSegmenter(m.cfg, m.avc, m.aac, now)
		if err != nil {
			return err
		}
		m.ts = t
		if err := m.ts.open(dts); err != nil {
			return err
		}
	}
	if m.cfg.CMAFDir != "" {
		c, err := newCMAFSegmenter(m.cfg, m.avc, m.aac, now)
		if err != nil {
			return err
		}
		m.cmaf = c
		if err := m.cmaf.open(dts); err != nil {
			return err
		}
	}
	return nil
}

// cut ends the current segments at dts (the next one's first keyframe) and opens the next.
func (m *Muxer) cut(dts int64) error {
	dur := dts - m.segStart
	m.segStart = dts
	if m.ts != nil {
		if err := m.ts.finish(dur, false); err != nil {
			return err
		}
		if err := m.ts.open(dts); err != nil {
			return err
		}
	}
	if m.cmaf != nil {
		if err := m.cmaf.finish(dts, dur, false); err != nil {
			return err
		}
		if err := m.cmaf.open(dts); err != nil {
			return err
		}
	}
	return nil
}

// Close ends the last segment (its duration: up to the last frame's end), writes the playlists
// (with ENDLIST when configured) and closes the files. After an error the last segment is not
// listed (it may be torn), the playlists are left as they were.
func (m *Muxer) Close() error {
	if m.closed {
		return nil
	}
	m.closed = true
	var errs []error
	listLast := m.failed == nil && m.started
	dur := m.lastDTS + m.lastDur - m.segStart
	if m.ts != nil {
		errs = append(errs, m.ts.close(dur, listLast))
	}
	if m.cmaf != nil {
		errs = append(errs, m.cmaf.close(m.lastDTS+m.lastDur, dur, listLast))
	}
	return errors.Join(errs...)
}

// segmentName is FFmpeg's hls_segment_filename seg-%06d with the segment's media sequence number.
func segmentName(seq uint64, ext string) string { return fmt.Sprintf("seg-%06d.%s", seq, ext) }

// create opens a segment file for writing (truncating one a previous session left).
func create(dir, name string) (*os.File, error) {
	return os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
}

// segmentFile is the segment a flavour's segmenter is writing: its name from the playlist, the file
// and one buffered writer, reused from segment to segment.
type segmentFile struct {
	dir  string
	list *playlist
	name string
	file *os.File
	w    *bufio.Writer
}

// openNext creates the playlist's next segment file and points the writer at it.
func (s *segmentFile) openNext() error {
	s.name = s.list.nextName()
	f, err := create(s.dir, s.name)
	if err != nil {
		return fmt.Errorf("mux: %w", err)
	}
	s.file = f
	if s.w == nil {
		s.w = bufio.NewWriterSize(f, 64<<10)
	} else {
		s.w.Reset(f)
	}
	return nil
}
