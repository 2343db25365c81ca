package main

import (
	"flag"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/anomalyd/detector/history"
	"github.com/anomalyd/detector/series"
	"github.com/anomalyd/detector/web"
)

// ConsoleConfig sizes the recent history the console draws and turns the
// console off.
type ConsoleConfig struct {
	// HistoryBytes is the memory budget of the recent history; default
	// history.DefaultBytes.
	HistoryBytes int64
	// HistoryPoints is the most points kept per series; default
	// history.DefaultPoints.
	HistoryPoints int
	// Off serves no console at / (--console=false).
	Off bool
	// OlderMax and OlderTimeout bound a read of older history from
	// InfluxDB (with --influx-url and --verdict-bucket).
	OlderMax     int
	OlderTimeout time.Duration
}

func bindConsoleFlags(fs *flag.FlagSet, c *ConsoleConfig) {
	fs.Int64Var(&c.HistoryBytes, "history-bytes", history.DefaultBytes, "memory budget of the recent points kept for drawing (GET /api/v1/series/{s}/history)")
	fs.IntVar(&c.HistoryPoints, "history-points", history.DefaultPoints, "most recent points kept per series for drawing")
	fs.IntVar(&c.OlderMax, "history-older-max", history.DefaultOlderMax, "most points of a history request read from InfluxDB, before the kept ones (with --verdict-bucket)")
	fs.DurationVar(&c.OlderTimeout, "history-older-timeout", history.DefaultOlderTimeout, "longest a history request waits for InfluxDB; then it answers the kept points with \"older\": \"unavailable: ...\"")
	fs.Var((*invertedBool)(&c.Off), "console", "serve the web console at / (default true)")
}

// newHistory makes the history store and hands it the engine's points.
func (m *Main) newHistory(eng *series.Engine) history.Reader {
	st := history.New(history.Config{Bytes: m.cfg.Console.HistoryBytes, Points: m.cfg.Console.HistoryPoints})
	eng.SetObserver(st)
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "detector_history_bytes", Help: "Memory accounted to the recent history kept for drawing."},
			func() float64 { return float64(st.Stats().Bytes) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "detector_history_series", Help: "Series with recent history kept for drawing."},
			func() float64 { return float64(st.Stats().Series) }),
	)
	return history.Reader{Store: st, Engine: eng, Older: m.influx.olderHistory(), // influx.go
		OlderMax: m.cfg.Console.OlderMax, OlderTimeout: m.cfg.Console.OlderTimeout}
}

// withConsole serves the console's page and assets beside api (which keeps
// its own access control): the assets hold no data, every number the
// console shows comes from the API with the user's token.
func (m *Main) withConsole(api http.Handler) http.Handler {
	if m.cfg.Console.Off {
		return api
	}
	ui := web.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if web.Owns(r.URL.Path) {
			ui.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}
