package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anomalyd/detector/demo"
)

// TestDemoNotebookRuns executes notebooks/demo.ipynb with Jupyter against
// the real binary fed by `detector demo`: the notebook finds the failing
// device, the broken encode and the drifting server.
func TestDemoNotebookRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Jupyter")
	}
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import nbconvert, ipykernel, pandas, matplotlib").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("Jupyter, pandas or matplotlib not installed; .ci/run must provide them")
		}
		t.Skip("Jupyter, pandas or matplotlib not installed")
	}
	p := startBinary(t, "--data-dir", "", "--peer-interval", "2s")
	runDemo(t, p.Base, "")
	waitPeerOutlier(t, p.Base, "")
	out := t.TempDir()
	cmd := exec.Command(py, "-m", "nbconvert", "--to", "notebook", "--execute",
		"--ExecutePreprocessor.timeout=300", "--output-dir", out, "--output", "demo.out.ipynb", "demo.ipynb")
	cmd.Dir = "../../notebooks"
	cmd.Env = append(os.Environ(), "DETECTOR_URL="+p.Base, "PLOT_PATH="+filepath.Join(out, "bands.png"))
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("notebook failed: %v\n%s", err, b)
	}
	nb, err := os.ReadFile(filepath.Join(out, "demo.out.ipynb"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"most anomalous device: " + demo.FailingDevice,
		"broken encode: title " + demo.BrokenTitle + " bitrate " + demo.BrokenBitrate,
		"peer outlier: " + demo.DriftServer,
	} {
		if !strings.Contains(string(nb), want) {
			t.Errorf("executed notebook does not say %q", want)
		}
	}
	if fi, err := os.Stat(filepath.Join(out, "bands.png")); err != nil || fi.Size() < 10_000 {
		t.Errorf("band plot missing or empty: %v", err)
	}
}
