// Command healthy measures the default model on a suite of generated
// healthy operational series (package internal/synth: daily and weekly
// cycles, trends, flat noise, low and sparse counts, gaps, an hourly batch
// job, a saturating percentage, quantised, heteroscedastic, heavy-tailed
// and irregularly sampled series): false alarms per series-month after the
// learning week on the clean series, and the recall and detection delay of
// spikes, dips, level shifts, stuck values and dropped data injected into
// copies of them.
//
//	go run ./benchmarks/healthy            # full scale, writes benchmarks/healthy/RESULTS.md
//	go run ./benchmarks/healthy -small     # the CI size
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/anomalyd/detector/benchmarks/configset"
	"github.com/anomalyd/detector/models"
)

func main() {
	small := flag.Bool("small", false, "run the small CI-sized suite")
	out := flag.String("out", "", "also write the Markdown report to this file")
	seeds := flag.Int("seeds", 0, "series per shape (0: the size's default)")
	noData := flag.Float64("no-data", 0, "emulate the engine's no-data sweep with this multiple of the step (as serve --no-data-after)")
	set := flag.String("set", "", "config overrides: Name=value,Name=value (as go run ./benchmarks/nab/tune -set)")
	flag.Parse()
	c := models.DefaultConfig()
	if err := configset.Apply(&c, *set); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if err := c.Validate(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	o := Full
	if *small {
		o = Small
	}
	if *seeds > 0 {
		o.Seeds = *seeds
	}
	o.NoData = *noData
	rep := Run(c, o)
	rep.Markdown(os.Stdout)
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		rep.Markdown(f)
		if err := f.Close(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}
