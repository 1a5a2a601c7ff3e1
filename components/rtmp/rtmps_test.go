package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// selfSigned makes a certificate for 127.0.0.1 and its key, PEM-encoded.
func selfSigned(t *testing.T, name string) (*x509.Certificate, []byte, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
}

// mountSecret writes a Secret's files the way the kubelet does: a timestamped directory, the
// `..data` symlink swapped atomically onto it, tls.crt/tls.key pointing through `..data`.
func mountSecret(t *testing.T, dir, version string, certPEM, keyPEM []byte) {
	t.Helper()
	data := filepath.Join(dir, version)
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"tls.crt": certPEM, "tls.key": keyPEM} {
		if err := os.WriteFile(filepath.Join(data, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
		link := filepath.Join(dir, name)
		if _, err := os.Lstat(link); err != nil {
			if err := os.Symlink(filepath.Join("..data", name), link); err != nil {
				t.Fatal(err)
			}
		}
	}
	tmp := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink(version, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
}

func sha256Hex(c *x509.Certificate) string {
	s := sha256.Sum256(c.Raw)
	return hex.EncodeToString(s[:])
}

func trusting(c *x509.Certificate) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return &tls.Config{RootCAs: pool}
}

func TestRTMPSReloadsTheCertificate(t *testing.T) {
	t.Parallel()
	secret := t.TempDir()
	cert1, crt1, key1 := selfSigned(t, "one")
	mountSecret(t, secret, "..2026_11_26_10_00_00.1", crt1, key1)
	h := startFront(t, "--rtmps", "127.0.0.1:0", "--cert", filepath.Join(secret, "tls.crt"),
		"--tls-key", filepath.Join(secret, "tls.key"), "--cert-poll", "100ms")
	if h.rtmp != "" {
		t.Fatalf("an RTMP listener without --rtmp: %s", h.rtmp)
	}
	ev := h.waitEvent("certificate", 5*time.Second)
	if ev.str("sha256") != sha256Hex(cert1) || ev["error"] != nil {
		t.Fatalf("first certificate event %v", ev)
	}

	c := dialRTMPS(t, h.rtmps, trusting(cert1))
	if st := c.conn.(*tls.Conn).ConnectionState(); !st.PeerCertificates[0].Equal(cert1) || st.Version < tls.VersionTLS12 {
		t.Fatal("the first handshake did not see certificate one over TLS ≥ 1.2")
	}
	c.connect()
	c.publish(testKey)
	pub := h.waitEvent("publish", 5*time.Second)
	if pub["tls"] != true {
		t.Fatalf("publish event %v", pub)
	}
	fifo := newFIFO(t, h.dir, "tls.flv")
	h.send(map[string]any{"type": "admit", "id": pub.id(), "fifo": fifo.path})
	if code := c.waitStatus(); code != "NetStream.Publish.Start" {
		t.Fatalf("onStatus %q", code)
	}
	frame := []byte{0x17, 1, 0, 0, 0, 0, 0, 0, 1, 0x65}
	c.mustSend(6, 9, streamID1, 0, frame)
	fifo.waitLen(t, 13+11+len(frame)+4, 5*time.Second)

	// The kubelet swaps in a new certificate: the next handshake gets it.
	cert2, crt2, key2 := selfSigned(t, "two")
	mountSecret(t, secret, "..2026_11_26_11_00_00.2", crt2, key2)
	ev = h.waitEvent("certificate", 5*time.Second)
	if ev.str("sha256") != sha256Hex(cert2) || ev["error"] != nil {
		t.Fatalf("certificate event after the swap %v", ev)
	}
	c2 := dialRTMPS(t, h.rtmps, trusting(cert2))
	if !c2.conn.(*tls.Conn).ConnectionState().PeerCertificates[0].Equal(cert2) {
		t.Fatal("a new handshake did not see certificate two")
	}
	// The live session is untouched.
	c.mustSend(6, 9, streamID1, 33, frame)
	fifo.waitLen(t, 13+2*(11+len(frame)+4), 5*time.Second)

	// A broken pair: an error event with the last good certificate, which stays in use.
	_, crt3, _ := selfSigned(t, "three")
	mountSecret(t, secret, "..2026_11_26_12_00_00.3", crt3, key2)
	ev = h.waitEvent("certificate", 5*time.Second)
	errText, _ := ev["error"].(string)
	if ev.str("sha256") != sha256Hex(cert2) || !strings.HasPrefix(errText, "cannot load the RTMPS certificate: ") {
		t.Fatalf("certificate event for a mismatched pair %v", ev)
	}
	if strings.Contains(errText, "PRIVATE KEY") || strings.Contains(errText, string(key2[40:80])) {
		t.Fatalf("the error quotes the key: %s", errText)
	}
	c3 := dialRTMPS(t, h.rtmps, trusting(cert2))
	if !c3.conn.(*tls.Conn).ConnectionState().PeerCertificates[0].Equal(cert2) {
		t.Fatal("the failed reload replaced the certificate")
	}
	c3.conn.Close() // close_notify, then FIN: gone, not a refusal
	c2.conn.Close()

	// Plain RTMP on the RTMPS port, and TLS 1.1: refused/tls.
	plain := dialRTMP(t, h.rtmps)
	plain.conn.Write(append([]byte{3}, make([]byte, 1536)...))
	h.waitRefused("tls", 5*time.Second)
	old := trusting(cert2)
	old.MinVersion, old.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	if conn, err := tls.Dial("tcp", h.rtmps, old); err == nil {
		conn.Close()
		t.Fatal("a TLS 1.1 handshake succeeded")
	}
	h.waitRefused("tls", 5*time.Second)
	if e, ok := h.tryMatch(func(e event) bool { return e.str("type") == "ended" || e.str("type") == "refused" },
		100*time.Millisecond); ok {
		t.Fatalf("unexpected %v", e)
	}
	c.mustSend(6, 9, streamID1, 66, frame)
	fifo.waitLen(t, 13+3*(11+len(frame)+4), 5*time.Second)
}

// Without a certificate, handshakes fail (refused/tls) until one loads.
func TestRTMPSWithoutCertificateYet(t *testing.T) {
	t.Parallel()
	secret := t.TempDir()
	h := startFront(t, "--rtmps", "127.0.0.1:0", "--cert", filepath.Join(secret, "tls.crt"),
		"--tls-key", filepath.Join(secret, "tls.key"), "--cert-poll", "100ms")
	ev := h.waitEvent("certificate", 5*time.Second)
	if ev["sha256"] != nil || ev["error"] == nil {
		t.Fatalf("certificate event without files %v", ev)
	}
	cert, crt, key := selfSigned(t, "late")
	if conn, err := tls.Dial("tcp", h.rtmps, trusting(cert)); err == nil {
		conn.Close()
		t.Fatal("a handshake succeeded without a certificate")
	}
	h.waitRefused("tls", 5*time.Second)
	mountSecret(t, secret, "..2026_11_26_13_00_00.1", crt, key)
	ev = h.waitEvent("certificate", 5*time.Second)
	if ev.str("sha256") != sha256Hex(cert) {
		t.Fatalf("certificate event %v", ev)
	}
	c := dialRTMPS(t, h.rtmps, trusting(cert))
	c.connect()
	c.publish(testKey)
	h.waitEvent("publish", 5*time.Second)
}
