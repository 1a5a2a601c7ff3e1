package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"
)

// janus: Janus's HTTP API (https://janus.conf.meetecho.com/docs/rest.html) with the streaming
// plugin: create a session, attach janus.plugin.streaming, `watch` the mountpoint, read Janus's
// offer from the session's long poll, answer it with `start` (every candidate in the answer, then
// trickle "completed"), keep the session alive, destroy it at the end.
type janus struct {
	url        string // …/janus
	mountpoint int
}

// janusSession is what a viewer keeps of its Janus session.
type janusSession struct {
	id, handle int64
	done       chan struct{} // closed by leave: ends the keepalives
}

// keepaliveEvery: Janus ends a session after session_timeout (60 s by default) without a request.
const keepaliveEvery = 15 * time.Second

var transactions atomic.Int64

type janusReply struct {
	Janus string `json:"janus"`
	Data  struct {
		ID int64 `json:"id"`
	} `json:"data"`
	Error *struct {
		Code   int    `json:"code"`
		Reason string `json:"reason"`
	} `json:"error"`
	PluginData struct {
		Data json.RawMessage `json:"data"`
	} `json:"plugindata"`
	JSEP *webrtc.SessionDescription `json:"jsep"`
}

func (j *janus) call(ctx context.Context, path string, body map[string]any) (*janusReply, error) {
	body["transaction"] = "t" + strconv.FormatInt(transactions.Add(1), 10)
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, j.url+path, bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	return janusDo(req, body["janus"])
}

func janusDo(req *http.Request, what any) (*janusReply, error) {
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("janus %v: HTTP %d %s", what, resp.StatusCode, bytes.TrimSpace(raw))
	}
	var r janusReply
	if len(raw) > 0 && raw[0] == '[' { // a long poll with maxev > 1; we ask for 1
		var all []janusReply
		if err := json.Unmarshal(raw, &all); err != nil || len(all) == 0 {
			return nil, fmt.Errorf("janus %v: %s", what, raw)
		}
		r = all[0]
	} else if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("janus %v: %w: %s", what, err, raw)
	}
	if r.Janus == "error" && r.Error != nil {
		return nil, fmt.Errorf("janus %v: error %d %s", what, r.Error.Code, r.Error.Reason)
	}
	return &r, nil
}

func (j *janus) join(ctx context.Context, v *viewer) error {
	r, err := j.call(ctx, "", map[string]any{"janus": "create"})
	if err != nil {
		return err
	}
	s := &janusSession{id: r.Data.ID, done: make(chan struct{})}
	v.session.Store(s)
	go j.keepalive(s)
	sp := "/" + strconv.FormatInt(s.id, 10)
	if r, err = j.call(ctx, sp, map[string]any{"janus": "attach", "plugin": "janus.plugin.streaming"}); err != nil {
		return err
	}
	s.handle = r.Data.ID
	hp := sp + "/" + strconv.FormatInt(s.handle, 10)
	if _, err = j.call(ctx, hp, map[string]any{"janus": "message", "body": map[string]any{"request": "watch", "id": j.mountpoint}}); err != nil {
		return err
	}
	offer, err := j.offer(ctx, sp)
	if err != nil {
		return err
	}
	if err := onLoopback(offer.SDP); err != nil {
		return err
	}
	if err := v.pc.SetRemoteDescription(*offer); err != nil {
		return err
	}
	answer, err := v.pc.CreateAnswer(nil)
	if err != nil {
		return err
	}
	sdp, err := gatheredSDP(ctx, v.pc, answer)
	if err != nil {
		return err
	}
	if debugSDP {
		fmt.Fprintf(os.Stderr, "janus offer:\n%s\nanswer:\n%s\n", offer.SDP, sdp)
	}
	jsep := map[string]any{"type": "answer", "sdp": sdp}
	if _, err = j.call(ctx, hp, map[string]any{"janus": "message", "body": map[string]any{"request": "start"}, "jsep": jsep}); err != nil {
		return err
	}
	_, err = j.call(ctx, hp, map[string]any{"janus": "trickle", "candidate": map[string]any{"completed": true}})
	return err
}

// offer long-polls the session until the plugin's event carrying Janus's offer comes.
func (j *janus) offer(ctx context.Context, sp string) (*webrtc.SessionDescription, error) {
	for ctx.Err() == nil {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.url+sp+"?maxev=1", nil)
		if err != nil {
			return nil, err
		}
		r, err := janusDo(req, "long poll")
		if err != nil {
			return nil, err
		}
		if r.JSEP != nil && r.JSEP.Type == webrtc.SDPTypeOffer {
			return r.JSEP, nil
		}
		var data struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(r.PluginData.Data, &data) == nil && data.Error != "" {
			return nil, fmt.Errorf("janus watch: %s", data.Error)
		}
	}
	return nil, ctx.Err()
}

func (j *janus) keepalive(s *janusSession) {
	t := time.NewTicker(keepaliveEvery)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, _ = j.call(ctx, "/"+strconv.FormatInt(s.id, 10), map[string]any{"janus": "keepalive"})
			cancel()
		}
	}
}

func (j *janus) leave(ctx context.Context, v *viewer) {
	s, _ := v.session.Load().(*janusSession)
	if s == nil {
		return
	}
	close(s.done)
	_, _ = j.call(ctx, "/"+strconv.FormatInt(s.id, 10), map[string]any{"janus": "destroy"})
}
