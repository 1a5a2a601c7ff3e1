package main

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
)

var errNoCertificate = errors.New("no RTMPS certificate is loaded")

// certReloader holds the RTMPS certificate and reloads it when its files change. Kubernetes
// mounts a Secret as symlinks into a `..data` directory that the kubelet swaps atomically, so
// the files are compared by resolved path, inode, mtime and size, and read through their
// resolved paths (one snapshot). New handshakes get the new certificate; live sessions keep theirs.
type certReloader struct {
	certPath, keyPath string
	emit              func(certificateEvent)
	cur               atomic.Pointer[tls.Certificate]
	attempted         string // the files' signature at the last load attempt
	loaded            bool   // a first load was attempted (and reported)
	lastGood          *string
}

// config is the listener's TLS configuration: TLS 1.2 or later, the current certificate.
func (c *certReloader) config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			if cert := c.cur.Load(); cert != nil {
				return cert, nil
			}
			return nil, errNoCertificate
		},
	}
}

// check loads the files when they changed since the last attempt and reports the outcome: a
// `certificate` event on the first attempt, when the certificate changes and when loading fails
// (the previous certificate stays in use).
func (c *certReloader) check() {
	cert, errCert := filepath.EvalSymlinks(c.certPath)
	key, errKey := filepath.EvalSymlinks(c.keyPath)
	if err := errors.Join(errCert, errKey); err != nil {
		c.report("missing:"+err.Error(), nil, err)
		return
	}
	// When both are configured in one directory (a mounted Secret), both must resolve into one
	// directory too: otherwise the kubelet is mid-swap; the next poll sees the new pair.
	if filepath.Dir(c.certPath) == filepath.Dir(c.keyPath) && filepath.Dir(cert) != filepath.Dir(key) {
		return
	}
	sig := fileSignature(cert) + "|" + fileSignature(key)
	if sig == c.attempted {
		return
	}
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		c.report(sig, nil, err)
		return
	}
	c.cur.Store(&pair)
	c.report(sig, &pair, nil)
}

func (c *certReloader) report(sig string, pair *tls.Certificate, err error) {
	first := !c.loaded
	c.loaded = true
	if sig == c.attempted && !first {
		return
	}
	c.attempted = sig
	if err != nil {
		msg := "cannot load the RTMPS certificate: " + err.Error()
		c.emit(certificateEvent{Type: "certificate", SHA256: c.lastGood, Error: &msg})
		return
	}
	sum := sha256.Sum256(pair.Certificate[0])
	hexSum := hex.EncodeToString(sum[:])
	if c.lastGood != nil && *c.lastGood == hexSum {
		return // same certificate rewritten (a touch, a renewal that kept it)
	}
	c.lastGood = &hexSum
	c.emit(certificateEvent{Type: "certificate", SHA256: &hexSum})
}

// fileSignature is what tells a changed file: resolved path, inode, mtime, size.
func fileSignature(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return path + ":" + err.Error()
	}
	var ino uint64
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		ino = st.Ino
	}
	return fmt.Sprintf("%s:%d:%d:%d", path, ino, fi.ModTime().UnixNano(), fi.Size())
}
