package main

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Tests that need the real binary (restart, overload) share one build per
// test process.
var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

// detectorBinary builds ./cmd/detector once and returns its path.
func detectorBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "detector-bin-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "detector")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// proc is a running detector binary.
type proc struct {
	cmd  *exec.Cmd
	Base string // http://127.0.0.1:port
	Log  *bytes.Buffer
	done chan error
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startBinary runs `detector serve` with args plus a loopback listen
// address and waits (at most 20 s) until /healthz answers. The process is
// killed at the end of the test if still running.
func startBinary(t *testing.T, args ...string) *proc {
	t.Helper()
	port := freePort(t)
	if !slices.Contains(args, "--data-dir") {
		// Each process its own data directory: the default (./data) would
		// be shared by every binary a test run starts.
		args = append(args, "--data-dir", t.TempDir())
	}
	p := &proc{Base: fmt.Sprintf("http://127.0.0.1:%d", port), Log: new(bytes.Buffer), done: make(chan error, 1)}
	p.cmd = exec.Command(detectorBinary(t), append([]string{"serve", "--listen", fmt.Sprintf("127.0.0.1:%d", port)}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = p.Log, p.Log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(p.Base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		select {
		case err := <-p.done:
			t.Fatalf("detector exited before serving: %v\n%s", err, p.Log)
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("detector did not answer /healthz within 20s\n%s", p.Log)
	return nil
}

// Stop sends sig and waits (at most 60 s) for the process to exit; it
// returns the wait error (nil for a clean exit).
func (p *proc) Stop(t *testing.T, sig syscall.Signal) error {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		return err
	case <-time.After(60 * time.Second):
		p.cmd.Process.Kill()
		t.Fatalf("detector did not exit within 60s after %v\n%s", sig, p.Log)
	}
	return nil
}

// TestBinaryStartsAndStops is the smoke test of the real binary: it serves,
// and SIGTERM makes it exit cleanly.
func TestBinaryStartsAndStops(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	p := startBinary(t)
	if err := p.Stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, p.Log)
	}
}

// grepLines returns the lines of s that contain sub, for failure messages
// that quote a child's log.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
