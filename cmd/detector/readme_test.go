package main

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeWalkthrough runs the README's curl walkthrough, as written,
// against a real server, so the documentation cannot drift from the
// service.
func TestReadmeWalkthrough(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "awk"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s not installed; .ci/run must install it", tool)
			}
			t.Skipf("%s not installed", tool)
		}
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)## Walkthrough.*?```sh\n(.*?)```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README has no walkthrough block")
	}
	_, base := startMain(t)
	script := strings.ReplaceAll(string(m[1]), "http://127.0.0.1:8080", base)
	// Each curl answer on its own line, so the output can be read per step.
	script = strings.ReplaceAll(script, "\ncurl ", "\necho; curl ")
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script+"\necho")
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("walkthrough failed: %v\n%s", err, out)
	}
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) != 5 {
		t.Fatalf("walkthrough printed %d answers, want 5:\n%s", len(lines), out)
	}
	checks := []struct{ step, want string }{
		{lines[0], `"accepted":576,"rejected":0`},
		{lines[1], `"state":"anomalous"`},
		{lines[2], `"value":400`},
		{lines[3], `"ended_at":null`},
		{lines[4], `"points":577`},
	}
	for i, c := range checks {
		if !strings.Contains(c.step, c.want) {
			t.Errorf("step %d answered %s\nwant it to contain %s", i+1, c.step, c.want)
		}
	}
}
