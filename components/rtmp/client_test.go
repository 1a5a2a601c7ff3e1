package main

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib/pkg/amf0"
	"github.com/bluenviron/gortmplib/pkg/bytecounter"
	"github.com/bluenviron/gortmplib/pkg/handshake"
	"github.com/bluenviron/gortmplib/pkg/rawmessage"
)

// rtmpClient is the test's RTMP publisher (or misbehaving client): gortmplib's client handshake
// and raw chunk writer, so it can send anything in any chunk size.
type rtmpClient struct {
	t    *testing.T
	conn net.Conn
	w    *rawmessage.Writer
	r    *rawmessage.Reader
	tx   int
}

// streamID1 is message stream 1 the way gortmplib writes it (little-endian on the wire).
const streamID1 = 0x1000000

func dialRTMP(t *testing.T, addr string) *rtmpClient {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return newRTMPClient(t, conn)
}

func dialRTMPS(t *testing.T, addr string, conf *tls.Config) *rtmpClient {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, conf)
	if err != nil {
		t.Fatal(err)
	}
	return newRTMPClient(t, conn)
}

func newRTMPClient(t *testing.T, conn net.Conn) *rtmpClient {
	t.Cleanup(func() { conn.Close() })
	bcr := bytecounter.NewReader(conn)
	return &rtmpClient{
		t:    t,
		conn: conn,
		w:    rawmessage.NewWriter(conn, bytecounter.NewWriter(conn), false),
		r:    rawmessage.NewReader(bcr, bcr, func(uint32) error { return nil }),
	}
}

func (c *rtmpClient) handshake() {
	c.t.Helper()
	c.conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := handshake.DoClient(c.conn, false, false); err != nil {
		c.t.Fatalf("handshake: %v", err)
	}
	c.conn.SetDeadline(time.Time{})
}

// send writes a raw message; errors are returned (a refused client sees its connection close).
func (c *rtmpClient) send(csid byte, typ uint8, msid uint32, ts uint32, body []byte) error {
	if c.conn != nil { // nil: writing into a buffer (the fuzz seeds)
		c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	}
	return c.w.Write(&rawmessage.Message{
		ChunkStreamID: csid, Type: typ, MessageStreamID: msid,
		Timestamp: time.Duration(ts) * time.Millisecond, Body: body,
	})
}

func (c *rtmpClient) mustSend(csid byte, typ uint8, msid uint32, ts uint32, body []byte) {
	c.t.Helper()
	if err := c.send(csid, typ, msid, ts, body); err != nil {
		c.t.Fatalf("send type %d: %v", typ, err)
	}
}

func amfBody(t *testing.T, values ...any) []byte {
	t.Helper()
	b, err := amf0.Data(values).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// command sends an AMF0 command (a new transaction ID) and returns the ID.
func (c *rtmpClient) command(msid uint32, name string, args ...any) (int, error) {
	c.tx++
	return c.tx, c.send(3, 20, msid, 0, amfBody(c.t, append([]any{name, float64(c.tx)}, args...)...))
}

func (c *rtmpClient) mustCommand(msid uint32, name string, args ...any) int {
	c.t.Helper()
	tx, err := c.command(msid, name, args...)
	if err != nil {
		c.t.Fatalf("%s: %v", name, err)
	}
	return tx
}

// setChunkSize tells the server and switches the writer.
func (c *rtmpClient) setChunkSize(n uint32) {
	c.t.Helper()
	c.mustSend(2, 1, 0, 0, []byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
	c.w.SetChunkSize(n)
}

// reply is a decoded command from the server.
type reply struct {
	name string
	tx   float64
	args []any
}

// readCommand reads until the next AMF0 command from the server.
func (c *rtmpClient) readCommand(timeout time.Duration) (reply, error) {
	c.conn.SetReadDeadline(time.Now().Add(timeout))
	defer c.conn.SetReadDeadline(time.Time{})
	for {
		msg, err := c.r.Read()
		if err != nil {
			return reply{}, err
		}
		if msg.Type == 1 && len(msg.Body) >= 4 {
			c.r.SetChunkSize(be32(msg.Body) & 0x7FFFFFFF)
		}
		if msg.Type != 20 {
			continue
		}
		data, err := amf0.Unmarshal(msg.Body)
		if err != nil || len(data) < 2 {
			return reply{}, errors.New("malformed command from the server")
		}
		name, _ := data[0].(string)
		tx, _ := data[1].(float64)
		return reply{name: name, tx: tx, args: data[2:]}, nil
	}
}

// waitReply reads commands until one named name comes.
func (c *rtmpClient) waitReply(name string) reply {
	c.t.Helper()
	for {
		r, err := c.readCommand(5 * time.Second)
		if err != nil {
			c.t.Fatalf("waiting for %s: %v", name, err)
		}
		if r.name == name {
			return r
		}
	}
}

// statusCode is the `code` of an onStatus reply.
func (r reply) statusCode() string {
	if len(r.args) >= 2 {
		if o, ok := r.args[1].(amf0.Object); ok {
			code, _ := o.GetString("code")
			return code
		}
	}
	return ""
}

func connectObject() amf0.Object {
	return amf0.Object{
		{Key: "app", Value: "live"},
		{Key: "type", Value: "nonprivate"},
		{Key: "flashVer", Value: "FMLE/3.0 (compatible; FMSc/1.0)"},
		{Key: "tcUrl", Value: "rtmp://127.0.0.1/live"},
	}
}

// connect does handshake and connect and waits for its _result.
func (c *rtmpClient) connect() {
	c.t.Helper()
	c.handshake()
	c.mustCommand(0, "connect", connectObject())
	if r := c.waitReply("_result"); r.tx != 1 {
		c.t.Fatalf("connect's _result has transaction %v", r.tx)
	}
}

// publish sends OBS's sequence (releaseStream, FCPublish, createStream, publish) with name.
func (c *rtmpClient) publish(name string) {
	c.t.Helper()
	c.mustCommand(0, "releaseStream", nil, name)
	c.mustCommand(0, "FCPublish", nil, name)
	tx := c.mustCommand(0, "createStream", nil)
	for {
		r := c.waitReply("_result")
		if int(r.tx) == tx {
			break
		}
	}
	c.mustCommand(streamID1, "publish", nil, name, "live")
}

// waitStatus waits for an onStatus and returns its code.
func (c *rtmpClient) waitStatus() string {
	c.t.Helper()
	return c.waitReply("onStatus").statusCode()
}

// waitClosed fails unless the server closes the connection within timeout (whatever it sends
// before is read and dropped).
func (c *rtmpClient) waitClosed(timeout time.Duration) {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(timeout))
	_, err := io.Copy(io.Discard, c.conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.t.Fatalf("the server did not close the connection within %s", timeout)
	}
}
