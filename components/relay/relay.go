package main

// The relay: targets by id, feeds by URL (one reader per feed however many targets ride it).

import (
	"sync"
	"time"
)

type relay struct {
	out    *events
	rejoin time.Duration // how long a feed whose response ended is asked again (feedRejoin)

	mu      sync.Mutex
	targets map[string]*target
	feeds   map[string]*feed
}

func newRelay(out *events) *relay {
	return &relay{out: out, rejoin: feedRejoin, targets: map[string]*target{}, feeds: map[string]*feed{}}
}

func (r *relay) handle(c command) {
	switch c.Op {
	case "open":
		r.mu.Lock()
		old := r.targets[c.ID]
		r.mu.Unlock()
		if old != nil { // the same id again: the old connection ends first
			old.close()
			<-old.ended
		}
		t := newTarget(c, r)
		r.mu.Lock()
		r.targets[c.ID] = t
		r.mu.Unlock()
		go t.run()
	case "close":
		r.mu.Lock()
		t := r.targets[c.ID]
		r.mu.Unlock()
		if t != nil {
			t.close()
		} else {
			r.out.emit(event{ID: c.ID, Event: "ended", Reason: "closed"})
		}
	}
}

// ride returns the running feed of t's URL and credential, or starts it.
func (r *relay) ride(t *target) *feed {
	key := t.c.Feed + "\n" + t.c.FeedAuth
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.feeds[key]
	if f == nil || f.ctx.Err() != nil || f.isDone() {
		f = newFeed(t.c.Feed, t.c.FeedAuth, r.rejoin)
		r.feeds[key] = f
		go func() {
			f.run()
			r.mu.Lock()
			if r.feeds[key] == f {
				delete(r.feeds, key)
			}
			r.mu.Unlock()
		}()
	}
	f.mu.Lock()
	if !f.done {
		f.subs[t] = false // counted from now (the feed is kept while a target waits to connect)
	}
	f.mu.Unlock()
	return f
}

func (r *relay) forget(t *target) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.targets[t.c.ID] == t {
		delete(r.targets, t.c.ID)
	}
}

type progress struct{ sent, acked uint64 }

// report sends each target's bytes written so far, when they moved (the Python side's progress).
func (r *relay) report(every time.Duration, stop <-chan struct{}) {
	last := map[*target]progress{}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		r.mu.Lock()
		now := make([]*target, 0, len(r.targets))
		for _, t := range r.targets {
			now = append(now, t)
		}
		r.mu.Unlock()
		seen := make(map[*target]progress, len(now))
		var moved []event
		at := time.Now()
		for _, t := range now {
			if t.stalled(at) {
				t.stuck.Store(true)
				t.close() // its connection closes: the blocked write returns
			}
			p := progress{sent: t.sent.Load()}
			counters, ok := readTCPInfo(t.socket.Load())
			if ok && counters.acked != nil {
				p.acked = *counters.acked
			}
			seen[t] = p
			if p != last[t] { // bytes written or taken: a sample for the supervisor's delivery
				moved = append(moved, event{ID: t.c.ID, Event: "sent", Bytes: p.sent, Drops: t.drops.Load(),
					Acked: counters.acked, Notsent: counters.notsent, Wnd: counters.wnd})
			}
		}
		r.out.emitAll(moved) // one write for all targets
		last = seen
	}
}

func (r *relay) closeAll() {
	r.mu.Lock()
	all := make([]*target, 0, len(r.targets))
	for _, t := range r.targets {
		all = append(all, t)
	}
	r.mu.Unlock()
	for _, t := range all {
		t.close()
	}
	for _, t := range all {
		select {
		case <-t.ended:
		case <-time.After(3 * time.Second):
		}
	}
}
