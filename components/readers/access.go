package main

// Who may read: a public stream lets anyone in (a token, if any, is ignored, as HLS does); a signed
// stream wants a token for this stream, by one of three carriers (readers.md, "Tokens"): the whole
// token (SRT stream id, RTSP ?token=, RTSP Basic password), or its public part beside the signature
// as a secret the protocol proves knowledge of (SRT passphrase, RTSP Digest password).

import (
	"strings"
	"time"
)

type access struct {
	stream string      // <namespace>/<name>: what a token signs
	keys   *keyring    // nil: a public stream
	rules  *rulesAsker // nil: the stream has no PlaybackPolicy
	now    func() time.Time
}

// rule is the PlaybackPolicy's verdict on a caller's address (rules.go): "" when it may go on.
func (a *access) rule(client string) string {
	if a.rules == nil {
		return ""
	}
	return a.rules.ask(client)
}

func (a *access) signed() bool { return a.keys != nil }

// token checks a whole token.
func (a *access) token(token, client string) string {
	if !a.signed() {
		return ""
	}
	return verify(token, a.keys.get(), a.stream, a.now(), client)
}

// secret is what the password (SRT passphrase, Digest password) must be for a token's public part:
// its signature, or why no password can do.
func (a *access) secret(public, client string) (string, string) {
	c, sig, ok := splitToken(public)
	if !ok || sig != "" {
		return "", refusalInvalid
	}
	want, why := expected(c, a.keys.get(), a.stream, a.now(), client)
	if why != "" {
		return "", why
	}
	return want, ""
}

// streamID is an SRT caller's stream id: empty, a token (whole or its public part), or SRT's access
// control syntax "#!::k=v,k=v" with the token under t (readers.md, "SRT"). Only reading is served:
// m other than request is refused. Bounded by the protocol (512 bytes) and here again.
type streamID struct {
	token string
	mode  string
}

const maxStreamID = 512

func parseStreamID(s string) (streamID, bool) {
	if len(s) > maxStreamID {
		return streamID{}, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return streamID{}, false
		}
	}
	if !strings.HasPrefix(s, "#!::") {
		return streamID{token: s, mode: "request"}, true
	}
	id := streamID{mode: "request"}
	pairs := strings.Split(s[len("#!::"):], ",")
	if len(pairs) > 16 {
		return streamID{}, false
	}
	for _, kv := range pairs {
		k, v, found := strings.Cut(kv, "=")
		if !found {
			return streamID{}, false
		}
		switch k {
		case "t":
			id.token = v
		case "m":
			id.mode = v
		}
	}
	return id, true
}
