package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/ingest"
	"github.com/anomalyd/detector/models"
)

// replay streams a `timestamp,value` CSV through one model, exactly as the
// server would for a single series, and writes one verdict per row in file
// order.
func replay(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	format := fs.String("format", "csv", "output format: csv or json (one JSON object per line)")
	series := fs.String("series", "replay", "series name written into JSON verdicts")
	mf := bindModelFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: detector replay [flags] FILE.csv\n\nReads a timestamp,value CSV (header optional; '-' reads standard input) and\nwrites one verdict per row, in file order.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("replay: want exactly one file")
	}
	cfg, err := mf.config()
	if err != nil {
		return err
	}
	if *format != "csv" && *format != "json" {
		return fmt.Errorf("replay: unknown format %q (want csv or json)", *format)
	}
	var in io.Reader = os.Stdin
	if name := fs.Arg(0); name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	rows, err := ingest.ReadCSV(in)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(stdout)
	defer bw.Flush()
	var m models.Model
	var cw *csv.Writer
	enc := json.NewEncoder(bw)
	if *format == "csv" {
		cw = csv.NewWriter(bw)
		cw.Write([]string{"timestamp", "value", "expected", "lower", "upper", "score", "z", "state", "detector", "transition"})
	}
	for _, row := range rows {
		r := m.Update(&cfg, row.TimestampMs, row.Value)
		if cw != nil {
			cw.Write([]string{row.Raw, fmtF(row.Value), fmtF(r.Expected), fmtF(r.Lower), fmtF(r.Upper),
				fmtF(r.Score), fmtF(r.Z), r.State.String(), detectorName(r), transitionName(r.Transition)})
			continue
		}
		v := anomaly.Verdict{Series: *series, Timestamp: time.UnixMilli(row.TimestampMs).UTC(), Value: row.Value,
			Expected: r.Expected, Lower: r.Lower, Upper: r.Upper, Score: r.Score, Z: r.Z, State: r.State,
			Detector: detectorName(r), NeedPoints: r.NeedPoints}
		if err := enc.Encode(v); err != nil {
			return err
		}
	}
	if cw != nil {
		cw.Flush()
		return cw.Error()
	}
	return nil
}

func fmtF(f float64) string { return strconv.FormatFloat(f, 'g', 8, 64) }

// detectorName is the detector that fired, or "" when the point is not
// anomalous.
func detectorName(r models.Result) string {
	if r.State != anomaly.StateAnomalous {
		return ""
	}
	return r.Detector.String()
}

func transitionName(t models.Transition) string {
	switch t {
	case models.TransitionOpened:
		return "opened"
	case models.TransitionUpdated:
		return "updated"
	case models.TransitionResolved:
		return "resolved"
	}
	return ""
}
