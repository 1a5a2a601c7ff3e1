// streamops-relay: the shared pusher's media relay (docs/design/shared-pusher.md, "The relay").
// One process per pusher Pod reads each ingest feed once, demuxes it once and writes the same
// RTMP messages to every RTMP/RTMPS target, each on its own connection, queue and goroutines.
// Commands (keys included) come as JSON lines on stdin, events go out as JSON lines on stdout;
// stdin's end stops it.
package main

import (
	"bufio"
	"fmt"
	"os"
	"time"
)

func main() {
	out := &events{out: os.Stdout}
	r := newRelay(out)
	stop := make(chan struct{})
	go r.report(time.Second, stop) // as often as the supervisor samples an FFmpeg run: live is 2 s
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 64<<10), maxLine)
	for in.Scan() {
		c, err := parseCommand(in.Bytes())
		if err != nil {
			out.emit(event{ID: c.ID, Event: "refused", Error: err.Error()})
			continue
		}
		r.handle(c)
	}
	if err := in.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "streamops-relay: the control channel broke:", err)
	}
	close(stop)
	r.closeAll()
}
