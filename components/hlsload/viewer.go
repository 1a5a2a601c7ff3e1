package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
)

// item is one part (LL-HLS) or segment (HLS) a viewer tracks, by its number.
type item struct {
	announced time.Time // when the playlist that first named it (hint or listed) was received
	state     int
	hinted    bool
}

const (
	inFlight = iota + 1
	received
	failed
)

// viewer is one emulated player: its own HTTP client (keep-alive connections of its own, as a
// browser tab has), its session id, and what it announced and received.
type viewer struct {
	id     int
	sid    string
	cfg    *Config
	client *http.Client
	url    string // the media playlist (after picking a rendition)

	mu       sync.Mutex
	items    map[int64]*item
	first    int64 // the first item it tracks (-1 until its first playlist)
	receipts []time.Time
	lags     []float64 // ms, of items announced within the measuring window
	requests map[string]map[string]int
	errs     map[string]int
	bytes    int64
	joined   time.Time
	// the last media playlist received within the window (its last byte)
	lastPlaylist time.Time
	fetches      sync.WaitGroup
	initURI      string // the EXT-X-MAP fetched (or being fetched): a new one after a discontinuity is fetched too
	partTgt      float64
	targetDur    float64
	log          *requestLog
	furthest     position
	resets       int
	reset        bool // the last playlist was a reset (rejoinIfReset takes it)
	rejoins      int
	// One listed item (a part or segment already in the playlist) fetched at a time, as hls.js
	// loads fragments: a viewer behind catches up part after part, not with every missed part at
	// once (100 viewers behind one address 2 s behind held ≈ 1,200 requests at once, past the
	// ingest's 300 per address: docs/design/playback.md, "A crowd behind one address"). The
	// preload-hinted part and the blocking reload go beside it: 3 at once at most.
	listed chan struct{}
}

func newViewer(id int, cfg *Config) *viewer {
	transport := &http.Transport{
		Proxy:               nil, // loopback and the URL given: never a proxy from the environment
		DialContext:         (&net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 4, // a blocking playlist request, a hinted part and a listed part at once
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &viewer{
		id:       id,
		sid:      fmt.Sprintf("%s-%d", cfg.Run, id),
		cfg:      cfg,
		client:   &http.Client{Transport: transport, Timeout: cfg.Timeout},
		url:      cfg.URL,
		items:    map[int64]*item{},
		first:    -1,
		requests: map[string]map[string]int{},
		errs:     map[string]int{},
		log:      cfg.log,
		listed:   make(chan struct{}, 1),
	}
}

// withSid adds the viewer's session id (docs/design/playback.md, "Viewer sessions") to a URL.
func (v *viewer) withSid(raw string) string {
	sep := "?"
	if strings.Contains(raw, "?") {
		sep = "&"
	}
	return raw + sep + "_sid=" + url.QueryEscape(v.sid)
}

func (v *viewer) count(kind, status string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	byStatus := v.requests[kind]
	if byStatus == nil {
		byStatus = map[string]int{}
		v.requests[kind] = byStatus
	}
	byStatus[status]++
}

func (v *viewer) fail(what string) {
	v.mu.Lock()
	v.errs[what]++
	v.mu.Unlock()
}

var errStatus = errors.New("HTTP status")

// get fetches a URL (with _sid), returning the body when keep is set, else discarding it; the
// time is when its last byte arrived. A request cut by ctx (the run's end) is not counted. The
// entry for the request log is filled in; the caller adds what it read of the answer and writes it
// (nil: nothing to log, the run ended).
func (v *viewer) get(ctx context.Context, kind, raw string, keep bool) ([]byte, time.Time, *logEntry, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.withSid(raw), nil)
	if err != nil {
		return nil, time.Time{}, nil, err
	}
	began := time.Now()
	entry := &logEntry{Viewer: v.id, Kind: kind, URL: raw}
	failed := func(err error) *logEntry {
		now := time.Now()
		entry.T, entry.Ms, entry.Error = unixSeconds(now), float64(now.Sub(began).Microseconds())/1000, classify(err)
		return entry
	}
	resp, err := v.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, time.Time{}, nil, ctx.Err()
		}
		v.count(kind, "error")
		v.fail(classify(err))
		return nil, time.Time{}, failed(err), err
	}
	defer resp.Body.Close()
	var body []byte
	var n int64
	if keep {
		body, err = io.ReadAll(resp.Body)
		n = int64(len(body))
	} else {
		n, err = io.Copy(io.Discard, resp.Body)
	}
	done := time.Now()
	if err != nil {
		if ctx.Err() != nil {
			return nil, time.Time{}, nil, ctx.Err()
		}
		v.count(kind, "error")
		v.fail(classify(err))
		return nil, time.Time{}, failed(err), err
	}
	v.count(kind, fmt.Sprint(resp.StatusCode))
	v.mu.Lock()
	v.bytes += n
	v.mu.Unlock()
	entry.T, entry.Ms = unixSeconds(done), float64(done.Sub(began).Microseconds())/1000
	entry.Status, entry.Bytes = resp.StatusCode, n
	if resp.StatusCode != http.StatusOK {
		v.fail(fmt.Sprintf("http_%d", resp.StatusCode))
		return nil, done, entry, fmt.Errorf("%w %d", errStatus, resp.StatusCode)
	}
	return body, done, entry, nil
}

func classify(err error) string {
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return "timeout"
	}
	return "connection"
}

// playlist fetches and parses a playlist; the time is when its last byte arrived. A media
// playlist whose numbers went back from the furthest this viewer saw counts as a reset.
func (v *viewer) playlist(ctx context.Context, kind, raw string) (*Playlist, time.Time, error) {
	body, at, entry, err := v.get(ctx, kind, raw, true)
	if err != nil {
		v.log.write(entry)
		return nil, at, err
	}
	pl := ParsePlaylist(string(body))
	if !pl.Multivariant {
		msn, part := pl.NextPosition()
		entry.MediaSequence, entry.DiscontinuitySequence = &pl.MediaSequence, &pl.Discontinuity
		entry.NextMSN, entry.NextPart, entry.EndList = &msn, &part, pl.EndList
		if pl.PreloadHint != "" {
			hint := uriNumber(pl.PreloadHint)
			entry.Hint = &hint
		}
		v.mu.Lock()
		if v.furthest.advance(pl) {
			v.resets++
			v.reset = true
		}
		if at.Before(v.cfg.deadline()) {
			v.lastPlaylist = at
		}
		v.mu.Unlock()
	}
	v.log.write(entry)
	return pl, at, nil
}

func (v *viewer) resolve(ref string) string {
	base, err := url.Parse(v.url)
	if err != nil {
		return ref
	}
	r, err := url.Parse(ref)
	if err != nil {
		return ref
	}
	return base.ResolveReference(r).String()
}

// mediaPlaylist loads the given URL until it answers, picking a rendition of a multivariant
// playlist; nil when the run ends first.
func (v *viewer) mediaPlaylist(ctx context.Context) (*Playlist, time.Time) {
	kind := "playlist"
	for ctx.Err() == nil {
		pl, at, err := v.playlist(ctx, kind, v.url)
		if err != nil {
			sleep(ctx, time.Second/2)
			continue
		}
		if !pl.Multivariant {
			return pl, at
		}
		if len(pl.Variants) == 0 {
			v.fail("empty_multivariant")
			return nil, at
		}
		v.count("multivariant", "picked")
		i := v.cfg.Rendition
		if i < 0 || i >= len(pl.Variants) {
			i = 0
		}
		v.url = v.resolve(pl.Variants[i])
	}
	return nil, time.Time{}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// fetchInit fetches the playlist's init segment (EXT-X-MAP) once, and again when it names another
// (after a discontinuity: a new session's init, as a player must).
func (v *viewer) fetchInit(fetchCtx context.Context, pl *Playlist) {
	v.mu.Lock()
	if pl.Map == "" || v.initURI == pl.Map {
		v.mu.Unlock()
		return
	}
	v.initURI = pl.Map
	v.mu.Unlock()
	target := v.resolve(pl.Map)
	v.fetches.Add(1)
	go func() {
		defer v.fetches.Done()
		_, _, entry, err := v.get(fetchCtx, "init", target, false)
		v.log.write(entry)
		if err != nil && fetchCtx.Err() == nil {
			v.mu.Lock()
			if v.initURI == pl.Map {
				v.initURI = "" // fetched again with the next playlist
			}
			v.mu.Unlock()
		}
	}()
}

// track starts fetching item n (uri; in segment msn) when it is new to this viewer, or failed
// before and is now listed (not only hinted); announced is when the playlist naming it arrived.
func (v *viewer) track(fetchCtx context.Context, kind string, n, msn int64, uri string, announced time.Time, hint bool) {
	v.mu.Lock()
	it := v.items[n]
	switch {
	case it == nil:
		it = &item{announced: announced, state: inFlight, hinted: hint}
		v.items[n] = it
	case it.state == failed && !hint:
		it.state = inFlight
	default:
		v.mu.Unlock()
		return
	}
	v.mu.Unlock()
	target := v.resolve(uri)
	v.fetches.Add(1)
	go func() {
		defer v.fetches.Done()
		if !hint {
			select {
			case v.listed <- struct{}{}:
				defer func() { <-v.listed }()
			case <-fetchCtx.Done():
				v.mu.Lock()
				it.state = failed
				v.mu.Unlock()
				return
			}
		}
		_, at, entry, err := v.get(fetchCtx, kind, target, false)
		if entry != nil {
			entry.MSN = &msn
			if kind != "segment" {
				entry.Part = &n
			}
		}
		v.log.write(entry)
		v.mu.Lock()
		defer v.mu.Unlock()
		if err != nil {
			it.state = failed
			return
		}
		it.state = received
		v.receipts = append(v.receipts, at)
		if !it.announced.Before(v.cfg.windowStart) && it.announced.Before(v.cfg.deadline()) {
			v.lags = append(v.lags, float64(at.Sub(it.announced).Microseconds())/1000)
		}
	}()
}

// runLowLatency plays as hls.js does in low-latency mode: the media playlist, the init segment
// once, then blocking reloads (_HLS_msn/_HLS_part of the next part, with _HLS_skip=YES delta
// updates when the server offers them), every part newly listed and the preload-hinted part as
// soon as it is hinted. It joins at the live edge: the first part it tracks is the first hint.
func (v *viewer) runLowLatency(ctx, fetchCtx context.Context) {
	pl, at := v.mediaPlaylist(ctx)
	if pl == nil {
		return
	}
	if pl.PartTarget == 0 || !pl.CanBlockReload {
		v.fail("not_low_latency")
		return
	}
	v.mu.Lock()
	v.joined, v.partTgt, v.targetDur = at, pl.PartTarget, pl.TargetDuration
	v.joinAt(pl)
	v.reset = false
	v.mu.Unlock()
	v.announceParts(fetchCtx, pl, at)
	// Playlists go on fetchCtx: a blocking reload in flight at the window's end is not cut, and a
	// viewer behind then catches up during the grace (v.playing).
	for v.playing(ctx, fetchCtx) {
		if pl.EndList {
			if !v.cfg.Rejoin {
				break
			}
			// -rejoin: as a user reloading the page, until the stream is live again.
			sleep(fetchCtx, time.Duration(pl.PartTarget*float64(time.Second)))
			if next, t, err := v.playlist(fetchCtx, "playlist", v.url); err == nil {
				pl, at = next, t
				v.rejoinIfReset(pl, true)
				v.announceParts(fetchCtx, pl, at)
			}
			continue
		}
		msn, part := pl.NextPosition()
		query := fmt.Sprintf("_HLS_msn=%d&_HLS_part=%d", msn, part)
		if v.cfg.Delta && pl.CanSkipUntil > 0 {
			query += "&_HLS_skip=YES"
		}
		next, at, err := v.playlist(fetchCtx, "playlist_blocking", v.url+"?"+query)
		if err != nil {
			if fetchCtx.Err() != nil {
				break
			}
			// Behind or ahead of the server (a 400 or 503): start again from a full playlist.
			sleep(fetchCtx, time.Duration(pl.PartTarget*float64(time.Second)))
			if next, at, err = v.playlist(fetchCtx, "playlist", v.url); err != nil {
				continue
			}
		}
		if next.Skipped > 0 && len(next.Segments) == 0 && len(next.TailParts) == 0 {
			v.fail("empty_delta")
		}
		pl = next
		v.rejoinIfReset(pl, false)
		v.announceParts(fetchCtx, pl, at)
	}
}

// playing: within the window; after its end, during the grace, only while the viewer has not yet
// heard of the last item it is expected to receive (cfg.lastExpected). A viewer whose playlists
// were late when the window ended (a busy client, a slow path) still hears of the parts named
// before the end, as it still fetches those it heard of: what the delivery counts is whether it
// got them, not where it was when the window was cut.
func (v *viewer) playing(ctx, fetchCtx context.Context) bool {
	if ctx.Err() == nil {
		return true
	}
	if fetchCtx.Err() != nil {
		return false
	}
	target := v.cfg.lastExpected()
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.furthestItem() < target
}

// furthestItem is the highest item number the viewer has heard of (v.mu held); -1 for none.
func (v *viewer) furthestItem() int64 {
	furthest := int64(-1)
	for n := range v.items {
		furthest = max(furthest, n)
	}
	return furthest
}

// joinAt makes the playlist's live edge the first part tracked (v.mu held): its preload hint, else
// the part after its last one.
func (v *viewer) joinAt(pl *Playlist) {
	if pl.PreloadHint != "" {
		v.first = uriNumber(pl.PreloadHint)
	} else if len(pl.TailParts) > 0 {
		v.first = uriNumber(pl.TailParts[len(pl.TailParts)-1].URI) + 1
	}
}

// rejoinIfReset (-rejoin): after a sequence reset, or a playlist live again after an ENDLIST, the
// viewer joins again at the live edge, as a player that reloads: parts numbered from the new first
// are fetched even if the old numbering had them, and the init segment again. Without it a viewer
// whose numbers went back would wait until the new numbers pass its first part.
func (v *viewer) rejoinIfReset(pl *Playlist, afterEnd bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	reset := v.reset
	v.reset = false
	if !v.cfg.Rejoin || pl.EndList || !(reset || afterEnd) {
		return
	}
	v.joinAt(pl)
	for n := range v.items {
		if n >= v.first {
			delete(v.items, n)
		}
	}
	v.initURI = ""
	v.rejoins++
}

func (v *viewer) announceParts(fetchCtx context.Context, pl *Playlist, at time.Time) {
	v.fetchInit(fetchCtx, pl)
	v.mu.Lock()
	first := v.first
	v.mu.Unlock()
	if first < 0 {
		return
	}
	listed := func(parts []Part, msn int64) {
		for _, p := range parts {
			if n := uriNumber(p.URI); n >= first {
				v.track(fetchCtx, "part", n, msn, p.URI, at, false)
			}
		}
	}
	for _, s := range pl.Segments {
		listed(s.Parts, s.MSN)
	}
	next, _ := pl.NextPosition()
	listed(pl.TailParts, next)
	if pl.PreloadHint != "" {
		if n := uriNumber(pl.PreloadHint); n >= first {
			v.track(fetchCtx, "part_hinted", n, next, pl.PreloadHint, at, true)
		}
	}
}

// runStandard plays standard HLS: the playlist every target duration / 2, each new segment once
// (and the init segment once). It joins with the newest segment listed.
func (v *viewer) runStandard(ctx, fetchCtx context.Context) {
	pl, at := v.mediaPlaylist(ctx)
	if pl == nil {
		return
	}
	if len(pl.Segments) == 0 {
		for ctx.Err() == nil && len(pl.Segments) == 0 {
			sleep(ctx, time.Second/2)
			if p, t, err := v.playlist(ctx, "playlist", v.url); err == nil {
				pl, at = p, t
			}
		}
		if ctx.Err() != nil {
			return
		}
	}
	v.mu.Lock()
	v.joined, v.targetDur, v.partTgt = at, pl.TargetDuration, pl.PartTarget
	v.first = pl.Segments[len(pl.Segments)-1].MSN
	v.mu.Unlock()
	interval := time.Duration(pl.TargetDuration / 2 * float64(time.Second))
	if interval <= 0 {
		interval = time.Second
	}
	next := time.Now()
	for {
		v.fetchInit(fetchCtx, pl)
		for _, s := range pl.Segments {
			if s.MSN >= v.first {
				v.track(fetchCtx, "segment", s.MSN, s.MSN, s.URI, at, false)
			}
		}
		if pl.EndList {
			return
		}
		next = next.Add(interval)
		sleep(ctx, time.Until(next))
		if ctx.Err() != nil {
			return
		}
		p, t, err := v.playlist(ctx, "playlist", v.url)
		if err == nil {
			pl, at = p, t
		}
	}
}

func (v *viewer) run(ctx, fetchCtx context.Context) {
	if v.cfg.Mode == "llhls" {
		v.runLowLatency(ctx, fetchCtx)
	} else {
		v.runStandard(ctx, fetchCtx)
	}
	v.fetches.Wait()
	v.client.CloseIdleConnections()
}

func warn(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "hlsload: "+format+"\n", args...)
}
