// Command hlsmux-proto is issue 53's measurement prototype, not a product: an RTMP listener
// (gortmplib, as streamops-rtmp) that muxes one publisher's H.264/AAC to HLS with gohlslib
// (LL-HLS fMP4 parts, plain fMP4 or MPEG-TS segments), writing the segments to --dir and serving
// the playlists on --http. It exists to put a number on "HLS muxing in Go inside the front" against
// FFmpeg's muxing of the same stream in the same run (docs/design/lean-ingest.md, issue 53). No key
// check, no FIFO, no control channel: see bench-cpu.sh beside it for the run.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bluenviron/gohlslib/v2"
	hlscodecs "github.com/bluenviron/gohlslib/v2/pkg/codecs"
	"github.com/bluenviron/gortmplib"
	rtmpcodecs "github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"
)

func main() {
	rtmpAddr := flag.String("rtmp", "127.0.0.1:1935", "RTMP listen address (one publisher at a time)")
	httpAddr := flag.String("http", "", "serve the muxer's playlists, segments and parts here (empty: off)")
	dir := flag.String("dir", "", "write segments here instead of keeping them in memory")
	variant := flag.String("variant", "lowlatency", "lowlatency (fMP4 + parts), fmp4 or mpegts")
	segment := flag.Duration("segment", 2*time.Second, "minimum segment duration")
	part := flag.Duration("part", 200*time.Millisecond, "minimum part duration (LL-HLS)")
	count := flag.Int("segments", 6, "segments kept in the playlist")
	lowat := flag.Int("rcvlowat", 0, "SO_RCVLOWAT on the publisher's socket (bytes, 0: off), as the front's receive batching")
	alsoTS := flag.Bool("also-ts", false, "a second muxer writing MPEG-TS HLS into --dir/ts (the ingest's two flavours)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile here until SIGTERM/SIGINT")
	ownFMP4Flag := flag.Bool("own-fmp4", false, "CMAF segments of LL-HLS parts (--part) by the hand-written writer (fmp4mux.go) into --dir/cmaf")
	own := flag.Bool("own", false, "TS HLS (--also-ts) and the feed (--feed) by the hand-written writer (tsmux.go), not gohlslib/mediacommon")
	feed := flag.Bool("feed", false, "also write the stream as MPEG-TS to stdout, one write per access unit (the ingest's feed)")
	flag.Parse()
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1) // as streamops-feed: short syscalls, a second P only adds wake-ups
	}
	v := map[string]gohlslib.MuxerVariant{
		"lowlatency": gohlslib.MuxerVariantLowLatency,
		"fmp4":       gohlslib.MuxerVariantFMP4,
		"mpegts":     gohlslib.MuxerVariantMPEGTS,
		"none":       -1,
	}[*variant]
	if v == 0 {
		log.Fatalf("unknown variant %q", *variant)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
		go func() {
			<-stop
			pprof.StopCPUProfile()
			f.Close()
			os.Exit(0)
		}()
	}
	ln, err := net.Listen("tcp", *rtmpAddr)
	if err != nil {
		log.Fatal(err)
	}
	var current atomic.Pointer[gohlslib.Muxer]
	if *httpAddr != "" {
		go func() {
			log.Fatal(http.ListenAndServe(*httpAddr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if m := current.Load(); m != nil {
					m.Handle(w, r)
					return
				}
				http.Error(w, "not live", http.StatusServiceUnavailable)
			})))
		}()
	}
	for {
		conn, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		m := &gohlslib.Muxer{Variant: v, SegmentCount: *count, SegmentMinDuration: *segment, PartMinDuration: *part, Directory: *dir}
		var extra extras
		if *ownFMP4Flag {
			extra.fmp4Dir = *dir + "/cmaf"
			extra.part = *part
			os.MkdirAll(extra.fmp4Dir, 0o755)
		}
		if *own {
			extra.own = true
			if *alsoTS {
				extra.ownDir = *dir + "/ts"
				os.MkdirAll(extra.ownDir, 0o755)
			}
			if *feed {
				extra.ownFeed = os.Stdout
			}
		} else if *alsoTS {
			extra.ts = &gohlslib.Muxer{Variant: gohlslib.MuxerVariantMPEGTS, SegmentCount: *count, SegmentMinDuration: *segment, Directory: *dir + "/ts"}
			os.MkdirAll(extra.ts.Directory, 0o755)
		}
		if *feed && !*own {
			extra.feed = bufio.NewWriterSize(os.Stdout, 64*1024)
		}
		extra.segment, extra.count = *segment, *count
		err = publish(conn, m, extra, *lowat, func() { current.Store(m) })
		if extra.ts != nil && extra.ts.Tracks != nil {
			extra.ts.Close()
		}
		log.Printf("publisher %v ended: %v", conn.RemoteAddr(), err)
		conn.Close()
		if current.CompareAndSwap(m, nil) && m.Variant != -1 {
			m.Close()
		}
	}
}

// extras are what the ingest writes besides one HLS flavour: the other flavour and the feed.
type extras struct {
	ts      *gohlslib.Muxer
	feed    *bufio.Writer
	own     bool      // the hand-written writer for TS HLS and the feed
	ownDir  string    // its TS HLS directory ("": none)
	ownFeed io.Writer // its feed (nil: none)
	segment time.Duration
	count   int
	fmp4Dir string // the hand-written fMP4 writer's directory ("": none)
	part    time.Duration
}

// publish takes one publisher's stream into m (and extra) until it ends.
func publish(conn net.Conn, m *gohlslib.Muxer, extra extras, lowat int, started func()) error {
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	sc := &gortmplib.ServerConn{RW: conn}
	if err := sc.Initialize(); err != nil {
		return err
	}
	if err := sc.AcceptConn(); err != nil {
		return err
	}
	if !sc.Publish {
		return errors.New("not a publisher")
	}
	r := &gortmplib.Reader{Conn: sc}
	if err := r.Initialize(); err != nil {
		return err
	}
	var hooks []func()
	var ownTS *ownTSWriter
	if extra.own {
		ownTS = &ownTSWriter{}
	}
	audioRate, audioChannels, audioObject := 48000, 2, 2
	var fm *ownFMP4
	var videoSPS, videoPPS []byte
	var audioConfig *mpeg4audio.AudioSpecificConfig
	var feedTracks []*mpegts.Track
	var feedW *mpegts.Writer
	for _, t := range r.Tracks() {
		switch c := t.Codec.(type) {
		case *rtmpcodecs.H264:
			ht := &gohlslib.Track{Codec: &hlscodecs.H264{SPS: c.SPS, PPS: c.PPS}, ClockRate: 90000}
			m.Tracks = append(m.Tracks, ht)
			tt := &gohlslib.Track{Codec: &hlscodecs.H264{SPS: c.SPS, PPS: c.PPS}, ClockRate: 90000}
			if extra.ts != nil {
				extra.ts.Tracks = append(extra.ts.Tracks, tt)
			}
			ft := &mpegts.Track{Codec: &tscodecs.H264{}}
			feedTracks = append(feedTracks, ft)
			sps, pps := c.SPS, c.PPS
			videoSPS, videoPPS = c.SPS, c.PPS
			hooks = append(hooks, func() {
				r.OnDataH264(t, func(pts, dts time.Duration, au [][]byte) {
					au, sps, pps = withParams(au, sps, pps)
					now, p90 := time.Now(), int64(pts)*90000/int64(time.Second)
					if ownTS != nil || fm != nil {
						d90, key := int64(dts)*90000/int64(time.Second), h264.IsRandomAccess(au)
						if ownTS != nil {
							ownTS.video(p90, d90, au, key)
						}
						if fm != nil {
							fm.video(p90, d90, au, key)
						}
					}
					if m.Variant == -1 {
						return
					}
					if err := m.WriteH264(ht, now, p90, au); err != nil {
						log.Printf("h264: %v", err)
					}
					if extra.ts != nil {
						extra.ts.WriteH264(tt, now, p90, au) //nolint:errcheck
					}
					if feedW != nil {
						feedW.WriteH264(ft, p90, int64(dts)*90000/int64(time.Second), au) //nolint:errcheck
						extra.feed.Flush()
					}
				})
			})
		case *rtmpcodecs.MPEG4Audio:
			rate := c.Config.SampleRate
			audioRate, audioChannels, audioObject = rate, int(c.Config.ChannelConfig), int(c.Config.Type)
			audioConfig = c.Config
			ht := &gohlslib.Track{Codec: &hlscodecs.MPEG4Audio{Config: *c.Config}, ClockRate: rate}
			m.Tracks = append(m.Tracks, ht)
			tt := &gohlslib.Track{Codec: &hlscodecs.MPEG4Audio{Config: *c.Config}, ClockRate: rate}
			if extra.ts != nil {
				extra.ts.Tracks = append(extra.ts.Tracks, tt)
			}
			ft := &mpegts.Track{Codec: &tscodecs.MPEG4Audio{Config: *c.Config}}
			feedTracks = append(feedTracks, ft)
			hooks = append(hooks, func() {
				r.OnDataMPEG4Audio(t, func(pts time.Duration, au []byte) {
					now, p := time.Now(), int64(pts)*int64(rate)/int64(time.Second)
					if ownTS != nil {
						ownTS.audio(int64(pts)*90000/int64(time.Second), au)
					}
					if fm != nil {
						fm.audio(int64(pts)*90000/int64(time.Second), au)
					}
					if m.Variant == -1 {
						return
					}
					if err := m.WriteMPEG4Audio(ht, now, p, [][]byte{au}); err != nil {
						log.Printf("aac: %v", err)
					}
					if extra.ts != nil {
						extra.ts.WriteMPEG4Audio(tt, now, p, [][]byte{au}) //nolint:errcheck
					}
					if feedW != nil {
						feedW.WriteMPEG4Audio(ft, int64(pts)*90000/int64(time.Second), [][]byte{au}) //nolint:errcheck
						extra.feed.Flush()
					}
				})
			})
		default:
			return fmt.Errorf("codec %T: not in the prototype", c)
		}
	}
	if extra.fmp4Dir != "" {
		fm = newOwnFMP4(extra.fmp4Dir, extra.part, extra.segment, videoSPS, videoPPS, audioConfig)
	}
	if ownTS != nil {
		*ownTS = *newOwnTS(extra.ownDir, extra.segment, extra.count, extra.ownFeed, audioRate, audioChannels, audioObject)
	}
	if m.Variant != -1 {
		if err := m.Start(); err != nil {
			return err
		}
	}
	if extra.ts != nil {
		if err := extra.ts.Start(); err != nil {
			return err
		}
	}
	if extra.feed != nil {
		feedW = &mpegts.Writer{W: extra.feed, Tracks: feedTracks}
		if err := feedW.Initialize(); err != nil {
			return err
		}
	}
	for _, h := range hooks {
		h()
	}
	started()
	if tc, ok := conn.(*net.TCPConn); ok && lowat > 0 {
		if rc, err := tc.SyscallConn(); err == nil {
			rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVLOWAT, lowat) })
		}
	}
	for {
		// The deadline is set once a second, not per read: resetting it per read is a timer
		// change per wake-up.
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		for end := time.Now().Add(time.Second); time.Now().Before(end); {
			if err := r.Read(); err != nil {
				return err
			}
		}
	}
}

// withParams puts the last SPS and PPS before an IDR that comes without them, as MediaMTX does:
// RTMP carries them once, in the sequence header, and gohlslib's DTS extractor (and a player
// joining at that segment) needs them in band. It returns the parameters seen so far.
func withParams(au [][]byte, sps, pps []byte) ([][]byte, []byte, []byte) {
	idr, has := false, false
	for _, n := range au {
		switch h264.NALUType(n[0] & 0x1f) {
		case h264.NALUTypeSPS:
			sps, has = n, true
		case h264.NALUTypePPS:
			pps = n
		case h264.NALUTypeIDR:
			idr = true
		}
	}
	if !idr || has {
		return au, sps, pps
	}
	return append([][]byte{sps, pps}, au...), sps, pps
}
