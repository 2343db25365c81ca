package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/anomalyd/detector/api"
	"github.com/anomalyd/detector/models"
)

// envName is the environment variable that supplies a flag's default:
// DETECTOR_ followed by the flag name in upper case with dashes as
// underscores (--max-series → DETECTOR_MAX_SERIES).
func envName(flagName string) string {
	return "DETECTOR_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// applyEnv sets every flag of fs whose environment variable is present.
// Called before fs.Parse, so command-line flags still win.
func applyEnv(fs *flag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if v, ok := os.LookupEnv(envName(f.Name)); ok && err == nil {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("environment %s=%q: %w", envName(f.Name), v, e)
			}
		}
	})
	return err
}

// modelFlags binds the model parameters shared by serve and replay.
type modelFlags struct {
	minPoints, openAfter, resolveAfter *int
	threshold                          *float64
	timezone                           *string
}

func bindModelFlags(fs *flag.FlagSet) *modelFlags {
	d := models.DefaultConfig()
	return &modelFlags{
		minPoints:    fs.Int("min-points", d.MinPoints, "points a series needs before it is judged (learning until then)"),
		threshold:    fs.Float64("threshold", d.Threshold, "anomaly score in [0,1] at or above which a point is anomalous"),
		openAfter:    fs.Int("open-after", d.OpenAfter, "anomalous points in a row that open an anomaly"),
		resolveAfter: fs.Int("resolve-after", d.ResolveAfter, "normal points in a row that resolve an open anomaly"),
		timezone: fs.String("timezone", "UTC", "IANA time zone of the daily and weekly profiles (e.g. Europe/Berlin): "+
			"series that follow local hours keep their cycle across daylight-saving changes"),
	}
}

func (m *modelFlags) config() (models.Config, error) {
	c := models.DefaultConfig()
	c.MinPoints, c.Threshold, c.OpenAfter, c.ResolveAfter = *m.minPoints, *m.threshold, *m.openAfter, *m.resolveAfter
	if *m.timezone != "" && *m.timezone != "UTC" {
		loc, err := time.LoadLocation(*m.timezone)
		if err != nil {
			return c, fmt.Errorf("model flags: --timezone: %w", err)
		}
		c.Location = loc
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("model flags: %w", err)
	}
	return c, nil
}

// listFlag is a comma-separated list flag.
type listFlag struct{ p *[]string }

func (l listFlag) String() string {
	if l.p == nil {
		return ""
	}
	return strings.Join(*l.p, ",")
}

func (l listFlag) Set(s string) error {
	*l.p = nil
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l.p = append(*l.p, v)
		}
	}
	return nil
}

// bindGuardFlags binds the limits against slow and cross-site clients
// (api.GuardConfig).
func bindGuardFlags(fs *flag.FlagSet, g *api.GuardConfig) {
	d := api.DefaultGuardConfig()
	fs.IntVar(&g.MaxBodyReaders, "max-body-readers", d.MaxBodyReaders, "request bodies received at once (a client gets at most a quarter once half are taken); bodies are read before a --max-in-flight turn is taken")
	fs.Int64Var(&g.BodyMinRate, "body-min-rate", d.BodyMinRate, "slowest average rate, bytes/s, at which a body may arrive after a 2 s grace (408 below)")
	fs.DurationVar(&g.BodyTimeout, "body-timeout", d.BodyTimeout, "time allowed to receive a whole request body (408 beyond)")
	fs.DurationVar(&g.AnswerTimeout, "write-timeout", d.AnswerTimeout, "time allowed to send an answer once it is ready; a client that does not read is cut off")
	fs.IntVar(&g.MaxErrors, "max-errors", d.MaxErrors, "item errors listed in an ingest answer (the rest are counted in errors_omitted)")
	fs.DurationVar(&g.QueryTimeout, "query-timeout", d.QueryTimeout, "time one series or anomaly listing may scan (503 beyond)")
	fs.IntVar(&g.MaxQueries, "max-queries", d.MaxQueries, "series and anomaly listings served at once (429 beyond, after --in-flight-wait)")
	fs.Var(listFlag{&g.AllowedHosts}, "allowed-hosts", "comma-separated Host names answered besides loopback names while listening on loopback (\"*\": any); when set on another address, only these")
	fs.Var(listFlag{&g.AllowedOrigins}, "cors-allowed-origins", "comma-separated origins (scheme://host[:port]) whose web pages may call the API; any other Origin is refused (403)")
}
