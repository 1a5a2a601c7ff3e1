package main

import (
	"fmt"
	"strings"

	"github.com/pion/sdp/v3"
)

// offerCodecs is what an SDP offer (or our answer) carries, as far as we care.
type offerCodecs struct {
	h264 bool // H.264 with packetization-mode=1 on an active video m-line
	opus bool // Opus on an active audio m-line
}

// errMalformedSDP wraps everything the SDP parser refuses (HTTP 400).
type errMalformedSDP struct{ err error }

func (e errMalformedSDP) Error() string { return "malformed SDP: " + e.err.Error() }

// inspectSDP parses an SDP body and finds H.264 video and Opus audio in it.
func inspectSDP(body []byte) (offerCodecs, error) {
	var c offerCodecs
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(string(body)); err != nil {
		return c, errMalformedSDP{err}
	}
	if len(sd.MediaDescriptions) == 0 {
		return c, errMalformedSDP{fmt.Errorf("no media (m=) line")}
	}
	for _, m := range sd.MediaDescriptions {
		if m.MediaName.Port.Value == 0 { // a rejected m-line
			continue
		}
		// Per m-line: payload type -> codec name, and payload type -> fmtp.
		names, fmtps := map[string]string{}, map[string]string{}
		for _, a := range m.Attributes {
			pt, rest, _ := strings.Cut(a.Value, " ")
			switch a.Key {
			case "rtpmap":
				name, _, _ := strings.Cut(rest, "/")
				names[pt] = strings.ToLower(name)
			case "fmtp":
				fmtps[pt] = rest
			}
		}
		for _, pt := range m.MediaName.Formats {
			switch {
			case m.MediaName.Media == "video" && names[pt] == "h264" && strings.Contains(fmtps[pt], "packetization-mode=1"):
				c.h264 = true
			case m.MediaName.Media == "audio" && names[pt] == "opus":
				c.opus = true
			}
		}
	}
	return c, nil
}

// missing names what a WHIP offer lacks, "" when nothing.
func (c offerCodecs) missingForWHIP() string {
	switch {
	case !c.h264 && !c.opus:
		return "the offer has neither H.264 video (packetization-mode=1) nor Opus audio"
	case !c.h264:
		return "the offer has no H.264 video (packetization-mode=1)"
	case !c.opus:
		return "the offer has no Opus audio"
	}
	return ""
}
