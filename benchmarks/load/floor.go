package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"
)

// The machine's floor: the latency this machine gives any HTTP answer from
// another process over loopback. A waking thread waits for the kernel, and
// on a virtual machine for the host, to run it; those delays show up in the
// service's reads as in any server's. The harness measures them by reading
// a trivial server, a child process of its own that answers a fixed
// verdict-sized body and does nothing else, the way the probe reads the
// service's verdicts. A read tail goal below the floor cannot be shown on
// the machine. (A server inside the harness's own process is no floor: its
// client keeps the process's threads awake, and it measured 0.3-0.8 ms
// where another process measured 1.1-3.5 ms on the 2-core machine.)

// floorServerEnv, set in the environment, makes the harness's binary (the
// command, or its test binary) the trivial server instead: it prints its
// URL and serves until its standard input closes.
const floorServerEnv = "DETECTOR_LOAD_FLOOR_SERVER"

// floorBody is the trivial server's answer: a verdict's size of JSON.
var floorBody = []byte(`{"series":"play_starts{bitrate=\"235\",device=\"tv_sony\",title=\"80000\"}",` +
	`"timestamp":"2026-12-02T12:00:00Z","value":312.5,"expected":310.2,"lower":280.1,"upper":340.3,` +
	`"score":0.12,"state":"normal","detector":"none","z":0.31}` + "\n")

func init() {
	if os.Getenv(floorServerEnv) == "" {
		return
	}
	if err := serveFloor(); err != nil {
		fmt.Fprintln(os.Stderr, "load: floor server:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// serveFloor is the trivial server's process.
func serveFloor() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(floorBody) //nolint:errcheck // the probe counts a short answer as an error
	})}
	go func() {
		// The parent closes stdin when done (or dies): then stop.
		bufio.NewReader(os.Stdin).ReadString(0) //nolint:errcheck // any end will do
		srv.Close()
	}()
	fmt.Printf("http://%s/api/v1/detect\n", ln.Addr())
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}

// machineFloor starts the trivial server and reads it for d, one read every
// pause as the probe does, and returns the latencies.
func machineFloor(ctx context.Context, d, pause time.Duration) ([]time.Duration, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("machine floor: %w", err)
	}
	cmd := exec.CommandContext(ctx, self)
	cmd.Env = append(os.Environ(), floorServerEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("machine floor: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("machine floor: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("machine floor: %w", err)
	}
	defer func() {
		stdin.Close()
		cmd.Wait() //nolint:errcheck // the server's end is not the run's
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "http://127.0.0.1:") {
		return nil, fmt.Errorf("machine floor: the trivial server printed %q: %v", line, err)
	}
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2, DisableCompression: true}, Timeout: time.Minute}
	defer c.CloseIdleConnections()
	p := startProbe(ctx, c, []string{strings.TrimSpace(line)}, true, pause)
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
	return p.stop(), nil
}
