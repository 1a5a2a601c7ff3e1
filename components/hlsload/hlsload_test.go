package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func config(url, mode string, viewers int, window time.Duration) *Config {
	return &Config{URL: url, Mode: mode, Viewers: viewers, Duration: window, Ramp: 200 * time.Millisecond,
		Timeout: 5 * time.Second, Grace: 2 * time.Second, Run: "t", Delta: true}
}

func TestLowLatencyViewersGetEveryPartWithTheirSessionId(t *testing.T) {
	f, server := newFakeLive(t, 50*time.Millisecond, 4)
	s := Run(config(server.URL+"/master.m3u8", "llhls", 5, 1500*time.Millisecond))
	if s.Joined != 5 || s.Delivery.ViewersComplete != 5 || s.Delivery.Expected == 0 {
		t.Fatalf("not every viewer got every part: %+v", s.Delivery)
	}
	// ≈1.5 s of 50 ms parts from each viewer's join: at least 25 parts each.
	if s.Delivery.Expected < 5*25 || s.Delivery.Received != s.Delivery.Expected {
		t.Fatalf("expected/received: %+v", s.Delivery)
	}
	if s.Requests["playlist_blocking"]["200"] < 5*20 || s.Requests["part_hinted"]["200"] < 5*20 {
		t.Fatalf("not playing by blocking reloads and preload hints: %v", s.Requests)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.kinds["init"] != 5 || f.kinds["multivariant"] != 5 || f.kinds["segment"] != 0 {
		t.Fatalf("init once per viewer, one multivariant load each, no segments: %v", f.kinds)
	}
	if f.noSid != 0 || len(f.sids) != 5 {
		t.Fatalf("every request carries its viewer's _sid: %d without, sessions %v", f.noSid, f.sids)
	}
	for i := range 5 {
		if f.sids[fmt.Sprintf("t-%d", i)] == 0 {
			t.Fatalf("no request with _sid=t-%d: %v", i, f.sids)
		}
	}
	// A hinted part is asked for before it exists: its lag includes its production (one part).
	if s.LagMs.Count == 0 || s.LagMs.P50 < 20 || s.LagMs.Max > 2000 || s.PartTarget != 0.05 {
		t.Fatalf("lag: %+v (part target %v)", s.LagMs, s.PartTarget)
	}
	if s.Client.CPUSeconds <= 0 || s.Bytes == 0 {
		t.Fatalf("client cost and bytes: %+v %d", s.Client, s.Bytes)
	}
}

func TestStandardViewersPollAndGetEverySegment(t *testing.T) {
	f, server := newFakeLive(t, 100*time.Millisecond, 5) // 0.5 s segments, target duration 1
	s := Run(config(server.URL+"/std/index.m3u8", "hls", 4, 3*time.Second))
	if s.Joined != 4 || s.Delivery.ViewersComplete != 4 || s.Delivery.Expected < 4*4 {
		t.Fatalf("not every viewer got every segment: %+v", s.Delivery)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	// One reload per target duration / 2 (0.5 s) for ≈3.2 s: about 7 each, no blocking reloads, no parts.
	if n := f.kinds["playlist"]; n < 4*5 || n > 4*9 || f.kinds["playlist_blocking"] != 0 || f.kinds["part"] != 0 {
		t.Fatalf("requests: %v", f.kinds)
	}
}

func TestMissingPartsAreCounted(t *testing.T) {
	f, server := newFakeLive(t, 50*time.Millisecond, 4)
	f.refuse = func(part int) bool { return part%7 == 0 }
	s := Run(config(server.URL+"/ll/index.m3u8", "llhls", 3, 1500*time.Millisecond))
	if s.Delivery.ViewersComplete != 0 || s.Delivery.MostMissed < 2 || s.Errors["http_404"] == 0 {
		t.Fatalf("refused parts not counted as missing: %+v %v", s.Delivery, s.Errors)
	}
}

// What became of the missed items is in the summary: refused ones failed. A viewer whose playlists
// arrive late has not heard of the window's last parts when it ends: it catches up on them during
// the grace (viewer.playing), so that none is missed for being behind when the window was cut.
func TestMissedItemsAreToldApartByWhatBecameOfThem(t *testing.T) {
	f, server := newFakeLive(t, 50*time.Millisecond, 4)
	f.refuse = func(part int) bool { return part%7 == 0 }
	f.late = func(sid string) time.Duration {
		if sid == "t-0" {
			return 400 * time.Millisecond // 8 parts: far past the 3-part margin
		}
		return 0
	}
	cfg := config(server.URL+"/ll/index.m3u8", "llhls", 3, 1500*time.Millisecond)
	cfg.PerViewer = true
	s := Run(cfg)
	missed := s.Delivery.Missed
	var sum int64
	for _, n := range missed {
		sum += n
	}
	if sum != s.Delivery.Expected-s.Delivery.Received || missed[missedFailed] < 2 || len(missed) != 1 {
		t.Fatalf("missed by reason %v, delivery %+v", missed, s.Delivery)
	}
	late, onTime := s.PerViewer[0], s.PerViewer[1]
	if len(late.Missed) != 1 || late.Missed[missedFailed] == 0 || onTime.Expected-onTime.Received != onTime.Missed[missedFailed] {
		t.Fatalf("the late viewer %+v, one on time %+v", late, onTime)
	}
	if s.LastPlaylistAgeMs.Count != 3 || s.LastPlaylistAgeMs.Max > 1000 {
		t.Fatalf("last playlists' ages: %+v", s.LastPlaylistAgeMs)
	}
}

func TestStopGapDetection(t *testing.T) {
	f, server := newFakeLive(t, 50*time.Millisecond, 4)
	go func() {
		time.Sleep(900 * time.Millisecond)
		f.pause(true)
		time.Sleep(time.Second)
		f.pause(false)
	}()
	cfg := config(server.URL+"/ll/index.m3u8", "llhls", 3, 2500*time.Millisecond)
	cfg.GapThreshold = 700 * time.Millisecond
	cfg.PerViewer = true
	s := Run(cfg)
	if s.ViewersGapOver == nil || *s.ViewersGapOver != 3 || s.GapMs.Max < 900 {
		t.Fatalf("a 1 s stall of the origin not seen as a gap: %+v over=%v", s.GapMs, s.ViewersGapOver)
	}
	if s.Delivery.ViewersComplete != 3 || len(s.PerViewer) != 3 {
		t.Fatalf("after the stall every viewer still has every part: %+v", s.Delivery)
	}
}

func TestParseDeltaPlaylistKeepsSequenceNumbers(t *testing.T) {
	text := strings.Join([]string{
		"#EXTM3U", "#EXT-X-TARGETDURATION:2",
		"#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=12.0,PART-HOLD-BACK=0.600",
		"#EXT-X-PART-INF:PART-TARGET=0.200", "#EXT-X-MEDIA-SEQUENCE:100", `#EXT-X-MAP:URI="init.mp4"`,
		"#EXT-X-SKIP:SKIPPED-SEGMENTS=4",
		`#EXT-X-PART:DURATION=0.20000,URI="part-50.m4s",INDEPENDENT=YES`, "#EXTINF:0.2,", "seg-104.m4s",
		`#EXT-X-PART:DURATION=0.20000,URI="part-51.m4s"`, `#EXT-X-PART:DURATION=0.20000,URI="part-52.m4s"`,
		`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part-53.m4s"`,
	}, "\n")
	p := ParsePlaylist(text)
	msn, part := p.NextPosition()
	if msn != 105 || part != 2 || p.Segments[0].MSN != 104 || p.PreloadHint != "part-53.m4s" || p.Map != "init.mp4" {
		t.Fatalf("parsed %+v: next %d/%d", p, msn, part)
	}
	if p.PartTarget != 0.2 || !p.CanBlockReload || p.CanSkipUntil != 12 {
		t.Fatalf("server control: %+v", p)
	}
	if a := attributes(`TYPE=PART,URI="a,b.m4s",X=1`); a["URI"] != "a,b.m4s" || a["X"] != "1" {
		t.Fatalf("attributes: %v", a)
	}
	for uri, want := range map[string]int64{"part-123.m4s": 123, "seg-000042.ts?x=1": 42, "/t/v1~a~9/7.ts": 7, "init.mp4": -1, "x.ts": -1} {
		if got := uriNumber(uri); got != want {
			t.Fatalf("uriNumber(%q) = %d, want %d", uri, got, want)
		}
	}
}

// SIGINT ends the window early and the summary still comes, covering the window up to the signal:
// what a test that cannot know the window's length in advance (an autoscaler's scale-in) relies on.
func TestSignalEndsTheWindowEarlyWithASummary(t *testing.T) {
	_, server := newFakeLive(t, 50*time.Millisecond, 4)
	go func() {
		time.Sleep(1500 * time.Millisecond)
		_ = syscall.Kill(os.Getpid(), syscall.SIGINT)
	}()
	began := time.Now()
	s := Run(config(server.URL+"/master.m3u8", "llhls", 3, 30*time.Second))
	if took := time.Since(began); took > 6*time.Second {
		t.Fatalf("the run went on %v after SIGINT at 1.5 s", took)
	}
	if s.Joined != 3 || s.Delivery.ViewersComplete != 3 || s.Delivery.Expected < 3*15 {
		t.Fatalf("every viewer got every part of the shortened window: %+v", s.Delivery)
	}
	if s.WindowSeconds > 2 {
		t.Fatalf("the window ends at the signal: %v s", s.WindowSeconds)
	}
}

// An ingest replaced without a handover: its Service answers 404 for a while, then a new packager
// numbers from the start again. The summary counts the 404s and the resets per viewer, and the
// request log has every request with the playlists' numbers and each part's.
func TestRequestLogAndResetsAcrossARestartedOrigin(t *testing.T) {
	f, server := newFakeLive(t, 50*time.Millisecond, 4)
	go func() {
		time.Sleep(700 * time.Millisecond)
		f.restart(300 * time.Millisecond)
	}()
	cfg := config(server.URL+"/ll/index.m3u8", "llhls", 2, 1800*time.Millisecond)
	cfg.PerViewer = true
	path := t.TempDir() + "/requests.jsonl"
	var err error
	if cfg.log, err = openRequestLog(path); err != nil {
		t.Fatal(err)
	}
	s := Run(cfg)
	if s.Resets < 2 || s.Non200["404"] == 0 || len(s.PerViewer) != 2 {
		t.Fatalf("resets %d, non-200 %v: %+v", s.Resets, s.Non200, s.PerViewer)
	}
	for _, v := range s.PerViewer {
		if v.Resets == 0 || v.Non200["404"] == 0 {
			t.Fatalf("viewer %d: resets %d, non-200 %v", v.ID, v.Resets, v.Non200)
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var entries []logEntry
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var e logEntry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		entries = append(entries, e)
	}
	total := 0
	for _, byStatus := range s.Requests {
		for status, n := range byStatus {
			if status != "picked" {
				total += n
			}
		}
	}
	if len(entries) != total {
		t.Fatalf("%d lines for %d requests", len(entries), total)
	}
	kinds, lower := map[string]int{}, false
	maxHint := map[int]int64{}
	for _, e := range entries {
		kinds[fmt.Sprintf("%s %d", e.Kind, e.Status)]++
		if e.T < float64(time.Now().Add(-time.Minute).Unix()) || e.URL == "" {
			t.Fatalf("entry %+v", e)
		}
		switch {
		case e.Status == 200 && strings.HasPrefix(e.Kind, "playlist"):
			if e.MediaSequence == nil || e.NextMSN == nil || e.Hint == nil || e.DiscontinuitySequence == nil {
				t.Fatalf("a playlist's numbers: %+v", e)
			}
			lower = lower || *e.Hint < maxHint[e.Viewer]
			maxHint[e.Viewer] = max(maxHint[e.Viewer], *e.Hint)
		case e.Status == 200 && strings.HasPrefix(e.Kind, "part"):
			if e.MSN == nil || e.Part == nil || *e.Part/4 != *e.MSN || e.Bytes != 1000 {
				t.Fatalf("a part's numbers: %+v", e)
			}
		}
	}
	if kinds["playlist_blocking 404"]+kinds["playlist 404"] == 0 || !lower {
		t.Fatalf("the log shows neither the 404s nor the part numbers going back: %v", kinds)
	}
}

// A new session that continues the numbers after an EXT-X-DISCONTINUITY, with an init segment of its
// own (a handover): no reset, no failed request, every part received, the new init fetched.
func TestANewSessionContinuingTheNumbersIsNoReset(t *testing.T) {
	f, server := newFakeLive(t, 50*time.Millisecond, 4)
	go func() {
		time.Sleep(700 * time.Millisecond)
		f.handOver()
	}()
	s := Run(config(server.URL+"/ll/index.m3u8", "llhls", 2, 1800*time.Millisecond))
	if s.Resets != 0 || len(s.Non200) != 0 || s.Delivery.ViewersComplete != 2 {
		t.Fatalf("resets %d, non-200 %v, delivery %+v", s.Resets, s.Non200, s.Delivery)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.kinds["init"] < 2*2 {
		t.Fatalf("each viewer fetches the new session's init segment too: %v", f.kinds)
	}
}

// A publisher gone and back (EXT-X-ENDLIST for a while, then parts numbered from the start): a viewer
// stops at the ENDLIST as a player does; with -rejoin it joins again at the new live edge, as a user
// reloading the page, and gets the new session's parts.
func TestRejoinAfterAnEndListAndANumberingFromTheStart(t *testing.T) {
	for _, rejoin := range []bool{false, true} {
		f, server := newFakeLive(t, 50*time.Millisecond, 4)
		go func() {
			time.Sleep(600 * time.Millisecond)
			f.endThenRestart(400 * time.Millisecond)
		}()
		cfg := config(server.URL+"/ll/index.m3u8", "llhls", 1, 2*time.Second)
		cfg.PerViewer, cfg.Rejoin = true, rejoin
		path := t.TempDir() + "/requests.jsonl"
		var err error
		if cfg.log, err = openRequestLog(path); err != nil {
			t.Fatal(err)
		}
		began := time.Now()
		s := Run(cfg)
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		ended, partsAfter := 0.0, 0
		for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
			var e logEntry
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatal(err)
			}
			if e.EndList && ended == 0 {
				ended = e.T
			}
			// Asked for after the ENDLIST came: a part request already on its way then (its
			// answer ends later under load) is not the viewer going on.
			if asked := e.T - e.Ms/1000; ended > 0 && asked > ended && e.Status == 200 && e.Part != nil {
				partsAfter++
			}
		}
		if ended == 0 {
			t.Fatalf("rejoin=%v: no EXT-X-ENDLIST in the log", rejoin)
		}
		if !rejoin && (partsAfter != 0 || time.Since(began) >= cfg.Ramp+cfg.Duration) {
			t.Fatalf("without -rejoin the viewer stops at the ENDLIST: %d parts after it, ran %v", partsAfter, time.Since(began))
		}
		if rejoin && (partsAfter < 10 || s.PerViewer[0].Rejoins != 1) {
			t.Fatalf("with -rejoin the viewer plays the new session: %d parts after the ENDLIST, %+v", partsAfter, s.PerViewer[0])
		}
	}
}
