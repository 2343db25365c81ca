package main

import (
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestSmoke runs the comparison on a small frame and checks that both
// pandas forms ran and flagged the same points, and that both ratios are
// printed. Without Debian's python3-pandas it skips, except under CI=true.
func TestSmoke(t *testing.T) {
	if err := exec.Command("/usr/bin/python3", "-c", "import pandas").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("python3-pandas is missing (.ci/run installs it): %v", err)
		}
		t.Skipf("python3-pandas is missing: %v", err)
	}
	var out bytes.Buffer
	if err := run(&out, 200, 120, 30, "/usr/bin/python3", "robustz.py"); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	text := out.String()
	t.Logf("\n%s", text)
	for _, want := range []string{"points: 24000 (200 series x 120)", "wide frame", "groupby", "detector engine", "ratio vs wide frame: ", "ratio vs groupby: "} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// Both forms compute the same z-scores: they flag the same count.
	if m := regexp.MustCompile(`(\d+) flagged`).FindAllStringSubmatch(text, -1); len(m) != 2 || m[0][1] != m[1][1] {
		t.Errorf("flagged counts %v, want two equal ones", m)
	}
}
