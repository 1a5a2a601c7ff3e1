package main

// RTSP and RTSPS for readers: gortsplib's server (MediaMTX's RTSP stack) speaks the protocol and
// parses requests (its own bounds: 2 KiB URL, 255 headers of 2 KiB, 128 KiB body); this decides who
// reads and feeds one ServerStream per listener from the live feed, demuxed by mediacommon
// (H.264 or H.265, AAC). RTP over the RTSP connection (TCP) only: a UDP SETUP is answered 461 and
// clients fall back (FFmpeg does), so the Service needs one port and no client ports are opened.

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/headers"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"
	"github.com/pion/rtp"
)

const (
	preAuthBytes   = 64 << 10        // what a connection may send before it is authorized (a DESCRIBE is < 1 KiB)
	describeWait   = 4 * time.Second // DESCRIBE waits this long for the stream's first keyframe
	sourceLinger   = 10 * time.Second
	initLimit      = 4 << 20 // the PMT and each track's first packet must show within this many bytes
	maxAccessUnit  = 8 << 20
	rtspRequestMax = 4 << 10 // a request line's URL etc. are gortsplib's; this is the query we read
)

var errRefused = errors.New("refused")

// gatedConn: a connection's slot (given back when it closes) and its pre-auth byte budget.
type gatedConn struct {
	net.Conn
	budget    atomic.Int64 // < 0: authorized, unbounded
	once      sync.Once
	release   func()
	exhausted sync.Once
	onBytes   func() // the budget ran out: counted once
}

func (c *gatedConn) Read(p []byte) (int, error) {
	if b := c.budget.Load(); b >= 0 {
		if b == 0 {
			c.exhausted.Do(c.onBytes)
			return 0, errRefused
		}
		if int64(len(p)) > b {
			p = p[:b]
		}
	}
	n, err := c.Conn.Read(p)
	if c.budget.Load() >= 0 {
		c.budget.Add(-int64(n))
	}
	return n, err
}

func (c *gatedConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}

type gatedListener struct {
	net.Listener
	slots  *slots
	events *events
}

func (l *gatedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		slot, ok := l.slots.take(c.RemoteAddr())
		if !ok {
			l.events.refused("rtsp", refusalOverload)
			c.Close()
			continue
		}
		g := &gatedConn{
			Conn:    c,
			release: func() { l.slots.give(slot) },
			onBytes: func() { l.events.refused("rtsp", refusalBytes) },
		}
		g.budget.Store(preAuthBytes)
		return g, nil
	}
}

type connState struct {
	authed atomic.Bool
	gate   *gatedConn
	timer  *time.Timer
}

// rtspReaders: the listeners (RTSP, RTSPS), who is connected and playing, and the source.
type rtspReaders struct {
	access      *access
	hub         *hub
	slots       *slots
	events      *events
	authTimeout time.Duration
	servers     []*gortsplib.Server

	mu      sync.Mutex
	src     *rtspSource
	conns   map[*gortsplib.ServerConn]*connState
	playing map[*gortsplib.ServerSession]bool
	stop    chan struct{}
}

func newRTSPReaders(a *access, h *hub, s *slots, e *events, authTimeout time.Duration) *rtspReaders {
	return &rtspReaders{
		access: a, hub: h, slots: s, events: e, authTimeout: authTimeout,
		conns: map[*gortsplib.ServerConn]*connState{}, playing: map[*gortsplib.ServerSession]bool{},
		stop: make(chan struct{}),
	}
}

// listen starts a listener on address (TLS when cfg is set); the bound address comes back.
func (r *rtspReaders) listen(address string, cfg *tls.Config) (string, error) {
	h := &rtspHandler{r: r}
	var bound net.Addr
	s := &gortsplib.Server{
		Handler:     h,
		RTSPAddress: address,
		TLSConfig:   cfg,
		ReadTimeout: 10 * time.Second,
		Listen: func(network, address string) (net.Listener, error) {
			ln, err := net.Listen(network, address)
			if err != nil {
				return nil, err
			}
			bound = ln.Addr()
			return &gatedListener{Listener: ln, slots: r.slots, events: r.events}, nil
		},
	}
	h.server = s
	if err := s.Start(); err != nil {
		return "", err
	}
	r.mu.Lock()
	r.servers = append(r.servers, s)
	r.mu.Unlock()
	return bound.String(), nil
}

func (r *rtspReaders) close() {
	close(r.stop)
	r.mu.Lock()
	src, servers := r.src, r.servers
	r.src = nil
	r.mu.Unlock()
	if src != nil {
		src.end()
	}
	for _, s := range servers {
		s.Close()
	}
}

// janitor stops the source once nobody has played or asked for it for sourceLinger.
func (r *rtspReaders) janitor() {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-tick.C:
		}
		r.mu.Lock()
		src := r.src
		idle := src != nil && len(r.playing) == 0 && time.Since(time.Unix(0, src.used.Load())) > sourceLinger
		if idle {
			r.src = nil
		}
		r.mu.Unlock()
		if idle {
			src.end()
		}
	}
}

// source is the running source (started when none runs), its use noted.
func (r *rtspReaders) source() *rtspSource {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.src == nil || r.src.isDone() {
		r.src = startSource(r.hub, append([]*gortsplib.Server(nil), r.servers...), func(s *rtspSource) {
			r.mu.Lock()
			defer r.mu.Unlock()
			if r.src == s {
				r.src = nil
			}
		})
	}
	r.src.used.Store(time.Now().UnixNano())
	return r.src
}

// authorize decides a request: "" when the connection may read.
func (r *rtspReaders) authorize(conn *gortsplib.ServerConn, req *base.Request, query string) string {
	r.mu.Lock()
	st := r.conns[conn]
	r.mu.Unlock()
	if st != nil && st.authed.Load() {
		return ""
	}
	why := r.check(conn, req, query)
	if why == "" && st != nil {
		st.authed.Store(true)
		st.timer.Stop()
		st.gate.budget.Store(-1)
	}
	return why
}

// presented is what a request carries: a whole token (?token=, a Basic password), or a token's
// public part for Digest (the password, its signature, is checked by gortsplib's Digest code);
// method "" when it carries nothing. Pure: fuzzed on any request bytes.
type presented struct {
	method string // "token" | "digest" | ""
	token  string // token: the whole token; digest: the public part (the Digest user name)
}

func credentials(req *base.Request, query string) presented {
	if len(query) <= rtspRequestMax {
		if q, err := url.ParseQuery(query); err == nil && q.Get("token") != "" {
			return presented{method: "token", token: q.Get("token")}
		}
	}
	var a headers.Authorization
	if len(req.Header["Authorization"]) == 0 || a.Unmarshal(req.Header["Authorization"]) != nil {
		return presented{}
	}
	if a.Method == headers.AuthMethodBasic {
		token := a.BasicPass
		if _, sig, ok := splitToken(a.Username); ok && sig == "" {
			token = a.Username + "~" + a.BasicPass // the public part as user, the signature as password
		}
		return presented{method: "token", token: token}
	}
	return presented{method: "digest", token: a.Username}
}

func (r *rtspReaders) check(conn *gortsplib.ServerConn, req *base.Request, query string) string {
	client := clientIP(conn.NetConn().RemoteAddr())
	if why := r.access.rule(client); why != "" { // the policy's rules, before the token
		return why
	}
	if !r.access.signed() {
		return ""
	}
	p := credentials(req, query)
	switch p.method {
	case "token":
		return r.access.token(p.token, client)
	case "digest": // the user is the token's public part, the password its signature
		want, why := r.access.secret(p.token, client)
		if why != "" {
			return why
		}
		if !conn.VerifyCredentials(req, p.token, want) {
			return refusalInvalid
		}
		return ""
	default:
		conn.VerifyCredentials(req, "-", "-") // makes the nonce the 401's WWW-Authenticate offers
		return refusalMissing
	}
}

func refusalResponse(why string) (*base.Response, error) {
	switch why {
	case refusalMissing:
		return &base.Response{StatusCode: base.StatusUnauthorized}, liberrors.ErrServerAuth{}
	case refusalNotLive:
		return &base.Response{StatusCode: base.StatusNotFound}, nil
	case refusalNoKeys, refusalOverload, refusalGeoIPUnavailable, refusalRulesUnavailable:
		return &base.Response{StatusCode: base.StatusServiceUnavailable}, errRefused
	default:
		return &base.Response{StatusCode: base.StatusForbidden}, errRefused
	}
}

type rtspHandler struct {
	r      *rtspReaders
	server *gortsplib.Server
}

func (h *rtspHandler) OnConnOpen(ctx *gortsplib.ServerHandlerOnConnOpenCtx) {
	nc := ctx.Conn.NetConn()
	if t, ok := nc.(*tls.Conn); ok {
		nc = t.NetConn()
	}
	gate, _ := nc.(*gatedConn)
	if gate == nil {
		ctx.Conn.Close()
		return
	}
	st := &connState{gate: gate}
	conn, events := ctx.Conn, h.r.events
	st.timer = time.AfterFunc(h.r.authTimeout, func() {
		if !st.authed.Load() {
			events.refused("rtsp", refusalTimeout)
			conn.Close()
		}
	})
	h.r.mu.Lock()
	h.r.conns[ctx.Conn] = st
	h.r.mu.Unlock()
}

func (h *rtspHandler) OnConnClose(ctx *gortsplib.ServerHandlerOnConnCloseCtx) {
	h.r.mu.Lock()
	st := h.r.conns[ctx.Conn]
	delete(h.r.conns, ctx.Conn)
	h.r.mu.Unlock()
	if st != nil {
		st.timer.Stop()
	}
}

func (h *rtspHandler) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	h.r.mu.Lock()
	played := h.r.playing[ctx.Session]
	delete(h.r.playing, ctx.Session)
	h.r.mu.Unlock()
	if played {
		h.r.events.viewers("rtsp", -1)
	}
}

func (h *rtspHandler) stream(ctx describeOrSetup) (*base.Response, *gortsplib.ServerStream, error) {
	if why := h.r.authorize(ctx.conn, ctx.req, ctx.query); why != "" {
		if why != refusalMissing || len(ctx.req.Header["Authorization"]) > 0 {
			h.r.events.refused("rtsp", why)
		}
		res, err := refusalResponse(why)
		return res, nil, err
	}
	st := h.r.source().stream(h.server)
	if st == nil {
		h.r.events.refused("rtsp", refusalNotLive)
		res, err := refusalResponse(refusalNotLive)
		return res, nil, err
	}
	return &base.Response{StatusCode: base.StatusOK}, st, nil
}

type describeOrSetup struct {
	conn  *gortsplib.ServerConn
	req   *base.Request
	query string
}

func (h *rtspHandler) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	return h.stream(describeOrSetup{ctx.Conn, ctx.Request, ctx.Query})
}

func (h *rtspHandler) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	return h.stream(describeOrSetup{ctx.Conn, ctx.Request, ctx.Query})
}

func (h *rtspHandler) OnPlay(ctx *gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	if why := h.r.authorize(ctx.Conn, ctx.Request, ctx.Query); why != "" {
		return refusalResponse(why)
	}
	h.r.mu.Lock()
	counted := h.r.playing[ctx.Session]
	h.r.playing[ctx.Session] = true
	h.r.mu.Unlock()
	if !counted {
		h.r.events.viewers("rtsp", 1)
	}
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// rtspSource: the feed demuxed into one ServerStream per listener, made at the first keyframe that
// carries the codec's parameters (so the SDP has them, and the first picture a client gets decodes).
type rtspSource struct {
	reader  *feedReader
	hub     *hub
	servers []*gortsplib.Server
	used    atomic.Int64
	ready   chan struct{} // closed when the streams exist or the source ended without them
	once    sync.Once

	mu      sync.Mutex
	streams map[*gortsplib.Server]*gortsplib.ServerStream
	done    bool
	onEnd   func(*rtspSource)
}

func startSource(h *hub, servers []*gortsplib.Server, onEnd func(*rtspSource)) *rtspSource {
	s := &rtspSource{reader: h.subscribe(), hub: h, servers: servers, ready: make(chan struct{}), onEnd: onEnd}
	go s.run()
	return s
}

func (s *rtspSource) isDone() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.done
}

// stream waits (bounded) for the listener's stream; nil when the stream is not live.
func (s *rtspSource) stream(server *gortsplib.Server) *gortsplib.ServerStream {
	select {
	case <-s.ready:
	case <-time.After(describeWait):
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return nil
	}
	return s.streams[server]
}

func (s *rtspSource) end() {
	s.hub.unsubscribe(s.reader)
}

// chanReader reads the feed reader's chunks as a stream of bytes, at most budget before the program
// is known.
type chanReader struct {
	ch     <-chan []byte
	cur    []byte
	budget int64 // < 0: no bound
}

func (c *chanReader) Read(p []byte) (int, error) {
	for len(c.cur) == 0 {
		chunk, open := <-c.ch
		if !open {
			return 0, io.EOF
		}
		c.cur = chunk
	}
	if c.budget >= 0 {
		if c.budget == 0 {
			return 0, errRefused
		}
		if int64(len(p)) > c.budget {
			p = p[:c.budget]
		}
	}
	n := copy(p, c.cur)
	c.cur = c.cur[n:]
	if c.budget >= 0 {
		c.budget -= int64(n)
	}
	return n, nil
}

func random32() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:])
}

func (s *rtspSource) run() {
	in := &chanReader{ch: s.reader.ch, budget: initLimit}
	demux(in, func() { in.budget = -1 }, s.publish)
	s.hub.unsubscribe(s.reader)
	s.mu.Lock()
	s.done = true
	streams := s.streams
	s.streams = nil
	s.mu.Unlock()
	s.once.Do(func() { close(s.ready) })
	for _, st := range streams {
		st.Close() // its sessions end: readers reconnect to what comes next
	}
	s.onEnd(s)
}

// publish makes the streams (once) and writes a packet to each.
func (s *rtspSource) publish(desc *description.Session, media *description.Media, pkts []*rtp.Packet) {
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		return
	}
	if s.streams == nil {
		s.streams = map[*gortsplib.Server]*gortsplib.ServerStream{}
		for _, server := range s.servers {
			st := &gortsplib.ServerStream{Server: server, Desc: desc}
			if st.Initialize() == nil {
				s.streams[server] = st
			}
		}
		s.once.Do(func() { close(s.ready) })
	}
	streams := make([]*gortsplib.ServerStream, 0, len(s.streams))
	for _, st := range s.streams {
		streams = append(streams, st)
	}
	s.mu.Unlock()
	for _, st := range streams {
		for _, p := range pkts {
			_ = st.WritePacketRTP(media, p)
		}
	}
}

// demux reads MPEG-TS from r (untrusted bytes: fuzzed) and hands RTP packets of its first video
// (H.264 or H.265) and first AAC track to publish, from the first keyframe with parameters on.
// initialized is called once the program is known.
func demux(r io.Reader, initialized func(), publish func(*description.Session, *description.Media, []*rtp.Packet)) {
	rd := &mpegts.Reader{R: r}
	if rd.Initialize() != nil {
		return
	}
	initialized()
	var video, audio *mpegts.Track
	var audioCfg *mpeg4audio.AudioSpecificConfig
	for _, t := range rd.Tracks() {
		switch c := t.Codec.(type) {
		case *tscodecs.H264, *tscodecs.H265:
			if video == nil {
				video = t
			}
		case *tscodecs.MPEG4Audio:
			if audio == nil {
				audio = t
				conf := c.Config
				audioCfg = &conf
			}
		}
	}
	if video == nil && audio == nil {
		return
	}
	var td mpegts.TimeDecoder
	rd.OnDecodeError(func(error) {})
	desc := &description.Session{}
	var videoMedia, audioMedia *description.Media
	var videoOut func(pts int64, au [][]byte) []*rtp.Packet
	started := video == nil // audio only: no keyframe to wait for
	videoBase, audioBase := random32(), random32()
	var h264Fmt *format.H264
	var h265Fmt *format.H265
	if video != nil {
		videoMedia = &description.Media{Type: description.MediaTypeVideo}
		if _, ok := video.Codec.(*tscodecs.H264); ok {
			h264Fmt = &format.H264{PayloadTyp: 96, PacketizationMode: 1}
			videoMedia.Formats = []format.Format{h264Fmt}
		} else {
			h265Fmt = &format.H265{PayloadTyp: 96}
			videoMedia.Formats = []format.Format{h265Fmt}
		}
		desc.Medias = append(desc.Medias, videoMedia)
	}
	var aacEnc interface {
		Encode([][]byte) ([]*rtp.Packet, error)
	}
	if audio != nil {
		aacFmt := &format.MPEG4Audio{PayloadTyp: 97, Config: audioCfg, SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3}
		audioMedia = &description.Media{Type: description.MediaTypeAudio, Formats: []format.Format{aacFmt}}
		desc.Medias = append(desc.Medias, audioMedia)
		if enc, err := aacFmt.CreateEncoder(); err == nil {
			aacEnc = enc
		} else {
			audio = nil
			desc.Medias = desc.Medias[:len(desc.Medias)-1]
		}
	}
	stamp := func(pkts []*rtp.Packet, ts uint32) []*rtp.Packet {
		for _, p := range pkts {
			p.Timestamp = ts
		}
		return pkts
	}
	onVideo := func(pts int64, au [][]byte, key bool, params func() bool) {
		size := 0
		for _, n := range au {
			size += len(n)
		}
		if size > maxAccessUnit || size == 0 {
			return
		}
		if !started {
			if !key || !params() {
				return
			}
			var err error
			if h264Fmt != nil {
				enc, e := h264Fmt.CreateEncoder()
				err = e
				videoOut = func(pts int64, au [][]byte) []*rtp.Packet {
					pkts, err := enc.Encode(au)
					if err != nil {
						return nil
					}
					return stamp(pkts, videoBase+uint32(pts))
				}
			} else {
				enc, e := h265Fmt.CreateEncoder()
				err = e
				videoOut = func(pts int64, au [][]byte) []*rtp.Packet {
					pkts, err := enc.Encode(au)
					if err != nil {
						return nil
					}
					return stamp(pkts, videoBase+uint32(pts))
				}
			}
			if err != nil {
				return
			}
			started = true
		}
		if pkts := videoOut(pts, au); len(pkts) > 0 {
			publish(desc, videoMedia, pkts)
		}
	}
	if video != nil {
		if h264Fmt != nil {
			rd.OnDataH264(video, func(pts, _ int64, au [][]byte) error {
				onVideo(td.Decode(pts), au, h264.IsRandomAccess(au), func() bool {
					var sps, pps []byte
					for _, n := range au {
						if len(n) == 0 {
							continue
						}
						switch h264.NALUType(n[0] & 0x1f) {
						case h264.NALUTypeSPS:
							sps = n
						case h264.NALUTypePPS:
							pps = n
						}
					}
					if sps == nil || pps == nil {
						return false
					}
					h264Fmt.SPS, h264Fmt.PPS = append([]byte(nil), sps...), append([]byte(nil), pps...)
					return true
				})
				return nil
			})
		} else {
			rd.OnDataH265(video, func(pts, _ int64, au [][]byte) error {
				onVideo(td.Decode(pts), au, h265.IsRandomAccess(au), func() bool {
					var vps, sps, pps []byte
					for _, n := range au {
						if len(n) < 2 {
							continue
						}
						switch h265.NALUType((n[0] >> 1) & 0x3f) {
						case h265.NALUType_VPS_NUT:
							vps = n
						case h265.NALUType_SPS_NUT:
							sps = n
						case h265.NALUType_PPS_NUT:
							pps = n
						}
					}
					if vps == nil || sps == nil || pps == nil {
						return false
					}
					h265Fmt.VPS, h265Fmt.SPS, h265Fmt.PPS = append([]byte(nil), vps...), append([]byte(nil), sps...), append([]byte(nil), pps...)
					return true
				})
				return nil
			})
		}
	}
	if audio != nil {
		rate := int64(audioCfg.SampleRate)
		rd.OnDataMPEG4Audio(audio, func(pts int64, aus [][]byte) error {
			if !started || rate <= 0 {
				return nil
			}
			kept := aus[:0:0]
			for _, au := range aus {
				if len(au) > 0 && len(au) <= maxAccessUnit {
					kept = append(kept, au)
				}
			}
			if len(kept) == 0 {
				return nil
			}
			pkts, err := aacEnc.Encode(kept)
			if err != nil {
				return nil
			}
			publish(desc, audioMedia, stamp(pkts, audioBase+uint32(td.Decode(pts)*rate/90000)))
			return nil
		})
	}
	for rd.Read() == nil {
	}
}
