"""WebRTC in the ingest worker (issue 26): WHIP publishers in, WHEP viewers out, through the
`streamops-webrtc` component (components/webrtc) run as a child process. Why:
docs/design/webrtc.md.

Modules, one job each:

| module | what |
|---|---|
| `commands` | pure: the component's argv, the WHEP feeder's FFmpeg argv and its probe, a WHIP session's input |
| `admission` | pure: whether a WHIP offer is let through (403 no whip, 401 bearer, 409 one publisher) |
| `component` | the component's process (restarts with backoff) and the client of its control API |
| `whip` | WHIP publishers: the offer to the component, the session reading its SDP, DELETE, clean-up |
| `whep_feed` | the WHEP feeder: the live feed as RTP into the component, B-frames probed first |
| `ice_servers` | the clients' STUN/TURN servers: the mounted file parsed (read again on change), the Link headers |
| `runner` | what the worker runs: ports, addresses, the loops above, WHEP offers, status and metrics |
| `routes` | the HTTP endpoints (POST/DELETE/PATCH/OPTIONS of /whip and /whep) with CORS and the Link headers |
"""
