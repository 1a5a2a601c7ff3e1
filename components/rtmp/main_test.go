package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The built binary: exit codes, stdin EOF and SIGTERM (run() is what the other tests drive).
func TestBinary(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "streamops-rtmp")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	keyFile := filepath.Join(dir, "key")
	os.WriteFile(keyFile, []byte(testKey), 0o600)

	exitCode := func(cmd *exec.Cmd) int {
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	}
	for _, args := range [][]string{
		{"--rtmp", "127.0.0.1:0"},                          // no key file
		{"--key-file", keyFile},                            // no listener
		{"--key-file", keyFile, "--rtmps", "127.0.0.1:0"},  // no certificate
		{"--key-file", keyFile, "--rtmp", ":0", testKey},   // a stray argument (a key on the command line)
		{"--key-file", keyFile, "--rtmp", ":0", "--bogus"}, // unknown flag
	} {
		if code := exitCode(exec.Command(bin, args...)); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cmd := exec.Command(bin, "--key-file", keyFile, "--rtmp", taken.Addr().String())
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if code := exitCode(cmd); code != 1 || !strings.Contains(stderr.String(), "address already in use") {
		t.Errorf("a taken port: exit %d, stderr %q", code, stderr.String())
	}

	start := func() (*exec.Cmd, io.WriteCloser, *bufio.Scanner) {
		cmd := exec.Command(bin, "--key-file", keyFile, "--rtmp", "127.0.0.1:0")
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill() })
		sc := bufio.NewScanner(stdout)
		if !sc.Scan() {
			t.Fatal("no listening event")
		}
		var ev map[string]any
		if json.Unmarshal(sc.Bytes(), &ev); ev["type"] != "listening" || ev["rtmp"] == nil {
			t.Fatalf("first event %s", sc.Text())
		}
		return cmd, stdin, sc
	}
	waitExit := func(cmd *exec.Cmd, what string) {
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s: %v", what, err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("%s: still running after 5 s", what)
		}
	}
	cmd, stdin, _ := start()
	stdin.Close()
	waitExit(cmd, "stdin EOF")
	cmd, _, _ = start()
	cmd.Process.Signal(syscall.SIGTERM)
	waitExit(cmd, "SIGTERM")
}
