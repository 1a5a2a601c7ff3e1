package main

import (
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/pion/rtp"
)

// rtpInput receives the RTP FFmpeg sends (`-f rtp rtp://127.0.0.1:PORT`) for the viewers when the
// source is not WHIP. It also binds PORT+1, where FFmpeg sends its RTCP, so that FFmpeg gets no
// "connection refused" (nothing in that RTCP is needed).
type rtpInput struct {
	conns []*net.UDPConn
	wg    sync.WaitGroup
}

func startRTPInput(videoPort, audioPort int, h *hub, log *slog.Logger) (*rtpInput, error) {
	in := &rtpInput{}
	for kind, port := range [2]int{videoPort, audioPort} {
		if port == 0 {
			continue
		}
		for i, p := range []int{port, port + 1} {
			c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p})
			if err != nil {
				if i == 1 { // the RTCP sink is a courtesy
					log.Warn("RTCP sink not bound", "port", p, "err", err)
					continue
				}
				in.close()
				return nil, fmt.Errorf("RTP input %s: %w", mediaKind(kind), err)
			}
			in.conns = append(in.conns, c)
			in.wg.Add(1)
			if i == 0 {
				go in.readRTP(c, mediaKind(kind), h)
			} else {
				go in.discard(c)
			}
		}
	}
	return in, nil
}

func (in *rtpInput) readRTP(c *net.UDPConn, kind mediaKind, h *hub) {
	defer in.wg.Done()
	buf := make([]byte, 1600)
	for {
		n, _, err := c.ReadFromUDP(buf)
		if err != nil {
			return
		}
		// The hub may keep the packet (GOP cache, viewer queues): it gets its own bytes.
		p := &rtp.Packet{}
		if p.Unmarshal(append([]byte(nil), buf[:n]...)) != nil {
			continue
		}
		h.pushFromRTPInput(kind, p)
	}
}

func (in *rtpInput) discard(c *net.UDPConn) {
	defer in.wg.Done()
	buf := make([]byte, 1600)
	for {
		if _, _, err := c.ReadFromUDP(buf); err != nil {
			return
		}
	}
}

func (in *rtpInput) close() {
	for _, c := range in.conns {
		_ = c.Close()
	}
	in.wg.Wait()
}
