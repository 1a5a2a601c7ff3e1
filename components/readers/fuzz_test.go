package main

// Every parser of untrusted bytes here, fuzzed: an SRT caller's handshake (gosrt's packet and
// handshake parsing, then our stream id), tokens, an RTSP request's credentials (gortsplib's request
// and Authorization parsing, then ours) and the feed's MPEG-TS into RTP. None may panic or hang, a
// refusal never quotes a token, and nothing but a correctly signed token is let in.

import (
	"bufio"
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/datarhei/gosrt/packet"
	"github.com/pion/rtp"
)

// A signed stream's check without keys on disk (a directory that does not exist): every path runs.
var fuzzAccess = &access{stream: testStream, keys: &keyring{dir: "/nonexistent/streamops-readers-keys"}, now: time.Now}

func FuzzSRTHandshake(f *testing.F) {
	// A conclusion handshake as libsrt sends it (captured from srt-live-transmit), then variations.
	cif := &packet.CIFHandshake{
		IsRequest: true, Version: 5, ExtensionField: 5, HandshakeType: packet.HSTYPE_CONCLUSION,
		MaxTransmissionUnitSize: 1500, MaxFlowWindowSize: 8192, SRTSocketId: 1,
		HasHS: true, SRTHS: &packet.CIFHandshakeExtension{SRTVersion: 0x010500},
		HasSID: true, StreamId: "#!::r=live,m=request,t=v1~AAAAAAAA~1~~",
	}
	p := packet.NewPacket(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1})
	p.Header().IsControlPacket = true
	p.Header().ControlType = packet.CTRLTYPE_HANDSHAKE
	p.MarshalCIF(cif)
	var seed bytes.Buffer
	if err := p.Marshal(&seed); err == nil {
		f.Add(seed.Bytes())
	}
	f.Add([]byte{0x80, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := packet.NewPacketFromData(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, data)
		if err != nil {
			return
		}
		c, ok := unmarshalHandshake(p)
		if !ok {
			return
		}
		id, ok := parseStreamID(c.StreamId)
		if !ok {
			return
		}
		_ = fuzzAccess.token(id.token, "127.0.0.1")
	})
}

func FuzzStreamID(f *testing.F) {
	f.Add("")
	f.Add("#!::r=live,m=request,t=v1~AAAAAAAA~1~~" + strings.Repeat("A", 43))
	f.Add("#!::m=publish")
	f.Add("v1~AAAAAAAA~99999999999~::1")
	f.Fuzz(func(t *testing.T, s string) {
		id, ok := parseStreamID(s)
		if !ok {
			return
		}
		if len(id.token) > maxStreamID {
			t.Fatalf("a token longer than the stream id")
		}
	})
}

func FuzzToken(f *testing.F) {
	good := testToken("")
	f.Add(good)
	f.Add(testToken("127.0.0.1"))
	f.Add(good[:len(good)-1] + "B")
	f.Add("v1~AAAAAAAA~1~~")
	now := time.Now()
	f.Fuzz(func(t *testing.T, token string) {
		why := verify(token, [][]byte{testKey}, testStream, now, "127.0.0.1")
		if why == "" {
			c, sig, ok := splitToken(token)
			if !ok || sign(testKey, c, testStream) != sig {
				t.Fatalf("let in a token that is not signed: %q", token)
			}
		}
		if strings.Contains(why, "~") {
			t.Fatalf("a refusal quotes the token")
		}
	})
}

func FuzzRTSPRequest(f *testing.F) {
	f.Add([]byte("DESCRIBE rtsp://127.0.0.1:8554/live?token=v1~AAAAAAAA~1~~x RTSP/1.0\r\nCSeq: 1\r\n\r\n"))
	f.Add([]byte("DESCRIBE rtsp://h/live RTSP/1.0\r\nCSeq: 2\r\nAuthorization: Digest username=\"v1~AAAAAAAA~1~~\", " +
		"realm=\"IPCAM\", nonce=\"n\", uri=\"rtsp://h/live\", response=\"00\"\r\n\r\n"))
	f.Add([]byte("SETUP rtsp://h/live/trackID=0 RTSP/1.0\r\nCSeq: 3\r\nAuthorization: Basic eDp5\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var req base.Request
		if req.Unmarshal(bufio.NewReader(bytes.NewReader(data))) != nil || req.URL == nil {
			return
		}
		p := credentials(&req, req.URL.RawQuery)
		if p.method == "" && p.token != "" {
			t.Fatalf("a token without a method")
		}
		if p.method == "token" {
			_ = fuzzAccess.token(p.token, "127.0.0.1")
		} else if p.method == "digest" {
			_, _ = fuzzAccess.secret(p.token, "127.0.0.1")
		}
	})
}

func FuzzFeed(f *testing.F) {
	seed := tsFeed(f, 1) // made by FFmpeg, as the ingest's feed is
	f.Add(seed)
	f.Add(seed[:len(seed)/2])
	f.Add(bytes.Repeat([]byte{0x47}, 188*3))
	f.Fuzz(func(t *testing.T, data []byte) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			demux(bytes.NewReader(data), func() {}, func(*description.Session, *description.Media, []*rtp.Packet) {})
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("the demuxer hung on %d bytes", len(data))
		}
	})
}
