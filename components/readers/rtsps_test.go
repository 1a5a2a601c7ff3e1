package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// selfSigned writes a certificate for 127.0.0.1 and its key; their paths.
func selfSigned(t *testing.T) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "readers-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cert, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	kb, _ := x509.MarshalECPrivateKey(key)
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, keyFile
}

func TestRTSPSWithADigestToken(t *testing.T) {
	t.Parallel() // each its own component, feed and ports: two at a time (GOMAXPROCS)
	cert, key := selfSigned(t)
	feed := serveFeed(t, tsFeed(t, 10), 10*time.Second)
	c := start(t, feed.URL+"/feed", true, func(o *options) {
		o.srt, o.rtsp, o.rtsps, o.cert, o.tlsKey = "", "", "127.0.0.1:0", cert, key
	})
	token := testToken("")
	cl, sig, _ := splitToken(token)
	p, err := probe(t, "rtsps://"+cl.public()+":"+sig+"@"+c.addrs["rtsps"]+"/live")
	wantAV(t, p, err)
	if _, err := probe(t, "rtsps://"+c.addrs["rtsps"]+"/live"); err == nil {
		t.Fatal("read without a token")
	}
}
