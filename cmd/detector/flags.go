package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

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
