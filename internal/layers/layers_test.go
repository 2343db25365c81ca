// Package layers holds the test that keeps the package map honest: data
// flows down (vocabulary ← algorithms ← models ← series ← api ← cmd) and no
// package imports one above it.
package layers

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/anomalyd/detector"

// allowed lists, per package prefix (relative to the module), the project
// packages it may import. Standard library and third-party imports are
// checked separately by thirdParty.
var allowed = map[string][]string{
	"anomaly":            {},
	"algorithms/":        {"algorithms/"},
	"models":             {"anomaly", "algorithms/"},
	"series":             {"anomaly", "algorithms/", "models"},
	"timeline":           {"anomaly"},
	"eventlog":           {"anomaly"},
	"netguard":           {},
	"internal/procstat":  {},
	"ingest":             {"anomaly"},
	"api":                {"anomaly", "ingest", "notify", "peers", "remediate"},
	"remediate":          {"anomaly", "eventlog", "netguard", "series"},
	"notify":             {"anomaly", "eventlog", "netguard", "series"},
	"influx":             {"anomaly", "eventlog", "ingest", "series"},
	"exporter":           {"anomaly", "eventlog"},
	"internal/synth":     {},
	"peers":              {"anomaly", "algorithms/", "series"},
	"store":              {"anomaly", "peers", "timeline"},
	"snapshot":           {},
	"auth":               {"anomaly"},
	"feedback":           {"anomaly"},
	"history":            {"anomaly", "models", "series"},
	"web":                {},
	"demo":               {},
	"bounds":             {"anomaly", "series"},
	"cluster":            {"anomaly", "peers", "series", "timeline"},
	"kafka":              {"anomaly", "cluster", "eventlog", "ingest", "series"},
	"benchmarks/nab/run": {"benchmarks/nab/corpus"},

	// The service layer and the timeline's conformance suite.
	"service":               {"anomaly", "eventlog", "models", "peers", "series", "snapshot", "store", "timeline"},
	"timeline/timelinetest": {"anomaly", "timeline"},
}

// thirdParty lists the non-standard modules a layer may use.
var thirdParty = map[string][]string{
	"anomaly":     {},
	"algorithms/": {"gonum.org/"},
	"models":      {"gonum.org/"},
}

func ruleFor(rel string, m map[string][]string) ([]string, bool) {
	best := ""
	for p := range m {
		if (rel == p || strings.HasPrefix(rel, p) || strings.HasPrefix(rel, p+"/")) && len(p) > len(best) {
			best = p
		}
	}
	if best == "" {
		return nil, false
	}
	return m[best], true
}

func TestLayers(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	checked := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		rel := strings.TrimPrefix(strings.TrimPrefix(f[0], module), "/")
		okProject, hasRule := ruleFor(rel, allowed)
		okThird, hasThird := ruleFor(rel, thirdParty)
		if !hasRule {
			continue
		}
		checked++
		for _, imp := range f[1:] {
			if strings.HasPrefix(imp, module+"/") {
				dep := strings.TrimPrefix(imp, module+"/")
				if !matchAny(dep, okProject) {
					t.Errorf("%s imports %s, which is above it or beside it in the package map", rel, dep)
				}
				continue
			}
			if hasThird && strings.Contains(strings.SplitN(imp, "/", 2)[0], ".") && !matchAny(imp, okThird) {
				t.Errorf("%s imports third-party %s; this layer may use only %v", rel, imp, okThird)
			}
		}
	}
	if checked < 3 {
		t.Fatalf("checked only %d packages: is the module path right?", checked)
	}
}

func matchAny(p string, prefixes []string) bool {
	for _, q := range prefixes {
		if p == q || (strings.HasSuffix(q, "/") && strings.HasPrefix(p, q)) {
			return true
		}
	}
	return false
}
