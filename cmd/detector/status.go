package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"time"
)

// version is the release, set at build time with
// -ldflags "-X main.version=v1.2.3"; without it the module version or the
// VCS revision the binary was built from.
var version = ""

// buildVersion is the version `detector version` prints and GET /status
// serves.
func buildVersion() string {
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "+dirty"
			}
		}
	}
	if (v == "" || v == "(devel)") && rev != "" {
		return "devel-" + rev[:min(12, len(rev))] + modified
	}
	if v == "" || v == "(devel)" {
		return "devel"
	}
	return v
}

// Setting is one effective configuration key of the running service.
type Setting struct {
	Key   string `json:"key"`
	Value string `json:"value"`
	// Source is "default", "flag" or "environment".
	Source string `json:"source"`
	// Env is the environment variable that sets it.
	Env string `json:"env"`
}

// statusDoc is the answer of GET /status.
type statusDoc struct {
	Version       string    `json:"version"`
	GoVersion     string    `json:"go_version"`
	StartedAt     time.Time `json:"started_at"`
	UptimeSeconds float64   `json:"uptime_seconds"`
	Config        []Setting `json:"config"`
}

func (m *Main) status() any {
	cfg := m.cfg.Settings
	if cfg == nil {
		cfg = []Setting{}
	}
	return statusDoc{
		Version:       buildVersion(),
		GoVersion:     runtime.Version(),
		StartedAt:     m.started.UTC().Truncate(time.Millisecond),
		UptimeSeconds: time.Since(m.started).Seconds(),
		Config:        cfg,
	}
}

// redacted stands for the value of a secret flag in GET /status.
const redacted = "<redacted>"

// secretFlag reports whether a flag's value is a credential (the InfluxDB
// token), which GET /status must not show to every reader. Flags naming a
// file that holds a credential show the path.
func secretFlag(name string) bool {
	return strings.HasSuffix(name, "-token") || strings.Contains(name, "password") || strings.Contains(name, "secret")
}

// parseWithEnv parses args, then sets every flag the command line left
// unset from its environment variable (envName), so the command line wins.
// It returns every flag with its effective value and where it came from.
func parseWithEnv(fs *flag.FlagSet, args []string) ([]Setting, error) {
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	fromFlag := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { fromFlag[f.Name] = true })
	fromEnv := map[string]bool{}
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if fromFlag[f.Name] || err != nil {
			return
		}
		if v, ok := os.LookupEnv(envName(f.Name)); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("environment %s=%q: %w", envName(f.Name), v, e)
				return
			}
			fromEnv[f.Name] = true
		}
	})
	if err != nil {
		return nil, err
	}
	var out []Setting
	fs.VisitAll(func(f *flag.Flag) {
		src := "default"
		switch {
		case fromFlag[f.Name]:
			src = "flag"
		case fromEnv[f.Name]:
			src = "environment"
		}
		v := f.Value.String()
		if secretFlag(f.Name) && v != "" {
			v = redacted
		}
		out = append(out, Setting{Key: f.Name, Value: v, Source: src, Env: envName(f.Name)})
	})
	return out, nil
}

// usageWithEnv prints the flags of command with their defaults and the
// environment variable of each.
func usageWithEnv(fs *flag.FlagSet, command string) {
	w := fs.Output()
	fmt.Fprintf(w, "usage: detector %s [flags]\n\nEvery flag can also be set through the environment variable named after it;\nthe command line wins.\n\n", command)
	fs.VisitAll(func(f *flag.Flag) { printFlag(w, f) })
}

func printFlag(w io.Writer, f *flag.Flag) {
	name, usage := flag.UnquoteUsage(f)
	var b strings.Builder
	fmt.Fprintf(&b, "  -%s", f.Name)
	if name != "" {
		fmt.Fprintf(&b, " %s", name)
	}
	fmt.Fprintf(&b, "\n    \t%s\n    \t(env %s", strings.ReplaceAll(usage, "\n", "\n    \t"), envName(f.Name))
	if f.DefValue != "" {
		fmt.Fprintf(&b, ", default %s", f.DefValue)
	}
	b.WriteString(")\n")
	io.WriteString(w, b.String())
}
