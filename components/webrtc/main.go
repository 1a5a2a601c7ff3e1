// Command streamops-webrtc is the WebRTC media component of a streamops ingest Pod: WHIP ingest
// and WHEP playback on pion, driven over loopback HTTP by the Python ingest worker, which does
// authentication and the public HTTP surface. See README.md for the contract.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	cfg, err := parseConfig(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "streamops-webrtc:", err)
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slogLevel(cfg.LogLevel)}))
	c, err := newComponent(cfg, log)
	if err != nil {
		log.Error("start", "err", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		<-ctx.Done()
		c.close()
	}()
	log.Info("listening", "control", c.ln.Addr().String(), "iceUdp", c.status().ICEUDP, "iceTcp", c.status().ICETCP)
	if err := c.serve(); err != nil {
		log.Error("control API", "err", err)
		c.close()
		os.Exit(1)
	}
	c.close() // serve returned because close began: wait until it is done
}

func slogLevel(s string) slog.Level {
	var l slog.Level
	if l.UnmarshalText([]byte(s)) != nil {
		return slog.LevelInfo
	}
	return l
}
