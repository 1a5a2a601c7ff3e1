package main

import (
	"math"
	"sort"
	"time"
)

// Summary is the JSON the run prints.
//
// Lag of a part (LL-HLS) or segment (HLS): the time its last byte arrived at the viewer minus the
// time the viewer received the playlist that first named it — as EXT-X-PRELOAD-HINT or as
// EXT-X-PART (LL-HLS), as a listed segment (HLS). For a hinted part this includes the part's own
// production (≈ one part duration: the hint names the part the server writes next); for a listed
// one only its delivery. Counted for items first named within the measuring window (after the
// ramp-up, before the end).
type Summary struct {
	Mode           string                    `json:"mode"`
	URL            string                    `json:"url"`
	Viewers        int                       `json:"viewers"`
	Joined         int                       `json:"joined"`
	RampSeconds    float64                   `json:"ramp_s"`
	WindowSeconds  float64                   `json:"window_s"`
	ElapsedSeconds float64                   `json:"elapsed_s"`
	PartTarget     float64                   `json:"part_target_s"`
	TargetDuration float64                   `json:"target_duration_s"`
	Item           string                    `json:"item"` // part or segment
	Requests       map[string]map[string]int `json:"requests"`
	Errors         map[string]int            `json:"errors"`
	Delivery       Delivery                  `json:"delivery"`
	LagMs          Distribution              `json:"lag_ms"`
	GapMs          Distribution              `json:"max_gap_ms"`
	Non200         map[string]int            `json:"non_200"` // answers other than 200 by status ("error": none), every kind
	Resets         int                       `json:"resets"`  // times a media playlist's numbers went back (position.advance)
	// How long before the window's end each viewer's last media playlist arrived: a viewer whose
	// last one is older than the delivery margin was behind when the window ended (missed "behind").
	LastPlaylistAgeMs Distribution    `json:"last_playlist_age_ms"`
	GapThresholdMs    float64         `json:"gap_threshold_ms,omitempty"`
	ViewersGapOver    *int            `json:"viewers_gap_over_threshold,omitempty"`
	Bytes             int64           `json:"bytes"`
	Client            ClientCost      `json:"client"`
	PerViewer         []ViewerFigures `json:"per_viewer,omitempty"`
	RequestsPerSecond float64         `json:"requests_per_s"`
}

// Delivery says whether every viewer received every item: expected for a viewer are the items
// from the first it tracked to the last any viewer was told of before the end minus a margin
// (3 part targets for LL-HLS, one target duration for HLS: every healthy viewer has heard of them
// by then).
type Delivery struct {
	Expected         int64   `json:"expected"`
	Received         int64   `json:"received"`
	ViewersComplete  int     `json:"viewers_complete"`
	ViewersCompleteP float64 `json:"viewers_complete_pct"`
	MostMissed       int64   `json:"most_missed_by_a_viewer"`
	// Missed items by what became of them (missReason): which a failure message names.
	Missed map[string]int64 `json:"missed"`
}

// The reasons an expected item was not received, for a viewer.
const (
	// never named to it, past the last item it was told of: it was behind when the window ended.
	missedBehind = "not_named_behind"
	// never named to it, though it was told of later ones: its playlists skipped past it.
	missedSkipped = "not_named_skipped"
	// its fetch failed (errors, non_200 say how) and no later playlist listed it again.
	missedFailed = "failed"
	// its fetch was still going when the grace after the window ended.
	missedUnfinished = "unfinished"
)

// missReason says why item n, expected, was not received (ok: it was).
func (v *viewer) missReason(n, furthest int64) (reason string, ok bool) {
	it := v.items[n]
	switch {
	case it == nil && n > furthest:
		return missedBehind, false
	case it == nil:
		return missedSkipped, false
	case it.state == received:
		return "", true
	case it.state == failed:
		return missedFailed, false
	default:
		return missedUnfinished, false
	}
}

// Distribution is nearest-rank percentiles.
type Distribution struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50"`
	P95   float64 `json:"p95"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

// ClientCost is what the load client itself used (getrusage RUSAGE_SELF, whole run).
type ClientCost struct {
	UserSeconds   float64 `json:"cpu_user_s"`
	SystemSeconds float64 `json:"cpu_system_s"`
	CPUSeconds    float64 `json:"cpu_s"`
	PctOfCore     float64 `json:"cpu_pct_of_core"`
	MaxRSSKiB     int64   `json:"max_rss_kib"`
}

// ViewerFigures is one viewer's part of the summary (-per-viewer).
type ViewerFigures struct {
	ID       int              `json:"id"`
	Expected int64            `json:"expected"`
	Received int64            `json:"received"`
	MaxGapMs float64          `json:"max_gap_ms"`
	FirstMs  float64          `json:"first_item_ms"` // join (first playlist) -> first item received
	Errors   map[string]int   `json:"errors,omitempty"`
	Non200   map[string]int   `json:"non_200,omitempty"`
	Resets   int              `json:"resets"`
	Rejoins  int              `json:"rejoins,omitempty"`
	Missed   map[string]int64 `json:"missed,omitempty"`
	// The window's end minus its last media playlist's arrival (-1: none).
	LastPlaylistAgeMs float64 `json:"last_playlist_age_ms"`
	LagP99Ms          float64 `json:"lag_p99_ms"`
	BytesTotal        int64   `json:"bytes"`
}

func distribution(values []float64) Distribution {
	if len(values) == 0 {
		return Distribution{}
	}
	sorted := append([]float64(nil), values...)
	sort.Float64s(sorted)
	rank := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(sorted)))) - 1
		return round(sorted[max(0, min(i, len(sorted)-1))])
	}
	return Distribution{Count: len(sorted), P50: rank(0.50), P95: rank(0.95), P99: rank(0.99), Max: round(sorted[len(sorted)-1])}
}

func round(x float64) float64 { return math.Round(x*10) / 10 }

func summarise(cfg *Config, viewers []*viewer, elapsed time.Duration) *Summary {
	s := &Summary{
		Mode: cfg.Mode, URL: cfg.URL, Viewers: cfg.Viewers, Item: "part",
		RampSeconds: cfg.Ramp.Seconds(), WindowSeconds: round(cfg.deadline().Sub(cfg.windowStart).Seconds()), ElapsedSeconds: round(elapsed.Seconds()),
		Requests: map[string]map[string]int{}, Errors: map[string]int{}, Non200: map[string]int{},
	}
	s.Delivery.Missed = map[string]int64{}
	if cfg.Mode == "hls" {
		s.Item = "segment"
	}
	for _, v := range viewers {
		if !v.joined.IsZero() {
			s.Joined++
			s.PartTarget, s.TargetDuration = v.partTgt, v.targetDur
		}
	}
	last := cfg.lastExpected() // the same the viewers caught up to after the window's end
	var lags, gaps, playlistAges []float64
	total := 0
	for _, v := range viewers {
		for kind, byStatus := range v.requests {
			if s.Requests[kind] == nil {
				s.Requests[kind] = map[string]int{}
			}
			for status, n := range byStatus {
				s.Requests[kind][status] += n
				total += n
			}
		}
		for what, n := range v.errs {
			s.Errors[what] += n
		}
		s.Bytes += v.bytes
		lags = append(lags, v.lags...)
		f := ViewerFigures{ID: v.id, Errors: v.errs, BytesTotal: v.bytes, LagP99Ms: distribution(v.lags).P99,
			Non200: v.non200(), Resets: v.resets, Rejoins: v.rejoins}
		for status, n := range f.Non200 {
			s.Non200[status] += n
		}
		s.Resets += v.resets
		if v.first >= 0 && last >= v.first {
			f.Expected = last - v.first + 1
			furthest := v.furthestItem()
			for n := v.first; n <= last; n++ {
				if reason, ok := v.missReason(n, furthest); ok {
					f.Received++
				} else {
					if f.Missed == nil {
						f.Missed = map[string]int64{}
					}
					f.Missed[reason]++
					s.Delivery.Missed[reason]++
				}
			}
		} // a viewer that never joined expects nothing here: it is missing from Joined and ViewersComplete
		f.LastPlaylistAgeMs = -1
		if !v.lastPlaylist.IsZero() {
			f.LastPlaylistAgeMs = round(float64(cfg.deadline().Sub(v.lastPlaylist).Microseconds()) / 1000)
			playlistAges = append(playlistAges, f.LastPlaylistAgeMs)
		}
		f.MaxGapMs, f.FirstMs = v.gaps(cfg.deadline())
		gaps = append(gaps, f.MaxGapMs)
		s.Delivery.Expected += f.Expected
		s.Delivery.Received += f.Received
		if f.Received == f.Expected && f.Expected > 0 {
			s.Delivery.ViewersComplete++
		}
		s.Delivery.MostMissed = max(s.Delivery.MostMissed, f.Expected-f.Received)
		if cfg.PerViewer {
			s.PerViewer = append(s.PerViewer, f)
		}
	}
	s.Delivery.ViewersCompleteP = round(100 * float64(s.Delivery.ViewersComplete) / float64(len(viewers)))
	s.LagMs, s.GapMs, s.LastPlaylistAgeMs = distribution(lags), distribution(gaps), distribution(playlistAges)
	if cfg.GapThreshold > 0 {
		over := 0
		for _, g := range gaps {
			if g > float64(cfg.GapThreshold.Milliseconds()) {
				over++
			}
		}
		s.GapThresholdMs, s.ViewersGapOver = float64(cfg.GapThreshold.Milliseconds()), &over
	}
	s.RequestsPerSecond = round(float64(total) / elapsed.Seconds())
	user, system, rss := cpuUsage()
	s.Client = ClientCost{UserSeconds: round3(user), SystemSeconds: round3(system), CPUSeconds: round3(user + system),
		PctOfCore: round(100 * (user + system) / elapsed.Seconds()), MaxRSSKiB: rss}
	return s
}

// lastNamed is the last item any viewer heard of before the window's end minus the margin (3 part
// targets for LL-HLS, a target duration for HLS): the last one every viewer is expected to get.
func lastNamed(cfg *Config, viewers []*viewer) int64 {
	var partTarget, targetDuration float64
	for _, v := range viewers {
		v.mu.Lock()
		if !v.joined.IsZero() {
			partTarget, targetDuration = v.partTgt, v.targetDur
		}
		v.mu.Unlock()
	}
	margin := time.Duration(3 * partTarget * float64(time.Second))
	if cfg.Mode == "hls" {
		margin = time.Duration(targetDuration * float64(time.Second))
	}
	cutoff := cfg.deadline().Add(-margin)
	last := int64(-1)
	for _, v := range viewers {
		v.mu.Lock()
		for n, it := range v.items {
			if it.announced.Before(cutoff) && n > last {
				last = n
			}
		}
		v.mu.Unlock()
	}
	return last
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

// gaps: the longest stretch (ms) during which the viewer received no new item, from its first
// item to the end of the window (a viewer that stops receiving has a gap up to the end), and the
// time from its join to its first item. A viewer that never received one: the whole run.
func (v *viewer) gaps(deadline time.Time) (longest, first float64) {
	if len(v.receipts) == 0 {
		if v.joined.IsZero() {
			return round(float64(deadline.Sub(v.cfg.start).Milliseconds())), 0
		}
		return round(float64(deadline.Sub(v.joined).Milliseconds())), 0
	}
	times := append([]time.Time(nil), v.receipts...)
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	var worst time.Duration
	for i := 1; i < len(times); i++ {
		worst = max(worst, times[i].Sub(times[i-1]))
	}
	if end := deadline.Sub(times[len(times)-1]); end > worst {
		worst = end
	}
	return round(float64(worst.Microseconds()) / 1000), round(float64(times[0].Sub(v.joined).Microseconds()) / 1000)
}

// non200 counts the viewer's answers other than 200 by status, whatever the request's kind.
func (v *viewer) non200() map[string]int {
	out := map[string]int{}
	for kind, byStatus := range v.requests {
		for status, n := range byStatus {
			if status != "200" && kind != "multivariant" { // "picked": a rendition chosen, no request
				out[status] += n
			}
		}
	}
	return out
}
