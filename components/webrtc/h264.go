package main

// H.264 NAL unit types (RFC 6184) that matter for finding where a keyframe starts.
const (
	nalIDR   = 5
	nalSPS   = 7
	nalSTAPA = 24
	nalFUA   = 28
)

// isKeyframeStart reports whether an H.264 RTP payload begins a keyframe: an SPS (encoders put
// SPS/PPS right before the IDR), the first fragment of an IDR, an IDR in one packet, or an
// aggregate holding either. A decoder can start from such a packet; that is where the GOP cache
// begins and where a viewer waiting for a keyframe resumes.
func isKeyframeStart(payload []byte) bool {
	if len(payload) < 1 {
		return false
	}
	switch payload[0] & 0x1f {
	case nalIDR, nalSPS:
		return true
	case nalFUA:
		return len(payload) >= 2 && payload[1]&0x80 != 0 && payload[1]&0x1f == nalIDR
	case nalSTAPA:
		// 1-byte header, then (16-bit size, NAL unit) repeated.
		for i := 1; i+2 < len(payload); {
			size := int(payload[i])<<8 | int(payload[i+1])
			t := payload[i+2] & 0x1f
			if t == nalSPS || t == nalIDR {
				return true
			}
			i += 2 + size
		}
	}
	return false
}
