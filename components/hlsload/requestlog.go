package main

import (
	"encoding/json"
	"os"
	"sync"
	"time"
)

// logEntry is one request as -log writes it (a JSON line): when its answer ended, what it was,
// and what the answer said about the stream's numbering. A test reads the lines of a time window
// (devtools/devtools/media/viewer_log.py): 404s, sequence resets, the longest stretch without a new
// part or segment, around an event it caused (a handover, a drain).
type logEntry struct {
	T      float64 `json:"t"` // Unix seconds: the answer's last byte, or the failure
	Viewer int     `json:"viewer"`
	Kind   string  `json:"kind"` // playlist, playlist_blocking, part_hinted, part, segment, init
	URL    string  `json:"url"`
	Status int     `json:"status"` // 0: no answer (error says why)
	Error  string  `json:"error,omitempty"`
	Bytes  int64   `json:"bytes"`
	Ms     float64 `json:"ms"` // from the request to the last byte
	// A media playlist: EXT-X-MEDIA-SEQUENCE, EXT-X-DISCONTINUITY-SEQUENCE, where the next part
	// will be (what a blocking reload asks for next) and the preload-hinted part's number.
	MediaSequence         *int64 `json:"media_sequence,omitempty"`
	DiscontinuitySequence *int64 `json:"discontinuity_sequence,omitempty"`
	NextMSN               *int64 `json:"next_msn,omitempty"`
	NextPart              *int   `json:"next_part,omitempty"`
	Hint                  *int64 `json:"hint,omitempty"`
	EndList               bool   `json:"endlist,omitempty"` // EXT-X-ENDLIST: a player stops here
	// A part (LL-HLS: its segment's msn and its own number) or a segment (msn).
	MSN  *int64 `json:"msn,omitempty"`
	Part *int64 `json:"part,omitempty"`
}

// requestLog is the -log file, shared by every viewer; nil when there is none. Each line is one
// write, unbuffered: a test reads the log while the run goes on.
type requestLog struct {
	mu  sync.Mutex
	f   *os.File
	enc *json.Encoder
}

func openRequestLog(path string) (*requestLog, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	return &requestLog{f: f, enc: json.NewEncoder(f)}, nil
}

func (l *requestLog) write(e *logEntry) {
	if l == nil || e == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.enc.Encode(e); err != nil {
		warn("request log: %v", err)
	}
}

func (l *requestLog) close() {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.f.Close(); err != nil {
		warn("request log: %v", err)
	}
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixMicro()) / 1e6 }

// position is a viewer's previous media playlist's numbers: a playlist lower in any of them is a
// sequence reset (a restarted packager, an ingest that did not continue the numbers, an old server
// answering after a new one). Counted once each time the sequence goes back, not for every playlist
// until the new numbers pass the old ones.
type position struct {
	seen                                        bool
	mediaSequence, discontinuity, nextMSN, hint int64
}

// advance takes a media playlist's numbers and says whether any went back from the previous one's.
func (p *position) advance(pl *Playlist) bool {
	msn, _ := pl.NextPosition()
	hint := int64(-1)
	if pl.PreloadHint != "" {
		hint = uriNumber(pl.PreloadHint)
	}
	back := p.seen && (pl.MediaSequence < p.mediaSequence || pl.Discontinuity < p.discontinuity ||
		msn < p.nextMSN || (hint >= 0 && p.hint >= 0 && hint < p.hint))
	*p = position{seen: true, mediaSequence: pl.MediaSequence, discontinuity: pl.Discontinuity, nextMSN: msn, hint: hint}
	return back
}
