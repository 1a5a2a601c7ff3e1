package main

// The PlaybackPolicy's rules for readers: asked of the worker (here the test answers as the worker
// does, media/ingest/readers.py) before the token, with the caller's address; a refusal is counted
// by its rule's reason and the reader reads nothing; an allowed one still needs its token.

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"
)

// worker answers the component's questions with `verdict` (read at each ask) and passes the
// refusals on; it owns c.events from now on.
type worker struct {
	mu       sync.Mutex
	verdict  string
	asked    []string
	refusals chan event
}

func answering(t *testing.T, c *component) *worker {
	w := &worker{refusals: make(chan event, 64)}
	go func() {
		for ev := range c.events {
			switch ev.Type {
			case "ask":
				w.mu.Lock()
				w.asked = append(w.asked, ev.Address)
				line, _ := json.Marshal(map[string]any{"id": ev.ID, "refused": w.verdict})
				w.mu.Unlock()
				_, _ = fmt.Fprintf(c.stdin, "%s\n", line)
			case "refused":
				w.refusals <- ev
			}
		}
	}()
	return w
}

func (w *worker) set(verdict string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.verdict = verdict
}

func (w *worker) refused(t *testing.T, protocol, reason string) {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case ev := <-w.refusals:
			if ev.Protocol == protocol && ev.Reason == reason {
				return
			}
		case <-deadline:
			t.Fatalf("no %s refusal for %s", protocol, reason)
		}
	}
}

func TestThePolicysRulesAreAskedBeforeTheToken(t *testing.T) {
	t.Parallel() // each its own component, feed and ports: two at a time (GOMAXPROCS)
	feed := serveFeed(t, tsFeed(t, 20), 20*time.Second)
	c := start(t, feed.URL+"/feed", true, func(o *options) { o.rules = true })
	w := answering(t, c)
	token := testToken("")
	srtURL := "srt://" + c.addrs["srt"] + "?mode=caller&streamid=" + token
	rtspURL := "rtsp://" + c.addrs["rtsp"] + "/live?token=" + token

	w.set(refusalAddress) // the worker's rules refuse 127.0.0.1: a valid token does not help
	if _, err := probe(t, srtURL); err == nil {
		t.Error("srt read from a refused address")
	}
	w.refused(t, "srt", refusalAddress)
	if _, err := probe(t, rtspURL, "-rtsp_transport", "tcp"); err == nil {
		t.Error("rtsp read from a refused address")
	}
	w.refused(t, "rtsp", refusalAddress)

	w.set("") // allowed: the token decides
	p, err := probe(t, srtURL)
	wantAV(t, p, err)
	p, err = probe(t, rtspURL, "-rtsp_transport", "tcp")
	wantAV(t, p, err)
	if _, err := probe(t, "srt://"+c.addrs["srt"]+"?mode=caller"); err == nil {
		t.Error("srt read without a token")
	}
	w.refused(t, "srt", refusalMissing)

	w.mu.Lock()
	defer w.mu.Unlock()
	for _, a := range w.asked {
		if a != "127.0.0.1" {
			t.Fatalf("asked about %q, not the caller's address", a)
		}
	}
}

func TestAnAnswerThatIsNotOneRefusesAndNoAnswerInTimeRefuses(t *testing.T) {
	ev := newEvents(discard{})
	r := newRulesAsker(ev)
	r.wait = 50 * time.Millisecond
	if got := r.ask("192.0.2.1"); got != refusalRulesUnavailable {
		t.Fatalf("no answer: %q", got)
	}
	r.wait = 10 * time.Second
	done := make(chan string, 1)
	start := time.Now()
	go func() { done <- r.ask("192.0.2.1") }()
	for {
		r.mu.Lock()
		n := len(r.pending)
		r.mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	r.answer([]byte(`{"id": 2, "refused": "the token is abc"}`))
	if got := <-done; got != refusalRulesUnavailable || time.Since(start) > 5*time.Second {
		t.Fatalf("an unknown reason: %q (answered, not timed out)", got)
	}
	r.answer([]byte(`{"id": 99, "refused": ""}`)) // nobody waits: ignored
	r.answer([]byte(`not json`))
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
