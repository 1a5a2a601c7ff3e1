package main

// The control channel: JSON lines, events on stdout (front → worker), commands on stdin
// (worker → front). README.md ("Control channel") is the contract.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"sync"
)

type listeningEvent struct {
	Type  string `json:"type"`
	RTMP  string `json:"rtmp,omitempty"`
	RTMPS string `json:"rtmps,omitempty"`
}

type certificateEvent struct {
	Type   string  `json:"type"`
	SHA256 *string `json:"sha256"`
	Error  *string `json:"error"`
}

type publishEvent struct {
	Type string `json:"type"`
	ID   uint64 `json:"id"`
	Peer string `json:"peer"`
	TLS  bool   `json:"tls"`
}

type refusedEvent struct {
	Type   string `json:"type"`
	Reason string `json:"reason"`
	Peer   string `json:"peer"`
	Count  int    `json:"count"` // refusals of that reason and address since the last event
}

type endedEvent struct {
	Type   string `json:"type"`
	ID     uint64 `json:"id"`
	Reason string `json:"reason"`
	Bytes  int64  `json:"bytes"`
}

// emitter writes one event per line, each in one write (no buffering: every line is flushed).
// A failed write means the worker is gone: onFail runs once.
type emitter struct {
	mu     sync.Mutex
	w      io.Writer
	failed bool
	onFail func()
}

func (e *emitter) emit(ev any) {
	line, err := json.Marshal(ev)
	if err != nil {
		panic(err) // only our own fixed types are marshalled
	}
	line = append(line, '\n')
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.failed {
		return
	}
	if _, err := e.w.Write(line); err != nil {
		e.failed = true
		if e.onFail != nil {
			go e.onFail()
		}
	}
}

// controlCommand is one line from the worker.
type controlCommand struct {
	Type   string      `json:"type"`
	ID     uint64      `json:"id"`
	FIFO   string      `json:"fifo,omitempty"`
	Reason string      `json:"reason,omitempty"`
	HLS    *hlsCommand `json:"hls,omitempty"` // admit: also write HLS in Go (hlsmux.go); absent: FFmpeg does
}

// maxCommandLine bounds one command line; longer lines are skipped.
const maxCommandLine = 64 * 1024

// readCommands calls handle for each well-formed command line until r ends (EOF or an error);
// malformed lines go to bad.
func readCommands(r io.Reader, handle func(controlCommand), bad func(error)) {
	br := bufio.NewReaderSize(r, maxCommandLine)
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			bad(errors.New("a command line longer than 64 KiB was skipped"))
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
			if err != nil {
				return
			}
			continue
		}
		if len(line) > 0 && (err == nil || errors.Is(err, io.EOF)) {
			var c controlCommand
			if jerr := json.Unmarshal(line, &c); jerr != nil {
				if len(bytes.TrimSpace(line)) > 0 {
					bad(errors.New("a command line is not JSON"))
				}
			} else {
				handle(c)
			}
		}
		if err != nil {
			return
		}
	}
}
