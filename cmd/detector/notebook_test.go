package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// TestNotebookRuns executes notebooks/explore.ipynb with Jupyter against a
// real server: the notebook and its client stay in step with the API.
func TestNotebookRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Jupyter")
	}
	py := "/usr/bin/python3"
	nab, _ := filepath.Abs("../../../shared/nab")
	missing := ""
	if err := exec.Command(py, "-c", "import nbconvert, ipykernel, pandas, matplotlib").Run(); err != nil {
		missing = "Jupyter, pandas or matplotlib (Debian: jupyter-nbconvert python3-ipykernel python3-pandas python3-matplotlib)"
	} else if _, err := os.Stat(filepath.Join(nab, "data")); err != nil {
		missing = "the NAB data in " + nab
	}
	if missing != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not installed; .ci/run must provide it", missing)
		}
		t.Skipf("%s not installed", missing)
	}
	_, base := startMain(t)
	out := t.TempDir()
	cmd := exec.Command(py, "-m", "nbconvert", "--to", "notebook", "--execute",
		"--ExecutePreprocessor.timeout=300", "--output-dir", out, "--output", "explore.out.ipynb", "explore.ipynb")
	cmd.Dir = "../../notebooks"
	cmd.Env = append(os.Environ(), "DETECTOR_URL="+base, "NAB_DIR="+nab, "PLOT_PATH="+filepath.Join(out, "plot.png"))
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("notebook failed: %v\n%s", err, b)
	}
	nb, err := os.ReadFile(filepath.Join(out, "explore.out.ipynb"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`anomalies found: (\d+)`).FindSubmatch(nb)
	if m == nil {
		t.Fatalf("executed notebook does not report the anomalies found")
	}
	if n, _ := strconv.Atoi(string(m[1])); n < 1 {
		t.Errorf("notebook found %d anomalies on nyc_taxi, want at least 1", n)
	}
	if fi, err := os.Stat(filepath.Join(out, "plot.png")); err != nil || fi.Size() < 10_000 {
		t.Errorf("plot missing or empty: %v", err)
	}
}
