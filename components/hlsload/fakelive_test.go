package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeLive is an LL-HLS origin in the test process: a part every partDur, partsPerSegment parts
// a segment, blocking playlist reloads, the preload-hinted part answered once written, delta
// updates, a standard playlist beside it and a multivariant playlist naming the LL one. It
// records every request's _sid.
type fakeLive struct {
	t               *testing.T
	partDur         time.Duration
	partsPerSegment int
	refuse          func(part int) bool // answer 404 for these parts, always
	// hold each LL-HLS playlist this long after rendering it, for a viewer (_sid): a client or a
	// path that is late, so that its playlists are old when they arrive
	late func(sid string) time.Duration

	mu      sync.Mutex
	changed chan struct{} // closed and replaced at every new part
	next    int           // the part being written (the preload hint)
	paused  bool
	gone    bool // every request answered 404 (an ingest Pod gone, its Service without endpoints yet)
	ended   bool // the playlist says EXT-X-ENDLIST (a publisher gone, endListOnStop)
	session int  // sessions before the current one: the current one's segments follow a discontinuity
	since   int  // the first segment of the current session
	sids    map[string]int
	noSid   int
	kinds   map[string]int
	stop    chan struct{}
}

func newFakeLive(t *testing.T, partDur time.Duration, partsPerSegment int) (*fakeLive, *httptest.Server) {
	f := &fakeLive{t: t, partDur: partDur, partsPerSegment: partsPerSegment, changed: make(chan struct{}),
		sids: map[string]int{}, kinds: map[string]int{}, stop: make(chan struct{}), next: 3 * partsPerSegment}
	go f.produce()
	server := httptest.NewServer(f)
	t.Cleanup(func() { server.Close(); close(f.stop) })
	return f, server
}

// produce writes a part every partDur of wall time. A ticker alone drops ticks when the process is
// starved (`go test -race` on a loaded machine: a test saw 115 parts where 1.5 s holds 125), so
// each tick writes every part that came due since the last one, as a packager behind its input
// does; the tests' counts are then the clock's, whatever the load.
func (f *fakeLive) produce() {
	tick := time.NewTicker(f.partDur)
	defer tick.Stop()
	due := time.Now()
	for {
		select {
		case <-f.stop:
			return
		case now := <-tick.C:
			n := 0
			for ; !due.Add(f.partDur).After(now); due = due.Add(f.partDur) {
				n++
			}
			f.mu.Lock()
			if !f.paused && n > 0 {
				f.next += n
				close(f.changed)
				f.changed = make(chan struct{})
			}
			f.mu.Unlock()
		}
	}
}

func (f *fakeLive) pause(paused bool) {
	f.mu.Lock()
	f.paused = paused
	f.mu.Unlock()
}

// restart is an ingest replaced without a handover: for `down` every request gets 404, then a new
// packager numbers its parts and segments from the start again.
func (f *fakeLive) restart(down time.Duration) {
	f.mu.Lock()
	f.gone = true
	f.mu.Unlock()
	time.Sleep(down)
	f.mu.Lock()
	f.gone, f.next = false, f.partsPerSegment
	f.mu.Unlock()
}

// endThenRestart is an ingest whose publisher went: for `down` its playlist says EXT-X-ENDLIST,
// then a new session numbers its parts from the start again.
func (f *fakeLive) endThenRestart(down time.Duration) {
	f.mu.Lock()
	f.ended, f.paused = true, true
	close(f.changed) // blocked reloads answer the ENDLIST at once
	f.changed = make(chan struct{})
	f.mu.Unlock()
	time.Sleep(down)
	f.mu.Lock()
	f.ended, f.paused, f.next = false, false, f.partsPerSegment
	f.mu.Unlock()
}

// handOver is a new session that continues the numbers: the segment being written is the new
// session's first, after an EXT-X-DISCONTINUITY, with an init segment of its own.
func (f *fakeLive) handOver() {
	f.mu.Lock()
	f.session++
	f.since = f.next/f.partsPerSegment + 1
	f.next = f.since * f.partsPerSegment
	f.mu.Unlock()
}

// until waits (up to 2 s) for ok() under the lock; the lock is held on return.
func (f *fakeLive) until(ok func() bool) bool {
	deadline := time.After(2 * time.Second)
	f.mu.Lock()
	for !ok() {
		ch := f.changed
		f.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			f.mu.Lock()
			return false
		}
		f.mu.Lock()
	}
	return true
}

func (f *fakeLive) count(r *http.Request, kind string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.kinds[kind]++
	if sid := r.URL.Query().Get("_sid"); sid != "" {
		f.sids[sid]++
	} else {
		f.noSid++
	}
}

func (f *fakeLive) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	name := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
	f.mu.Lock()
	gone := f.gone
	f.mu.Unlock()
	switch {
	case gone:
		f.count(r, "gone")
		http.NotFound(w, r)
	case r.URL.Path == "/master.m3u8":
		f.count(r, "multivariant")
		fmt.Fprint(w, "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000\nll/index.m3u8\n")
	case r.URL.Path == "/ll/index.m3u8":
		kind := "playlist"
		if q.Has("_HLS_msn") {
			kind = "playlist_blocking"
		}
		f.count(r, kind)
		want := -1
		if q.Has("_HLS_msn") {
			msn, _ := strconv.Atoi(q.Get("_HLS_msn"))
			part, _ := strconv.Atoi(q.Get("_HLS_part"))
			want = msn*f.partsPerSegment + part // the part that must be complete
			f.mu.Lock()
			ahead := msn > f.next/f.partsPerSegment+2
			f.mu.Unlock()
			if ahead { // RFC 8216bis §6.2.5.2: more than two segments ahead is a 400
				http.Error(w, "_HLS_msn too far ahead", http.StatusBadRequest)
				return
			}
		}
		if !f.until(func() bool { return f.next > want || f.ended }) {
			f.mu.Unlock()
			http.Error(w, "blocked too long", http.StatusServiceUnavailable)
			return
		}
		text := f.lowLatency(q.Get("_HLS_skip") == "YES")
		f.mu.Unlock()
		if f.late != nil {
			time.Sleep(f.late(q.Get("_sid")))
		}
		fmt.Fprint(w, text)
	case r.URL.Path == "/std/index.m3u8":
		f.count(r, "playlist")
		f.mu.Lock()
		text := f.standard()
		f.mu.Unlock()
		fmt.Fprint(w, text)
	case strings.HasPrefix(name, "init"):
		f.count(r, "init")
		fmt.Fprint(w, "init")
	case strings.HasPrefix(name, "part-"):
		f.count(r, "part")
		n := int(uriNumber(name))
		ok := f.until(func() bool { return f.next > n || n > f.next })
		written := f.next > n
		f.mu.Unlock()
		if !ok || !written || (f.refuse != nil && f.refuse(n)) {
			http.NotFound(w, r)
			return
		}
		w.Write(make([]byte, 1000))
	case strings.HasPrefix(name, "seg-"):
		f.count(r, "segment")
		w.Write(make([]byte, 1000*f.partsPerSegment))
	default:
		http.NotFound(w, r)
	}
}

// lowLatency renders the LL-HLS playlist (f.mu held): the last 6 complete segments, parts listed
// for the last 2 and the one being written, the hint.
func (f *fakeLive) lowLatency(skip bool) string {
	complete := f.next / f.partsPerSegment
	first := max(0, complete-6)
	var b strings.Builder
	partTarget := f.partDur.Seconds()
	target := int(partTarget*float64(f.partsPerSegment) + 0.999)
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:%d\n", target)
	fmt.Fprintf(&b, "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=%.1f,PART-HOLD-BACK=%.3f\n", 6*float64(target), 3*partTarget)
	fmt.Fprintf(&b, "#EXT-X-PART-INF:PART-TARGET=%.3f\n#EXT-X-MEDIA-SEQUENCE:%d\n", partTarget, first)
	init := "init.mp4"
	if f.session > 0 && first >= f.since { // the earlier session left the window, its discontinuity with it
		init = fmt.Sprintf("init-%d.mp4", f.session)
		fmt.Fprintf(&b, "#EXT-X-DISCONTINUITY-SEQUENCE:1\n")
	}
	fmt.Fprintf(&b, "#EXT-X-MAP:URI=%q\n", init)
	start := first
	if skip && complete-first > 3 {
		start = complete - 3
		fmt.Fprintf(&b, "#EXT-X-SKIP:SKIPPED-SEGMENTS=%d\n", start-first)
	}
	for msn := start; msn <= complete; msn++ {
		if f.session > 0 && msn == f.since && msn > first {
			fmt.Fprintf(&b, "#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init-%d.mp4\"\n", f.session)
		}
		if msn >= complete-2 {
			for p := msn * f.partsPerSegment; p < min(f.next, (msn+1)*f.partsPerSegment); p++ {
				fmt.Fprintf(&b, "#EXT-X-PART:DURATION=%.5f,URI=\"part-%d.m4s\"\n", partTarget, p)
			}
		}
		if msn < complete {
			fmt.Fprintf(&b, "#EXTINF:%.5f,\nseg-%d.m4s\n", partTarget*float64(f.partsPerSegment), msn)
		}
	}
	if f.ended {
		fmt.Fprintf(&b, "#EXT-X-ENDLIST\n")
		return b.String()
	}
	fmt.Fprintf(&b, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part-%d.m4s\"\n", f.next)
	return b.String()
}

func (f *fakeLive) standard() string {
	complete := f.next / f.partsPerSegment
	first := max(0, complete-6)
	var b strings.Builder
	seconds := f.partDur.Seconds() * float64(f.partsPerSegment)
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:%d\n#EXT-X-MEDIA-SEQUENCE:%d\n", int(seconds+0.999), first)
	for msn := first; msn < complete; msn++ {
		fmt.Fprintf(&b, "#EXTINF:%.5f,\nseg-%d.ts\n", seconds, msn)
	}
	return b.String()
}
