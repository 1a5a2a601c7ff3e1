package main

import (
	"sync"
	"time"
)

// refusalFlush is how often the refusals gathered since the last flush are reported.
const refusalFlush = 200 * time.Millisecond

// maxRefusalKeys bounds the addresses counted apart between two flushes; the others are counted
// under the empty address.
const maxRefusalKeys = 1024

// refusalBatch gathers refusals between flushes, so that a flood of key-less connections costs the
// worker one `refused` line per reason and address every 200 ms (with its count), not one per
// connection: the worker's event loop also feeds the recorders.
type refusalBatch struct {
	mu     sync.Mutex
	counts map[refusalKey]int
	order  []refusalKey
}

type refusalKey struct{ reason, peer string }

func (b *refusalBatch) add(reason, peer string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.counts == nil {
		b.counts = map[refusalKey]int{}
	}
	k := refusalKey{reason, peer}
	if _, ok := b.counts[k]; !ok {
		if len(b.counts) >= maxRefusalKeys {
			k.peer = ""
		}
		if _, ok := b.counts[k]; !ok {
			b.order = append(b.order, k)
		}
	}
	b.counts[k]++
}

// take returns what was gathered, in the order first seen, and starts again.
func (b *refusalBatch) take() []refusedEvent {
	b.mu.Lock()
	defer b.mu.Unlock()
	events := make([]refusedEvent, 0, len(b.order))
	for _, k := range b.order {
		events = append(events, refusedEvent{Type: "refused", Reason: k.reason, Peer: k.peer, Count: b.counts[k]})
	}
	b.counts, b.order = nil, nil
	return events
}
