"""Pusher worker: forwards a stream's live feed as is to one RTMP(S)/SRT target
(`streamops worker push`: worker.main). It never imports aiohttp (docs/design/lean-workers.md).

Modules, one job each:

| module | what |
|---|---|
| `commands` | the FFmpeg command, pure: the stream key read and put where the target carries it, the silent track |
| `plan` | pure decisions: how a run ended, the error shown, backoff and the failure streak |
| `delivery` | what reached the target, when: `live`, the watchdog, the target's socket (`Delivery`, `TargetSocket`) |
| `tcp_info` | the kernel's TCP counters of a process's sockets (sock_diag netlink) |
| `worker` | the `Pusher`: feed probe, one FFmpeg or relay run per connection, backoff, `/status`, `/metrics` |
| `relay_command` | what the relay is asked, pure: which runs it carries, a run's `open`, its end as an `Outcome` |
| `relay_process` | the `streamops-relay` child of a shared pusher: commands to its stdin, events back per run |
"""
