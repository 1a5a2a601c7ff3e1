package main

// A PlaybackPolicy's rules for readers (docs/design/playback-rules.md, readers.md): the ingest worker
// decides them (media/ingest/viewer_rules.py, the same decision as its HTTP gate's) and this asks it
// over the control channel: an "ask" event with the caller's address on stdout, the verdict as a JSON
// line on stdin. Only the address is a reader's fact (no Referer, no browser's User-Agent): the
// address and country rules apply, the referrer and user-agent rules do not. Asked before the
// token, once per SRT caller or RTSP connection. No answer in time refuses (fail closed).

import (
	"encoding/json"
	"sync"
	"time"
)

const (
	refusalAddress          = "address"
	refusalCountry          = "country"
	refusalGeoIPUnavailable = "geoip_unavailable"
	refusalRulesUnavailable = "rules_unavailable"
	rulesAnswerWait         = 3 * time.Second // the worker answers from memory: milliseconds
	maxPendingAsks          = 256             // (the connection caps bound them before this)
)

// ruleReasons: what the worker may answer; anything else is its fault (rules_unavailable).
var ruleReasons = map[string]bool{
	refusalAddress: true, refusalCountry: true, refusalGeoIPUnavailable: true, refusalRulesUnavailable: true,
}

type rulesAsker struct {
	events  *events
	wait    time.Duration
	mu      sync.Mutex
	next    uint64
	pending map[uint64]chan string
}

func newRulesAsker(ev *events) *rulesAsker {
	return &rulesAsker{events: ev, wait: rulesAnswerWait, pending: map[uint64]chan string{}}
}

// ask is the worker's verdict on a caller from `address`: "" to go on, else the rule's reason.
func (r *rulesAsker) ask(address string) string {
	r.mu.Lock()
	if len(r.pending) >= maxPendingAsks {
		r.mu.Unlock()
		return refusalRulesUnavailable
	}
	r.next++
	id, ch := r.next, make(chan string, 1)
	r.pending[id] = ch
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.pending, id)
		r.mu.Unlock()
	}()
	r.events.emit(event{Type: "ask", ID: id, Address: address})
	timer := time.NewTimer(r.wait)
	defer timer.Stop()
	select {
	case why := <-ch:
		return why
	case <-timer.C:
		return refusalRulesUnavailable
	}
}

// answer is a stdin line from the worker: {"id": N, "refused": "<reason>" or ""}. Anything else is
// ignored (a caller then waits out rulesAnswerWait, refused).
func (r *rulesAsker) answer(line []byte) {
	var a struct {
		ID      uint64 `json:"id"`
		Refused string `json:"refused"`
	}
	if json.Unmarshal(line, &a) != nil || a.ID == 0 {
		return
	}
	if a.Refused != "" && !ruleReasons[a.Refused] {
		a.Refused = refusalRulesUnavailable
	}
	r.mu.Lock()
	ch := r.pending[a.ID]
	r.mu.Unlock()
	if ch != nil {
		select {
		case ch <- a.Refused:
		default:
		}
	}
}
