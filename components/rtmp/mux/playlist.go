package mux

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// playlist is one flavour's index.m3u8, as FFmpeg's hls muxer writes it with the ingest's flags
// (delete_segments+independent_segments+program_date_time, omit_endlist unless EndList).
type playlist struct {
	dir       string
	ext       string
	version   int
	mapURI    string // EXT-X-MAP (CMAF's init segment); "" for none
	listSize  int
	threshold int
	endList   bool
	nextSeq   uint64
	start     time.Time // the wall clock of the next segment's start
	done      []entry   // listed segments, then (before them) up to threshold unlisted ones kept
	b         strings.Builder
}

type entry struct {
	seq   uint64
	name  string
	dur   float64 // seconds
	start time.Time
}

func newPlaylist(cfg Config, dir, ext string, version int, mapURI string, now time.Time) *playlist {
	return &playlist{dir: dir, ext: ext, version: version, mapURI: mapURI, listSize: cfg.ListSize,
		threshold: cfg.DeleteThreshold, endList: cfg.EndList, nextSeq: cfg.StartNumber, start: now}
}

// nextName is the file name of the segment being opened.
func (p *playlist) nextName() string { return segmentName(p.nextSeq, p.ext) }

// add lists the segment opened last (dur seconds), deletes the segments past the window and its
// threshold, and writes the playlist (ENDLIST after the last when configured).
func (p *playlist) add(dur float64, last bool) error {
	p.done = append(p.done, entry{seq: p.nextSeq, name: p.nextName(), dur: dur, start: p.start})
	p.nextSeq++
	p.start = p.start.Add(time.Duration(dur * float64(time.Second)))
	if excess := len(p.done) - p.listSize - p.threshold; excess > 0 {
		for _, e := range p.done[:excess] {
			if err := os.Remove(filepath.Join(p.dir, e.name)); err != nil && !os.IsNotExist(err) {
				return fmt.Errorf("mux: %w", err)
			}
		}
		p.done = append(p.done[:0], p.done[excess:]...)
	}
	return p.write(last && p.endList)
}

func (p *playlist) write(endList bool) error {
	listed := p.done[max(0, len(p.done)-p.listSize):]
	target := 1
	for _, e := range listed {
		// EXTINF rounded to the nearest integer must not exceed the target duration (RFC 8216 4.3.3.1).
		target = max(target, int(math.Round(e.dur)))
	}
	b := &p.b
	b.Reset()
	fmt.Fprintf(b, "#EXTM3U\n#EXT-X-VERSION:%d\n#EXT-X-TARGETDURATION:%d\n#EXT-X-MEDIA-SEQUENCE:%d\n#EXT-X-INDEPENDENT-SEGMENTS\n",
		p.version, target, listed[0].seq)
	if p.mapURI != "" {
		fmt.Fprintf(b, "#EXT-X-MAP:URI=\"%s\"\n", p.mapURI)
	}
	for _, e := range listed {
		// FFmpeg's format: local time (UTC in the Pod), milliseconds, a numeric zone.
		fmt.Fprintf(b, "#EXT-X-PROGRAM-DATE-TIME:%s\n#EXTINF:%.6f,\n%s\n",
			e.start.UTC().Format("2006-01-02T15:04:05.000-0700"), e.dur, e.name)
	}
	if endList {
		b.WriteString("#EXT-X-ENDLIST\n")
	}
	// A reader never sees a half-written playlist: written aside, then renamed over.
	tmp := filepath.Join(p.dir, "index.m3u8.tmp")
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("mux: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(p.dir, "index.m3u8")); err != nil {
		return fmt.Errorf("mux: %w", err)
	}
	return nil
}
