"""Ingest worker: takes one publisher (RTMP, RTMPS, SRT, WHIP) or pulls a source, and serves HLS,
DASH, the screenshot, the live feed and WHEP (`streamops worker ingest`: worker.main).

Modules, one job each:

| module | what |
|---|---|
| `commands` | FFmpeg command lines, pure: a session's inputs and outputs (feed, HLS, DASH, LL-HLS), the screenshot |
| `session` | one publish/pull session: its FFmpeg, pipes and LL-HLS packagers; `SessionEvents`, `LiveMeter` |
| `worker` | `IngestWorker`: wires the parts below (and the hosts on_air and webrtc/ ask for), runs them; `main` |
| `sessions` | the own sessions (`OwnSessions`): which one is live, their events, displacement, the silence watch |
| `rtmp_sessions` | the RTMP front's sessions: admission, the standby session, the publisher cut when its session ends |
| `push_loop` | a push stream's idle listeners, one per protocol (RTMP's FIFO, SRT with the key as passphrase) |
| `pull_loop` | a pull stream's URLs round-robin through the egress guard; the last failure; deactivation |
| `outputs` | what is served of the session on air: the switch to it, its multivariant playlists, the screenshot |
| `http_faces` | the public and the internal face: each route group given the parts it serves |
| `telemetry` | the ingest's metrics, read at each scrape, and its status (`IngestStatus`) |
| `routes` | media routes (aiohttp) by group, given their parts: feed, HLS, LL-HLS, DASH, screenshot, player, uplink |
| `served_media` | `ServedMedia`: the feeds, HLS/DASH and LL-HLS packagers of the session on air, for the routes |
| `overlay_switch` | POST /overlays: the switch checked, kept in switch.json; the overlays on (`SwitchedOverlays`) |
| `player_settings` | POST /player-settings: the player page's projection now (`PageSettings`), no restart |
| `on_air` | whose media is served: the own session's or the backup's relay (`OnAirHost`: what it needs of the worker) |
| `failover` | pure: when to switch to the backup and back |
| `backup_link` | a backup's feed to its primary: the signed uplink, and the backup's side that offers it |
| `feed` | `FeedHub`: the live MPEG-TS feed fanned out to its readers, with a GOP cache |
| `pipe_batches` | FFmpeg's output pipes read on threads, in 20 ms batches |
| `load_caps` | caps on concurrent feed readers, blocking LL-HLS reloads and public requests; their refusals |
| `rtmp_front` | the RTMP(S) front door: `streamops-rtmp` (components/rtmp), its admissions, refusals, certificate |
| `worker_http` | the worker routes (/healthz, /readyz, /status, /metrics) on aiohttp, CORS |
| `llhls/` | LL-HLS packaging of FFmpeg's fragmented MP4: parts, segments, the playlist |
| `webrtc/` | WHIP publishers and WHEP viewers through the streamops-webrtc component (its own table) |
| `player/` | the player page and its scripts (package data) |
"""
