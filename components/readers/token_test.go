package main

import (
	"testing"
	"time"
)

// The same vectors as tests/unit/contract/test_playback_token.py::test_the_go_readers_share_these_vectors:
// the Python signer's tokens, checked here as the ingest checks them.
var vectors = map[string]string{
	"":            "v1~PrG9Q5lH~1795000000~~Dj38eMuI1sbXlpM2dvx5UPsYHvlcimR2lqdBYq7Hh9w",
	"2001:db8::1": "v1~PrG9Q5lH~1795000000~2001:db8::1~lH00phzI1oxmjbYnDtMky3MFrjUNXJoUAsKenC14iXg",
}

func TestTokensOfThePythonSigner(t *testing.T) {
	before := time.Unix(1795000000-60, 0)
	keys := [][]byte{[]byte("other key"), testKey}
	for ip, token := range vectors {
		client := ip
		if client == "" {
			client = "192.0.2.1"
		}
		c, sig, ok := splitToken(token)
		if !ok || sign(testKey, c, testStream) != sig {
			t.Fatalf("%s: not the Python signature", token)
		}
		cases := []struct {
			token, stream, client string
			now                   time.Time
			keys                  [][]byte
			want                  string
		}{
			{token, testStream, client, before, keys, ""},
			{token, "ns/other", client, before, keys, refusalInvalid},
			{token, testStream, client, time.Unix(1795000000+5, 0), keys, refusalExpired},
			{token, testStream, client, time.Unix(1795000000+4, 0), keys, ""}, // the 5 s of skew
			{token, testStream, client, before, [][]byte{[]byte("other key")}, refusalUnknown},
			{token + "\n", testStream, client, before, keys, refusalInvalid},
			{"", testStream, client, before, keys, refusalMissing},
		}
		if ip != "" {
			cases = append(cases, struct {
				token, stream, client string
				now                   time.Time
				keys                  [][]byte
				want                  string
			}{token, testStream, "2001:db8::2", before, keys, refusalOther})
		}
		for _, k := range cases {
			if got := verify(k.token, k.keys, k.stream, k.now, k.client); got != k.want {
				t.Errorf("%q for %s at %d: %q, want %q", k.token, k.stream, k.now.Unix(), got, k.want)
			}
		}
	}
}
