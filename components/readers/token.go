package main

// Signed playback tokens, checked as contract/playback_token.py checks them (docs/design/playback.md,
// "The contract"): a port, not a call to the worker, so that a handshake never waits on the worker's
// event loop and a flood of callers costs the worker nothing. The Python and Go checks share a test
// vector (token_test.go, tests/unit/contract/test_playback_token.py).
//
//	v1~<kid>~<exp>~<ip>~<sig>     sig = b64url(HMAC-SHA256(key, "v1~<kid>~<exp>~<ip>~<ns>/<name>"))
//
// Digest auth and an SRT passphrase cannot carry a secret the server does not know beforehand, so
// both split the token: its public part (v1~<kid>~<exp>~<ip>) names the key and the claims, and the
// signature is the password (readers.md, "Tokens").

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	tokenVersion     = "v1"
	clockSkew        = 5 * time.Second
	keysCheckPeriod  = time.Second
	maxTokenBytes    = 160 // v1 + kid 8 + exp 12 + ip 45 + sig 43 + separators: 115 at most
	signatureLen     = 43
	kidLen           = 8
	maxKeyBytes      = 4096
	currentKeyFile   = "current"
	previousKeyFile  = "previous"
	refusalMissing   = "missing"
	refusalInvalid   = "invalid"
	refusalExpired   = "expired"
	refusalUnknown   = "unknown_key"
	refusalOther     = "other_viewer"
	refusalNoKeys    = "no_keys"
	refusalMode      = "mode"
	refusalOverload  = "overload"
	refusalNotLive   = "not_live"
	refusalTimeout   = "timeout"
	refusalBytes     = "bytes"
	refusalProtocol  = "protocol"
	refusalEncrypted = "encryption"
)

var b64 = base64.RawURLEncoding

// claims is a token's public part.
type claims struct {
	kid     string
	expires int64
	ip      string
}

func b64ok(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func ipChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

// splitToken parses "v1~kid~exp~ip~sig" (full) or "v1~kid~exp~ip" / "v1~kid~exp~ip~" (public part:
// sig ""). ok false: neither, as the Python regular expression refuses it.
func splitToken(s string) (c claims, sig string, ok bool) {
	if len(s) > maxTokenBytes {
		return claims{}, "", false
	}
	parts := strings.Split(s, "~")
	if len(parts) == 4 {
		parts = append(parts, "")
	}
	if len(parts) != 5 || parts[0] != tokenVersion {
		return claims{}, "", false
	}
	kid, exp, ip, sig := parts[1], parts[2], parts[3], parts[4]
	if len(kid) != kidLen || !b64ok(kid) || len(exp) < 1 || len(exp) > 12 || len(ip) > 45 || !ipChars(ip) {
		return claims{}, "", false
	}
	for i := 0; i < len(exp); i++ {
		if exp[i] < '0' || exp[i] > '9' {
			return claims{}, "", false
		}
	}
	if sig != "" && (len(sig) != signatureLen || !b64ok(sig)) {
		return claims{}, "", false
	}
	expires, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return claims{}, "", false
	}
	return claims{kid: kid, expires: expires, ip: ip}, sig, true
}

func keyID(key []byte) string {
	sum := sha256.Sum256(key)
	return b64.EncodeToString(sum[:])[:kidLen]
}

func (c claims) public() string {
	return strings.Join([]string{tokenVersion, c.kid, strconv.FormatInt(c.expires, 10), c.ip}, "~")
}

func sign(key []byte, c claims, stream string) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(c.public() + "~" + stream))
	return b64.EncodeToString(mac.Sum(nil))
}

// sameAddress: the token's ip against the client's, as text (the Python check compares strings);
// an IPv4-mapped IPv6 peer is its IPv4 address.
func sameAddress(want, client string) bool {
	if want == client {
		return true
	}
	a, err1 := netip.ParseAddr(want)
	b, err2 := netip.ParseAddr(client)
	return err1 == nil && err2 == nil && a.Unmap() == b.Unmap()
}

// expected is the signature a token with these claims must carry for stream, or why none may: the
// key by kid, the expiry and the viewer address are checked here; the signature by the caller.
func expected(c claims, keys [][]byte, stream string, now time.Time, client string) (string, string) {
	if len(keys) == 0 {
		return "", refusalNoKeys
	}
	var key []byte
	for _, k := range keys {
		if keyID(k) == c.kid {
			key = k
			break
		}
	}
	if key == nil {
		return "", refusalUnknown
	}
	sig := sign(key, c, stream)
	if !now.Before(time.Unix(c.expires, 0).Add(clockSkew)) {
		return sig, refusalExpired
	}
	if c.ip != "" && !sameAddress(c.ip, client) {
		return sig, refusalOther
	}
	return sig, ""
}

// verify is contract.playback_token.verify: "" when token lets client watch stream now. The
// signature is checked before expiry and address, as there, so a forged token reads "invalid".
func verify(token string, keys [][]byte, stream string, now time.Time, client string) string {
	if token == "" {
		return refusalMissing
	}
	c, sig, ok := splitToken(token)
	if !ok || sig == "" {
		return refusalInvalid
	}
	want, why := expected(c, keys, stream, now, client)
	if why == refusalNoKeys || why == refusalUnknown {
		return why
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(sig)) != 1 {
		return refusalInvalid
	}
	return why
}

// keyring is the mounted Secret's `current` and `previous`, read again when a file changes
// (kubelet swaps a Secret's files by a symlink), checked at most every keysCheckPeriod.
type keyring struct {
	dir     string
	mu      sync.Mutex
	checked time.Time
	seen    [2]string
	keys    [][]byte
}

func identity(path string) string {
	st, err := os.Stat(path)
	if err != nil {
		return ""
	}
	return st.ModTime().String() + "/" + strconv.FormatInt(st.Size(), 10) + "/" + strconv.FormatUint(inode(st), 10)
}

func (k *keyring) get() [][]byte {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := time.Now()
	if now.Sub(k.checked) < keysCheckPeriod && !k.checked.IsZero() {
		return k.keys
	}
	k.checked = now
	seen := [2]string{identity(filepath.Join(k.dir, currentKeyFile)), identity(filepath.Join(k.dir, previousKeyFile))}
	if seen == k.seen && k.keys != nil {
		return k.keys
	}
	k.seen = seen
	keys := [][]byte{}
	for _, name := range []string{currentKeyFile, previousKeyFile} {
		b, err := os.ReadFile(filepath.Join(k.dir, name))
		if err == nil && len(b) > 0 && len(b) <= maxKeyBytes {
			keys = append(keys, b) // raw bytes: a random key may end in a newline byte
		}
	}
	k.keys = keys
	return keys
}
