package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// rawPost opens a connection to base and sends the headers of a POST of
// length bytes plus the first bytes of body; the caller decides what else
// to send, and whether to read.
func rawPost(t *testing.T, base, path string, length int, first string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		path, strings.TrimPrefix(base, "http://"), length, first)
	return c
}

// TestSlowClientsDoNotStopIngest: four clients that send one byte of
// their bodies and hold them open, and two that send batches whose
// answers they never read, leave every POST turn free: a legitimate POST
// is answered 200 at once, again and again.
func TestSlowClientsDoNotStopIngest(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	// The holders trickle at the slowest rate allowed, so that they hold
	// their bodies for the whole test; --max-in-flight 2 as on 2 cores.
	p := startBinary(t, "--max-in-flight", "2", "--body-min-rate", "1", "--body-timeout", "2m")
	for range 4 {
		rawPost(t, p.Base, "/api/v1/points", 10<<20, `{"points":[`)
	}
	// Two clients send 20,000 rejected points each and never read the
	// answer.
	var bad bytes.Buffer
	bad.WriteString(`{"points":[`)
	for i := range 20_000 {
		if i > 0 {
			bad.WriteByte(',')
		}
		bad.WriteString(`{"series":"x","timestamp":"nope","value":1}`)
	}
	bad.WriteString(`]}`)
	for range 2 {
		c := rawPost(t, p.Base, "/api/v1/points", bad.Len(), "")
		if _, err := c.Write(bad.Bytes()); err != nil {
			t.Fatal(err)
		}
	}
	// The non-readers' batches are processed and answered (their answers
	// are small: they fit the socket buffers) although nobody reads them.
	answered := `detector_http_requests_total{code="200",method="POST",route="/api/v1/points"}`
	deadline := time.Now().Add(60 * time.Second)
	for {
		if n, _ := metricValue(t, p.Base, answered); n >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the two batches whose answers are not read were not answered within 60 s")
		}
		time.Sleep(20 * time.Millisecond)
	}

	client := &http.Client{Timeout: 30 * time.Second}
	for i := range 5 {
		body := fmt.Sprintf(`{"points":[{"series":"legit","timestamp":%d,"value":1}]}`, time.Now().Unix()-100+int64(i))
		start := time.Now()
		resp, err := client.Post(p.Base+"/api/v1/points", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatalf("legitimate POST %d: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		took := time.Since(start)
		if resp.StatusCode != 200 {
			t.Fatalf("legitimate POST %d while 4 clients hold bodies and 2 do not read = %d %s, want 200", i, resp.StatusCode, b)
		}
		// The service answers at once (the turns are free); the bound is
		// generous for a busy machine, the status is what matters.
		if took > 5*time.Second {
			t.Errorf("legitimate POST %d took %s", i, took)
		}
		t.Logf("legitimate POST %d: 200 in %s", i, took.Round(time.Millisecond))
	}

	// The answer to 20,000 rejected points stays small: the first
	// --max-errors errors and a count.
	resp, err := client.Post(p.Base+"/api/v1/points", "application/json", bytes.NewReader(bad.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(b) > 64<<10 || !strings.Contains(string(b), `"errors_omitted":19900`) {
		t.Errorf("answer to 20,000 rejected points: %d, %d bytes, %.200s; want 200, small, errors_omitted 19900", resp.StatusCode, len(b), b)
	}
	if err := p.Stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("SIGTERM: %v\n%s", err, p.Log)
	}
}
