package main

import "sync/atomic"

// counters are the totals GET /status reports (payload bytes, not counting headers).
type counters struct {
	packetsIn, bytesIn             atomic.Uint64 // from the publisher or the RTP input
	packetsOut, bytesOut           atomic.Uint64 // to viewers, all of them
	packetsToFFmpeg, bytesToFFmpeg atomic.Uint64
	keyframeRequests               atomic.Uint64 // PLIs sent to the WHIP publisher
	viewerKeyframeRequests         atomic.Uint64 // PLIs/FIRs received from viewers
	viewerPacketsDropped           atomic.Uint64 // queued packets dropped for viewers that fell behind
}
