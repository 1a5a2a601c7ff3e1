"""Webhooks (issue 28): the events of streams, recordings and restreams sent as signed CloudEvents
to StreamWebhook subscribers, at least once and in order per stream (docs/design/webhooks.md).

| module | job |
|---|---|
| `events` | pure: an object's notable facts from its status, and the events between two facts |
| `outbox` | pure: the per-stream outbox (last notified facts, sequence, pending events, cursors) and its ConfigMap |
| `subscription` | pure: which subscription wants which event; the subscription's status |
| `store` | the outboxes in the API server: one writer per stream, optimistic concurrency |
| `delivery` | one task per subscription: POST, sign, back off, acknowledge |
| `notifier` | watch events in, events recorded and deliveries woken; the handlers' one entry point |
"""
