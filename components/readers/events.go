package main

// Events to the worker: JSON lines on stdout (the control channel; no port). Never a token, a
// stream id or a password: refusals carry a reason and a count, viewers a count per protocol.

import (
	"encoding/json"
	"io"
	"sync"
	"time"
)

type event struct {
	Type     string `json:"type"`               // listening | viewers | refused | ask
	SRT      *int   `json:"srt,omitempty"`      // viewers: SRT callers reading now
	RTSP     *int   `json:"rtsp,omitempty"`     // viewers: RTSP sessions playing now
	Protocol string `json:"protocol,omitempty"` // refused: srt | rtsp
	Reason   string `json:"reason,omitempty"`   // refused: missing, invalid, expired, ...
	Count    int    `json:"count,omitempty"`    // refused: since the last report of that reason
	Address  string `json:"address,omitempty"`  // listening: the listener bound; ask: the caller's
	Listener string `json:"listener,omitempty"` // listening: which
	ID       uint64 `json:"id,omitempty"`       // ask: the question's number, in the worker's answer
}

type events struct {
	mu       sync.Mutex
	out      io.Writer
	refusals map[[2]string]int
	srt      int
	rtsp     int
	sentSRT  int
	sentRTSP int
	sent     bool
}

func newEvents(out io.Writer) *events {
	return &events{out: out, refusals: map[[2]string]int{}}
}

func (e *events) emitLocked(ev event) {
	line, err := json.Marshal(ev)
	if err != nil {
		return
	}
	_, _ = e.out.Write(append(line, '\n'))
}

func (e *events) emit(ev event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.emitLocked(ev)
}

// refused counts a refusal; report() sends the counts (a flood costs a line per reason and period).
func (e *events) refused(protocol, reason string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.refusals[[2]string{protocol, reason}]++
}

func (e *events) viewers(protocol string, delta int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if protocol == "srt" {
		e.srt += delta
	} else {
		e.rtsp += delta
	}
}

func (e *events) counts() (int, int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.srt, e.rtsp
}

func (e *events) report() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for k, n := range e.refusals {
		e.emitLocked(event{Type: "refused", Protocol: k[0], Reason: k[1], Count: n})
		delete(e.refusals, k)
	}
	if !e.sent || e.srt != e.sentSRT || e.rtsp != e.sentRTSP {
		srt, rtsp := e.srt, e.rtsp
		e.emitLocked(event{Type: "viewers", SRT: &srt, RTSP: &rtsp})
		e.sent, e.sentSRT, e.sentRTSP = true, srt, rtsp
	}
}

func (e *events) run(period time.Duration, stop <-chan struct{}) {
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			e.report()
		}
	}
}
