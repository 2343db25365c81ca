package remediate

import (
	"encoding/json"
	"testing"
)

// FuzzRule: any rule body either fails validation or compiles to templates
// that render the sample data without panicking.
func FuzzRule(f *testing.F) {
	for _, s := range []string{
		`{"name":"a","peer_rule":"web","events":["peer_outlier_opened"],"action":{"type":"http","http":{"url":"https://x.example/{{.Labels.instance}}","body":"{{json .}}"}}}`,
		`{"name":"b","match":"cpu{a=\"b\"}","events":["anomaly_opened"],"min_duration":"5m","cooldown":30,"action":{"type":"command","command":"echo"}}`,
		`{"name":"c","match":"cpu","events":["anomaly_opened"],"action":{"type":"http","http":{"url":"https://x.example/","headers":{"X":"{{printf \"%5d\" 1}}"}}}}`,
		`{"name":"d","match":"cpu","events":["anomaly_opened"],"min_duration":1e300,"action":{"type":"http","http":{"url":"{{with .Labels}}{{.a}}{{end}}"}}}`,
	} {
		f.Add([]byte(s))
	}
	x, err := New(Options{Commands: map[string]Command{"echo": {Path: "/bin/echo"}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { x.Close() })
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Rule
		if json.Unmarshal(b, &r) != nil {
			return
		}
		c, err := x.compile(r)
		if err != nil || c.rule.Action.Type != "http" {
			return
		}
		d := sampleData()
		d.Labels = map[string]string{"instance": "i\n\"1", "a": "b"}
		c.render(d)
	})
}
