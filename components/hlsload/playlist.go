package main

import (
	"bufio"
	"strconv"
	"strings"
)

// Playlist is what a player needs of an HLS playlist (RFC 8216bis): a multivariant playlist's
// renditions, or a media playlist's segments, parts, preload hint and server control.
type Playlist struct {
	Multivariant   bool
	Variants       []string // URIs of EXT-X-STREAM-INF renditions, in order
	TargetDuration float64
	PartTarget     float64 // 0: not LL-HLS
	CanBlockReload bool
	CanSkipUntil   float64
	MediaSequence  int64
	Discontinuity  int64 // EXT-X-DISCONTINUITY-SEQUENCE (0 when absent)
	Skipped        int64 // EXT-X-SKIP:SKIPPED-SEGMENTS of a delta update
	Map            string
	Segments       []Segment // complete segments listed, oldest first
	TailParts      []Part    // parts of the segment being written (after the last EXTINF)
	PreloadHint    string    // URI of EXT-X-PRELOAD-HINT TYPE=PART
	EndList        bool
}

// Segment is a complete segment with the parts listed for it.
type Segment struct {
	MSN      int64
	URI      string
	Duration float64
	Parts    []Part
}

// Part is an EXT-X-PART.
type Part struct {
	URI      string
	Duration float64
}

// NextPosition is where the next part will be: the segment being written and the index of its
// next part (the preload hint's position), what a blocking reload asks for (_HLS_msn, _HLS_part).
func (p *Playlist) NextPosition() (msn int64, part int) {
	return p.MediaSequence + p.Skipped + int64(len(p.Segments)), len(p.TailParts)
}

// ParsePlaylist reads a playlist's text; unknown tags are ignored, as players do.
func ParsePlaylist(text string) *Playlist {
	p := &Playlist{}
	var pending []Part
	var extinf float64
	haveExtinf, streamInf := false, false
	scanner := bufio.NewScanner(strings.NewReader(text))
	scanner.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for scanner.Scan() {
		line := strings.TrimSpace(scanner.Text())
		if line == "" {
			continue
		}
		if !strings.HasPrefix(line, "#") {
			switch {
			case streamInf:
				p.Variants = append(p.Variants, line)
				streamInf = false
			case haveExtinf:
				msn := p.MediaSequence + p.Skipped + int64(len(p.Segments))
				p.Segments = append(p.Segments, Segment{MSN: msn, URI: line, Duration: extinf, Parts: pending})
				pending, haveExtinf = nil, false
			}
			continue
		}
		tag, value, _ := strings.Cut(line, ":")
		switch tag {
		case "#EXT-X-STREAM-INF":
			p.Multivariant, streamInf = true, true
		case "#EXT-X-TARGETDURATION":
			p.TargetDuration, _ = strconv.ParseFloat(value, 64)
		case "#EXT-X-PART-INF":
			p.PartTarget, _ = strconv.ParseFloat(attributes(value)["PART-TARGET"], 64)
		case "#EXT-X-SERVER-CONTROL":
			a := attributes(value)
			p.CanBlockReload = a["CAN-BLOCK-RELOAD"] == "YES"
			p.CanSkipUntil, _ = strconv.ParseFloat(a["CAN-SKIP-UNTIL"], 64)
		case "#EXT-X-MEDIA-SEQUENCE":
			p.MediaSequence, _ = strconv.ParseInt(value, 10, 64)
		case "#EXT-X-DISCONTINUITY-SEQUENCE":
			p.Discontinuity, _ = strconv.ParseInt(value, 10, 64)
		case "#EXT-X-SKIP":
			p.Skipped, _ = strconv.ParseInt(attributes(value)["SKIPPED-SEGMENTS"], 10, 64)
		case "#EXT-X-MAP":
			p.Map = attributes(value)["URI"]
		case "#EXT-X-PART":
			a := attributes(value)
			d, _ := strconv.ParseFloat(a["DURATION"], 64)
			pending = append(pending, Part{URI: a["URI"], Duration: d})
		case "#EXT-X-PRELOAD-HINT":
			if a := attributes(value); a["TYPE"] == "PART" {
				p.PreloadHint = a["URI"]
			}
		case "#EXTINF":
			d, _, _ := strings.Cut(value, ",")
			extinf, _ = strconv.ParseFloat(d, 64)
			haveExtinf = true
		case "#EXT-X-ENDLIST":
			p.EndList = true
		}
	}
	p.TailParts = pending
	return p
}

// attributes parses an attribute list: KEY=VALUE,KEY="quoted, with commas".
func attributes(s string) map[string]string {
	out := map[string]string{}
	for s != "" {
		key, rest, ok := strings.Cut(s, "=")
		if !ok {
			break
		}
		var value string
		if strings.HasPrefix(rest, `"`) {
			end := strings.Index(rest[1:], `"`)
			if end < 0 {
				value, rest = rest[1:], ""
			} else {
				value, rest = rest[1:1+end], rest[2+end:]
			}
			rest = strings.TrimPrefix(rest, ",")
		} else {
			value, rest, _ = strings.Cut(rest, ",")
		}
		out[strings.TrimSpace(key)] = value
		s = rest
	}
	return out
}

// uriNumber is the last run of digits in a URI's file name before its extension (part-123.m4s -> 123, seg-000042.ts ->
// 42), -1 when it has none: how parts are told apart and counted in order.
func uriNumber(uri string) int64 {
	if i := strings.IndexAny(uri, "?#"); i >= 0 {
		uri = uri[:i]
	}
	uri = uri[strings.LastIndex(uri, "/")+1:]
	if dot := strings.LastIndex(uri, "."); dot > 0 {
		uri = uri[:dot] // not the 4 of .m4s or .mp4
	}
	end := -1
	for i := len(uri) - 1; i >= 0; i-- {
		if uri[i] >= '0' && uri[i] <= '9' {
			if end < 0 {
				end = i + 1
			}
		} else if end >= 0 {
			n, _ := strconv.ParseInt(uri[i+1:end], 10, 64)
			return n
		}
	}
	if end >= 0 {
		n, _ := strconv.ParseInt(uri[:end], 10, 64)
		return n
	}
	return -1
}
