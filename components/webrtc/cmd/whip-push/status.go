package main

import (
	"encoding/json"
	"os"
	"sync"
)

// status is the JSON of --status-file: a harness polls it instead of parsing logs.
type status struct {
	Status           int    `json:"status"`             // the POST's answer; 0 before it came
	Location         string `json:"location,omitempty"` // the session resource (resolved against --url)
	Body             string `json:"body,omitempty"`     // the answer's body when it was not 201
	Error            string `json:"error,omitempty"`    // the last error, if any
	State            string `json:"state"`              // the peer connection's state (new, connecting, connected, …)
	Connected        bool   `json:"connected"`
	PacketsSent      int64  `json:"packetsSent"` // RTP packets written to the tracks, video + audio
	VideoPacketsSent int64  `json:"videoPacketsSent"`
	AudioPacketsSent int64  `json:"audioPacketsSent"`
	BytesSent        int64  `json:"bytesSent"`        // their payload bytes
	PacketsDropped   int64  `json:"packetsDropped"`   // before the connection, before the first keyframe, malformed
	KeyframeRequests int64  `json:"keyframeRequests"` // PLI/FIR from the server (counted only: FFmpeg cannot be asked)
	DeleteStatus     int    `json:"deleteStatus,omitempty"`
	VideoPort        int    `json:"videoPort"`
	AudioPort        int    `json:"audioPort"`
}

// statusWriter holds the status and writes it (atomically: temp file, rename) on every change.
type statusWriter struct {
	path     string
	logf     func(string, ...any)
	counters func() (video, audio, bytes, dropped, keyframeReqs int64)
	mu       sync.Mutex
	s        status
	written  []byte
	failed   bool
	finished bool // no write after finish
}

// update changes the status under the lock and writes it.
func (w *statusWriter) update(change func(*status)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	change(&w.s)
	w.writeLocked()
}

// finish writes the last counters; nothing is written after it.
func (w *statusWriter) finish() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writeLocked()
	w.finished = true
}

// refresh writes the counters when they moved.
func (w *statusWriter) refresh() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writeLocked()
}

func (w *statusWriter) location() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.s.Location
}

func (w *statusWriter) fillCounters() {
	if w.counters != nil {
		v, a, b, d, k := w.counters()
		w.s.VideoPacketsSent, w.s.AudioPacketsSent, w.s.PacketsSent = v, a, v+a
		w.s.BytesSent, w.s.PacketsDropped, w.s.KeyframeRequests = b, d, k
	}
}

func (w *statusWriter) writeLocked() {
	w.fillCounters()
	if w.path == "" || w.finished {
		return
	}
	data, err := json.Marshal(w.s)
	if err != nil || string(data) == string(w.written) {
		return
	}
	tmp := w.path + ".tmp"
	if err = os.WriteFile(tmp, append(data, '\n'), 0o644); err == nil {
		err = os.Rename(tmp, w.path)
	}
	if err != nil {
		if !w.failed && w.logf != nil {
			w.logf("status file: %v", err)
		}
		w.failed = true
		return
	}
	w.written = data
}
