package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/api"
	"github.com/anomalyd/detector/eventlog"
	"github.com/anomalyd/detector/netguard"
	"github.com/anomalyd/detector/notify"
)

// NotifyConfig configures webhooks, Alertmanager, incidents, silences and
// change events (package notify).
type NotifyConfig struct {
	Alertmanagers   []string
	PublicURL       string
	WebhookMaxAge   time.Duration
	WebhookTimeout  time.Duration
	WebhookFailures int
	WebhookInFlight int
	HoldDown        time.Duration
	SeverityMap     string
	CauseWindow     time.Duration
	EventRetention  time.Duration
	ResendInterval  time.Duration
}

// multiFlag is a repeatable string flag.
type multiFlag struct{ vals *[]string }

func (m multiFlag) String() string {
	if m.vals == nil {
		return ""
	}
	return strings.Join(*m.vals, ",")
}
func (m multiFlag) Set(s string) error { *m.vals = append(*m.vals, s); return nil }

func bindNotifyFlags(fs *flag.FlagSet, c *NotifyConfig) {
	fs.Var(multiFlag{&c.Alertmanagers}, "alertmanager-url", "Alertmanager base URL to post open anomalies to, at /api/v2/alerts (repeatable)")
	fs.StringVar(&c.PublicURL, "public-url", "", "the service's address as receivers reach it, for links in notifications (default: http://<listen>)")
	fs.DurationVar(&c.WebhookMaxAge, "webhook-max-age", 24*time.Hour, "how long a webhook event is retried before it is given up")
	fs.DurationVar(&c.WebhookTimeout, "webhook-timeout", 10*time.Second, "time allowed for one webhook or Alertmanager request")
	fs.IntVar(&c.WebhookFailures, "webhook-max-failures", 50, "consecutive failed attempts after which a webhook endpoint is disabled")
	fs.IntVar(&c.WebhookInFlight, "webhook-concurrency", 4, "deliveries one webhook endpoint has in flight at once, over distinct series (order per series is kept)")
	fs.DurationVar(&c.HoldDown, "incident-hold-down", 5*time.Minute, "a series that resolves and reopens within this is one incident")
	fs.StringVar(&c.SeverityMap, "severity-map", "warning=0.99/5m,critical=0.9999/30m", "severity from peak score or duration: name=score/duration,...")
	fs.DurationVar(&c.CauseWindow, "cause-window", 30*time.Minute, "change events this long before an anomaly are listed as possible causes")
	fs.DurationVar(&c.EventRetention, "change-event-retention", 30*24*time.Hour, "how long change events (POST /api/v1/events) are kept")
	fs.DurationVar(&c.ResendInterval, "alertmanager-resend", time.Minute, "how often open alerts are posted to Alertmanager again")
}

// openNotify builds the notification hub on the event log.
func openNotify(cfg *Config, log eventlog.Log, cursors eventlog.Cursors, logger *slog.Logger, reg prometheus.Registerer) (*notify.Hub, error) {
	c := cfg.Notify
	allow, err := netguard.ParseAllowList(cfg.AllowDestinations)
	if err != nil {
		return nil, fmt.Errorf("--allow-destination: %w", err)
	}
	sev, err := notify.ParseSeverityMap(c.SeverityMap)
	if err != nil {
		return nil, fmt.Errorf("--severity-map: %w", err)
	}
	base := c.PublicURL
	if base == "" {
		base = "http://" + cfg.Listen
	}
	return notify.New(notify.Options{
		DataDir: cfg.Persist.DataDir, Log: log, Cursors: cursors, Guard: netguard.New(allow),
		BaseURL: strings.TrimRight(base, "/"), Limits: cfg.Limits,
		Timeout: c.WebhookTimeout, MaxAge: c.WebhookMaxAge, MaxFailures: c.WebhookFailures, Concurrency: c.WebhookInFlight,
		HoldDown: c.HoldDown, Severity: sev, CauseWindow: c.CauseWindow, EventRetention: c.EventRetention,
		Alertmanagers: c.Alertmanagers, ResendInterval: c.ResendInterval,
		Logger: logger, Registerer: reg,
	})
}

// lateLog is the service's event log and cursors for the hub, which is
// built before the service (the service calls hub.Observe for every event,
// the restart reconciliation's included) and reads the log only once
// started. NewMain sets both fields right after the service opens.
type lateLog struct {
	eventlog.Log
	eventlog.Cursors
}

// learningGate is the write path's maintenance-window hook: the points a
// skip_learning silence covers are scored against the baseline (WhatIf)
// without being learned; the rest are ingested as usual. With no such
// silence it costs one atomic load per request.
//
// Every input (JSON, remote write, line protocol, backfill) goes through
// it: NewMain puts it in front of the service's writer.
type learningGate struct {
	api.Engine
	filter notify.LearningFilter
}

func (g learningGate) Ingest(ctx context.Context, samples []anomaly.Sample) (anomaly.IngestResult, error) {
	if !g.filter.Active() {
		return g.Engine.Ingest(ctx, samples)
	}
	var learn []anomaly.Sample
	var learnIdx []int
	skipped := map[string][]anomaly.Sample{}
	var order []string
	for i, s := range samples {
		if g.filter.SkipLearning(s.Series, s.Time()) {
			if _, ok := skipped[s.Series]; !ok {
				order = append(order, s.Series)
			}
			skipped[s.Series] = append(skipped[s.Series], s)
			continue
		}
		learn = append(learn, s)
		learnIdx = append(learnIdx, i)
	}
	if len(order) == 0 {
		return g.Engine.Ingest(ctx, samples)
	}
	var res anomaly.IngestResult
	if len(learn) > 0 {
		var err error
		if res, err = g.Engine.Ingest(ctx, learn); err != nil {
			return res, err
		}
		for i := range res.Errors {
			res.Errors[i].Index = learnIdx[res.Errors[i].Index]
		}
	}
	for _, s := range order {
		ss := skipped[s]
		vs, err := g.Engine.WhatIf(ctx, s, ss)
		if err != nil {
			// A series the engine does not know has no baseline to score
			// against; the points are taken and not learned.
			res.Accepted += len(ss)
			continue
		}
		res.Accepted += len(ss)
		for _, v := range vs {
			if v.State == anomaly.StateAnomalous {
				res.Anomalies = append(res.Anomalies, v)
			}
		}
	}
	return res, nil
}
