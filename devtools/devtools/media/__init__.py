"""The media peers: real processes on loopback (or on the local cluster's LAN) that publish, receive,
relay, store and play streams: ffmpeg publishers, nginx-rtmp, SRT listeners, the S3 server, headless
Chromium and its clock source, HLS viewers, and the streamops workers as local processes. Built on
the base modules of devtools only; docs/design/test-harness.md."""
