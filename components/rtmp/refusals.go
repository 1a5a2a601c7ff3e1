package main

import (
	"sync"
	"time"
)

// refusalFlush is how often the refusals gathered since the last flush are reported.
const refusalFlush = 200 * time.Millisecond

// maxRefusalKeys bounds the reasons and addresses counted apart within one period; the others are
// counted under the empty address.
const maxRefusalKeys = 1024

// refusalBatch keeps a flood of key-less connections from costing the worker a `refused` line per
// connection (its event loop also feeds the recorders): the first refusal of a reason and address
// in a period is reported at once (count 1), the others of that period together at its end (with
// their count). A lone refusal is reported as it happens; a flood costs a line per 200 ms.
type refusalBatch struct {
	mu       sync.Mutex
	reported map[refusalKey]bool // reported at once in this period
	pending  map[refusalKey]int  // counted since, reported at the flush
	order    []refusalKey        // pending's keys, first seen first
}

type refusalKey struct{ reason, peer string }

// add counts a refusal; now is true when it is to be reported at once (as count 1).
func (b *refusalBatch) add(reason, peer string) (now bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.reported == nil {
		b.reported, b.pending = map[refusalKey]bool{}, map[refusalKey]int{}
	}
	k := refusalKey{reason, peer}
	if !b.reported[k] && len(b.reported) < maxRefusalKeys {
		b.reported[k] = true
		return true
	}
	if _, ok := b.pending[k]; !ok && len(b.pending) >= maxRefusalKeys {
		k.peer = ""
	}
	if _, ok := b.pending[k]; !ok {
		b.order = append(b.order, k)
	}
	b.pending[k]++
	return false
}

// flush returns the period's pending counts, first seen first, and starts the next period, in
// which the keys still flooding are batched from their first refusal on.
func (b *refusalBatch) flush() []refusedEvent {
	b.mu.Lock()
	defer b.mu.Unlock()
	events := make([]refusedEvent, 0, len(b.order))
	reported := map[refusalKey]bool{}
	for _, k := range b.order {
		events = append(events, refusedEvent{Type: "refused", Reason: k.reason, Peer: k.peer, Count: b.pending[k]})
		reported[k] = true
	}
	b.reported, b.pending, b.order = reported, map[refusalKey]int{}, nil
	return events
}
