package main

// The pre-auth state machine: everything a client may do before its `publish` with the right key
// is accepted. It works on an io.ReadWriter (the client's connection through a meter) and a clock,
// so the fuzz target drives it without sockets. Anything not on the short list below closes the
// connection: this is the security boundary in front of FFmpeg.

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/bluenviron/gortmplib/pkg/amf0"
	"github.com/bluenviron/gortmplib/pkg/bytecounter"
	"github.com/bluenviron/gortmplib/pkg/handshake"
	"github.com/bluenviron/gortmplib/pkg/message"
	"github.com/bluenviron/gortmplib/pkg/rawmessage"
)

// Refusal reasons (the `refused` event's `reason`).
const (
	reasonKey       = "key"
	reasonProtocol  = "protocol"
	reasonDeadline  = "deadline"
	reasonBytes     = "bytes"
	reasonSourceCap = "source-cap"
	reasonTotalCap  = "total-cap"
	reasonBusy      = "busy"
	reasonInactive  = "inactive"
	reasonTLS       = "tls"
)

// maxChunkSize is gortmplib's cap on chunk and message sizes (rawmessage.maxBodySize).
const maxChunkSize = 10 * 1024 * 1024

var (
	errByteCap  = errors.New("the pre-auth byte cap was passed")
	errDeadline = errors.New("the pre-auth deadline passed")
)

// refusal is an error that turns a client away with a reason. detail goes to the log: it never
// holds a stream name or the key.
type refusal struct {
	reason string
	detail string
}

func (r *refusal) Error() string { return r.reason + ": " + r.detail }

func refuse(reason, format string, args ...any) error {
	return &refusal{reason: reason, detail: fmt.Sprintf(format, args...)}
}

// meter sits between the client's socket and everything that reads it: it counts the bytes read,
// enforces the pre-auth byte cap and deadline (by its clock, on top of the socket deadline), runs
// a hook before each read (the media phase flushes the FLV output there and re-arms the idle
// deadline) and remembers the first I/O error, so a failure can be told apart from a protocol
// violation found by the parser.
type meter struct {
	rw       io.ReadWriter
	n        int64
	limit    int64     // 0: none
	deadline time.Time // zero: none
	now      func() time.Time
	before   func() error // nil: none
	// retry, when set, is asked after a read timed out: true re-reads instead of failing (the
	// media phase's receive low-water mark may hold bytes back from a slowing publisher).
	retry func() bool
	// first, when set, runs once when the first bytes were read (the caps' stageReceiving).
	first func()
	cause error // errByteCap, errDeadline or the hook's error: sticky
	ioErr error // the first error of the connection itself
}

func newMeter(rw io.ReadWriter, limit int64, deadline time.Time, now func() time.Time) *meter {
	return &meter{rw: rw, limit: limit, deadline: deadline, now: now}
}

func (m *meter) Read(p []byte) (int, error) {
	if m.cause != nil {
		return 0, m.cause
	}
	if !m.deadline.IsZero() && !m.now().Before(m.deadline) {
		m.cause = errDeadline
		return 0, m.cause
	}
	if m.before != nil {
		if err := m.before(); err != nil {
			m.cause = err
			return 0, err
		}
	}
	if m.limit > 0 && int64(len(p)) > m.limit-m.n+1 {
		p = p[:m.limit-m.n+1] // one byte past the cap is enough to know it was passed
	}
	n, err := m.rw.Read(p)
	for n == 0 && m.retry != nil && errors.Is(err, os.ErrDeadlineExceeded) && m.retry() {
		n, err = m.rw.Read(p)
	}
	if n > 0 && m.n == 0 && m.first != nil {
		m.first()
	}
	m.n += int64(n)
	if m.limit > 0 && m.n > m.limit {
		m.cause = errByteCap
		return 0, m.cause
	}
	if err != nil && m.ioErr == nil {
		m.ioErr = err
	}
	return n, err
}

func (m *meter) Write(p []byte) (int, error) {
	n, err := m.rw.Write(p)
	if err != nil && m.ioErr == nil {
		m.ioErr = err
	}
	return n, err
}

// lift ends the pre-auth limits (the publisher is admitted).
func (m *meter) lift() {
	m.limit, m.deadline = 0, time.Time{}
}

// preauthConfig is what the state machine needs besides the connection.
type preauthConfig struct {
	// key returns the stream key now (read from the file at each call); empty: refuse everyone.
	key func() []byte
	// maxBytes is the byte cap: the reader's chunk size is clamped to it, so a declared huge
	// chunk cannot make gortmplib allocate ahead of the bytes actually received.
	maxBytes int64
	// progress, when set, is told each stage reached (stageHandshake, stageConnected, stageKeyed):
	// the caps keep a pool per stage (slots.go).
	progress func(stage int32)
}

// Pre-auth stages, in order.
const (
	stageAccepted  int32 = iota // TCP accepted, nothing received
	stageReceiving              // its first bytes read: TLS or RTMP handshake under way
	stageHandshake              // RTMP handshake done
	stageConnected              // `connect` accepted
	stageKeyed                  // releaseStream or FCPublish carried the key: out of the caps
)

func (c preauthConfig) reached(stage int32) {
	if c.progress != nil {
		c.progress(stage)
	}
}

// publisher is a connection whose `publish` carried the right key: the reader (which may hold
// bytes the client sent after `publish`) and writer continue into the media phase.
type publisher struct {
	r         *rawmessage.Reader
	w         *message.Writer
	chunkSize uint32 // the client's chunk size (the reader's may be clamped during pre-auth)
	publishTx int    // the publish command's transaction ID
}

// runPreauth reads and answers the client until its `publish` with the right key (the publisher
// is returned) or an error: a *refusal, or an I/O error (tell which with m: see classify).
func runPreauth(rw io.ReadWriter, cfg preauthConfig) (*publisher, error) {
	// C0 is the version: 3 is plain RTMP. 6 (RTMPE, an encrypted handshake) is refused: it adds
	// nothing over RTMPS and would put the RC4 code in front of the check.
	var c0 [1]byte
	if _, err := io.ReadFull(rw, c0[:]); err != nil {
		return nil, err
	}
	if c0[0] != 3 {
		return nil, refuse(reasonProtocol, "RTMP version %d (only 3, unencrypted)", c0[0])
	}
	hs := struct {
		io.Reader
		io.Writer
	}{io.MultiReader(bytes.NewReader(c0[:]), rw), rw}
	if _, _, err := handshake.DoServer(hs, false); err != nil {
		return nil, err
	}
	cfg.reached(stageHandshake)

	bcr := bytecounter.NewReader(rw)
	w := message.NewWriter(rw, bytecounter.NewWriter(rw), false)
	p := &publisher{w: w, chunkSize: 128}
	p.r = rawmessage.NewReader(bcr, bcr, func(count uint32) error {
		return w.Write(&message.Acknowledge{Value: count})
	})
	connected := false
	for {
		msg, err := p.r.Read()
		if err != nil {
			return nil, err
		}
		switch message.Type(msg.Type) {
		case message.TypeSetChunkSize, message.TypeAbortMessage, message.TypeSetWindowAckSize,
			message.TypeAcknowledge, message.TypeSetPeerBandwidth:
			if err := p.control(msg, cfg.maxBytes); err != nil {
				return nil, err
			}
		case message.TypeUserControl:
			if len(msg.Body) < 2 {
				return nil, refuse(reasonProtocol, "short user control message")
			}
			switch t := message.UserControlType(msg.Body[0])<<8 | message.UserControlType(msg.Body[1]); t {
			case message.UserControlTypeSetBufferLength, message.UserControlTypePingResponse:
			default:
				return nil, refuse(reasonProtocol, "user control type %d before publish", t)
			}
		case message.TypeCommandAMF0:
			cmd, err := parseCommand(msg.Body)
			if err != nil {
				return nil, refuse(reasonProtocol, "malformed command")
			}
			if !connected {
				if err := p.connect(msg, cmd); err != nil {
					return nil, err
				}
				connected = true
				cfg.reached(stageConnected)
				continue
			}
			done, err := p.afterConnect(msg, cmd, cfg)
			if err != nil {
				return nil, err
			}
			if done {
				return p, nil
			}
		default:
			return nil, refuse(reasonProtocol, "message type %d before publish", msg.Type)
		}
	}
}

// control handles a protocol control message (before and after publish). clamp > 0 caps the
// reader's chunk size (pre-auth).
func (p *publisher) control(msg *rawmessage.Message, clamp int64) error {
	switch message.Type(msg.Type) {
	case message.TypeSetChunkSize:
		if len(msg.Body) < 4 {
			return refuse(reasonProtocol, "short set chunk size")
		}
		v := be32(msg.Body) & 0x7FFFFFFF
		if v == 0 || v > maxChunkSize {
			return refuse(reasonProtocol, "chunk size %d", v)
		}
		p.chunkSize = v
		if clamp > 0 && int64(v) > clamp {
			// No chunk can be longer than the byte cap and still arrive under it, so the clamp
			// changes nothing for a client that stays under the cap.
			v = uint32(clamp)
		}
		return p.r.SetChunkSize(v)
	case message.TypeAbortMessage:
		if len(msg.Body) < 4 {
			return refuse(reasonProtocol, "short abort message")
		}
		p.r.AbortChunkStream(be32(msg.Body))
	case message.TypeSetWindowAckSize:
		if len(msg.Body) < 4 {
			return refuse(reasonProtocol, "short window acknowledgement size")
		}
		p.r.SetWindowAckSize(be32(msg.Body))
	}
	return nil // Acknowledge, SetPeerBandwidth: nothing to do
}

// connect accepts the first command, which must be `connect` with an object, and answers it the
// way RTMP servers do (gortmplib's ServerConn.AcceptConn), so OBS, FFmpeg and librtmp go on.
func (p *publisher) connect(msg *rawmessage.Message, cmd command) error {
	if cmd.name != "connect" {
		return refuse(reasonProtocol, "the first command is not connect")
	}
	switch cmd.arg(0).(type) {
	case amf0.Object, amf0.ECMAArray:
	default:
		return refuse(reasonProtocol, "connect without an object")
	}
	for _, m := range []message.Message{
		&message.SetWindowAckSize{Value: 2500000},
		&message.SetPeerBandwidth{Value: 2500000, Type: 2},
		&message.SetChunkSize{Value: 4096}, // the writer's chunk size follows (message.Writer)
		&message.CommandAMF0{
			ChunkStreamID: msg.ChunkStreamID,
			Name:          "_result",
			CommandID:     cmd.txID(),
			Arguments: []any{
				amf0.Object{
					{Key: "fmsVer", Value: "LNX 9,0,124,2"},
					{Key: "capabilities", Value: float64(31)},
				},
				amf0.Object{
					{Key: "level", Value: "status"},
					{Key: "code", Value: "NetConnection.Connect.Success"},
					{Key: "description", Value: "Connection succeeded."},
					{Key: "objectEncoding", Value: float64(0)},
				},
			},
		},
	} {
		if err := p.w.Write(m); err != nil {
			return err
		}
	}
	return nil
}

// afterConnect handles a command between connect and an accepted publish; done is true when the
// publish with the right key came.
func (p *publisher) afterConnect(msg *rawmessage.Message, cmd command, cfg preauthConfig) (done bool, err error) {
	switch cmd.name {
	case "releaseStream", "FCPublish":
		// OBS and FFmpeg send the stream key here too: a wrong one ends the connection now.
		if name, ok := cmd.arg(1).(string); ok {
			if !keyMatches(name, cfg.key()) {
				return false, refuse(reasonKey, "wrong stream key in %s", cmd.name)
			}
			// It holds the key: nothing a key-less client does may close it for a newcomer now
			// (FFmpeg and OBS send this one round trip after connect, one before publish).
			cfg.reached(stageKeyed)
		}
		if cmd.name == "releaseStream" {
			return false, p.w.Write(&message.CommandAMF0{
				ChunkStreamID: msg.ChunkStreamID, Name: "_result", CommandID: cmd.txID(),
				Arguments: []any{nil, amf0.Undefined{}},
			})
		}
		return false, p.w.Write(&message.CommandAMF0{
			ChunkStreamID: msg.ChunkStreamID, Name: "onFCPublish",
			Arguments: []any{nil, amf0.Object{
				{Key: "code", Value: "NetStream.Publish.Start"},
				{Key: "description", Value: "FCPublish"},
			}},
		})
	case "createStream":
		return false, p.w.Write(&message.CommandAMF0{
			ChunkStreamID: msg.ChunkStreamID, Name: "_result", CommandID: cmd.txID(),
			Arguments: []any{nil, float64(1)},
		})
	case "_checkbw":
		return false, nil // no answer: clients go on without one
	case "publish":
		name, ok := cmd.arg(1).(string)
		if !ok {
			return false, refuse(reasonProtocol, "publish without a stream name")
		}
		p.publishTx = cmd.txID()
		if !keyMatches(name, cfg.key()) {
			// Best effort: the client learns why before the connection closes.
			_ = p.onStatus("error", "NetStream.Publish.BadName", "the stream key is not valid")
			return false, refuse(reasonKey, "wrong stream key in publish")
		}
		return true, nil
	case "connect":
		return false, refuse(reasonProtocol, "a second connect")
	}
	// play, play2, getStreamLength, deleteStream, anything else: not before publish. The name is
	// not logged (it is the client's text).
	return false, refuse(reasonProtocol, "command %s before publish", knownCommand(cmd.name))
}

// onStatus sends a NetStream status on message stream 1 (the one createStream gave).
func (p *publisher) onStatus(level, code, description string) error {
	return p.w.Write(&message.CommandAMF0{
		ChunkStreamID: 5,
		// gortmplib writes the ID big-endian; the wire wants little-endian: 1 is 0x01000000.
		MessageStreamID: 0x1000000,
		Name:            "onStatus",
		CommandID:       p.publishTx,
		Arguments: []any{nil, amf0.Object{
			{Key: "level", Value: level},
			{Key: "code", Value: code},
			{Key: "description", Value: description},
		}},
	})
}

// keyMatches compares the stream name's part before the first `?` (OBS and FFmpeg send `key` or
// `key?params`) with the key, in constant time. An empty key matches nothing.
func keyMatches(name string, key []byte) bool {
	if i := strings.IndexByte(name, '?'); i >= 0 {
		name = name[:i]
	}
	return len(key) > 0 && subtle.ConstantTimeCompare([]byte(name), key) == 1
}

// knownCommand names a command for the log only when it is a standard one.
func knownCommand(name string) string {
	switch name {
	case "play", "play2", "getStreamLength", "deleteStream", "closeStream", "FCUnpublish",
		"FCSubscribe", "receiveAudio", "receiveVideo", "seek", "pause", "call", "_result", "_error", "onStatus":
		return name
	}
	return "(unknown)"
}

// readKey reads the stream key file (at most 4 KiB, surrounding whitespace trimmed); nil when it
// is missing, unreadable or empty.
func readKey(path string) []byte {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return nil
	}
	return bytes.TrimSpace(b)
}

func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// classify names the refusal an error of runPreauth (or of the TLS handshake) stands for; "" means
// the client just went away (no refusal).
func classify(err error, m *meter) string {
	var r *refusal
	switch {
	case errors.As(err, &r):
		return r.reason
	case errors.Is(m.cause, errByteCap):
		return reasonBytes
	case errors.Is(m.cause, errDeadline), errors.Is(m.ioErr, os.ErrDeadlineExceeded):
		return reasonDeadline
	case m.ioErr != nil, errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "" // EOF (also TLS's close_notify), reset, closed: gone
	}
	return reasonProtocol // gortmplib's reader found a malformed chunk stream
}
