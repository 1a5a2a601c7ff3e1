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
	// WHEP offers refused and sessions ended by the rules of whep.go.
	whepRateLimited     atomic.Uint64 // 429: the client address made too many offers
	whepAddressFull     atomic.Uint64 // 429: MaxViewersPerAddress sessions of the client address
	whepTokenFull       atomic.Uint64 // 429: MaxViewersPerToken sessions of the playback token
	whepViewersFull     atomic.Uint64 // 503 (or closed on connecting): MaxViewers connected
	whepPendingFull     atomic.Uint64 // 503: MaxPendingViewers offers waiting for their connection
	whepConnectTimeouts atomic.Uint64 // offers dropped: not connected within ViewerConnectTimeout
	whepTokenExpiries   atomic.Uint64 // sessions ended when their playback token expired
}
