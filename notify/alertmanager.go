package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/eventlog"
)

// Alert is one alert as Alertmanager's /api/v2/alerts takes it.
type Alert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt,omitzero"`
	GeneratorURL string            `json:"generatorURL"`
}

// amAlert is an alert the sender keeps posting: open, or resolved and
// waiting out the hold-down (a reopen within it continues the same alert).
type amAlert struct {
	Alert      Alert      `json:"alert"`
	ResolvedAt *time.Time `json:"resolved_at,omitempty"` // data time of the resolve
	HeldSince  time.Time  `json:"held_since"`            // wall time the resolve was seen
}

// amSender posts the open anomalies to one Alertmanager: on every event,
// again every ResendInterval while they are open, and once more with
// endsAt when they resolved and the hold-down passed. Its alerts are kept
// in notify.db with its position in the event log, so a restart of either
// side loses no alert.
type amSender struct {
	h    *Hub
	base string
	name string

	mu     sync.Mutex
	alerts map[string]*amAlert // by incident key
	// ending are alerts whose labels changed (a severity raised): the old
	// label set is ended once so that Alertmanager does not keep it.
	ending []Alert
}

func newAMSender(h *Hub, base string) *amSender {
	return &amSender{h: h, base: base, name: "alertmanager:" + base, alerts: map[string]*amAlert{}}
}

func (s *amSender) restore() error {
	return s.h.kv.each(bucketAM, func(k string, v []byte) error {
		if k != s.base {
			return nil
		}
		return json.Unmarshal(v, &s.alerts)
	})
}

func (s *amSender) save() error {
	s.mu.Lock()
	b, _ := json.Marshal(s.alerts)
	s.mu.Unlock()
	return s.h.kv.put(bucketAM, map[string][]byte{s.base: b})
}

// run consumes the log and resends on a ticker until ctx ends.
func (s *amSender) run(ctx context.Context) {
	h := s.h
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(h.opt.ResendInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := s.flush(ctx); err != nil && ctx.Err() == nil {
					h.log.Warn("resending alerts", "alertmanager", s.base, "err", err)
				}
			}
		}
	}()
	eventlog.Run(ctx, h.opt.Log, h.opt.Cursors, s.name, s.handle, eventlog.RunOptions{
		Batch: 256, RetryDelay: h.opt.BackoffMin,
		OnLag: func(lag uint64) { h.m.amLag.WithLabelValues(s.base).Set(float64(lag)) },
	})
	wg.Wait()
}

var badLabelChar = regexp.MustCompile(`[^a-zA-Z0-9_]`)

// alertOf builds the alert of an event.
func (h *Hub) alertOf(ev anomaly.Event, inc incident) Alert {
	_, labels, _ := h.labelsOf(ev.Series)
	l := map[string]string{}
	for k, v := range labels {
		if k == "__name__" {
			k = "metric"
		}
		l[badLabelChar.ReplaceAllString(k, "_")] = v
	}
	name := "DetectorAnomaly"
	if ev.AnomalyKind == anomaly.KindPeerOutlier {
		name = "DetectorPeerOutlier"
	}
	l["alertname"] = name
	l["severity"] = h.severityAt(inc, ev.At)
	l["detector"] = inc.Peak.Detector
	if l["detector"] == "" {
		l["detector"] = ev.Verdict.Detector
	}
	l["incident_key"] = inc.Key
	v := inc.Peak
	f := func(x float64) string { return strconv.FormatFloat(anomaly.Finite(x), 'g', 6, 64) }
	link := h.opt.BaseURL + "/api/v1/anomalies/" + ev.AnomalyID.String()
	return Alert{
		Labels: l,
		Annotations: map[string]string{
			"summary":  fmt.Sprintf("%s on %s: value %s, expected %s (bounds %s to %s)", name, ev.Series, f(v.Value), f(v.Expected), f(v.Lower), f(v.Upper)),
			"value":    f(v.Value),
			"expected": f(v.Expected),
			"lower":    f(v.Lower),
			"upper":    f(v.Upper),
			"score":    f(v.Score),
			"link":     link,
		},
		StartsAt:     inc.Start,
		GeneratorURL: link,
	}
}

// handle applies a batch of events to the alerts and posts them; an
// Alertmanager that is down leaves the cursor where it was.
func (s *amSender) handle(ctx context.Context, batch []eventlog.Entry) error {
	h := s.h
	now := h.opt.Now()
	s.mu.Lock()
	for _, e := range batch {
		ev := e.Event
		if !notifiable(ev) {
			continue
		}
		inc := h.incidentOf(ev)
		a := s.alerts[inc.Key]
		if ev.Kind == anomaly.EventResolved {
			if a != nil {
				at := ev.At
				a.ResolvedAt, a.HeldSince = &at, now
			}
			continue
		}
		if h.silencedAt(ev.Series, ev.At) {
			h.m.silenced.Inc()
			continue
		}
		next := h.alertOf(ev, inc)
		if a != nil && !maps.Equal(a.Alert.Labels, next.Labels) {
			old := a.Alert
			old.EndsAt = now
			s.ending = append(s.ending, old)
		}
		s.alerts[inc.Key] = &amAlert{Alert: next}
	}
	s.mu.Unlock()
	if err := s.save(); err != nil {
		return err
	}
	return s.flush(ctx)
}

// flush posts every alert the sender keeps: open ones with endsAt a few
// resend intervals ahead (Alertmanager resolves them itself if this
// service goes away), resolved ones past the hold-down with their end,
// after which they are dropped.
func (s *amSender) flush(ctx context.Context) error {
	h := s.h
	now := h.opt.Now()
	s.mu.Lock()
	out := make([]Alert, 0, len(s.alerts)+len(s.ending))
	out = append(out, s.ending...)
	ended := len(s.ending)
	var done []string
	for k, a := range s.alerts {
		al := a.Alert
		if a.ResolvedAt != nil && now.Sub(a.HeldSince) >= h.opt.HoldDown {
			al.EndsAt = *a.ResolvedAt
			if !al.EndsAt.After(al.StartsAt) {
				al.EndsAt = al.StartsAt.Add(time.Millisecond)
			}
			if al.EndsAt.After(now) {
				al.EndsAt = now
			}
			done = append(done, k)
		} else {
			al.EndsAt = now.Add(4 * h.opt.ResendInterval)
		}
		out = append(out, al)
	}
	h.m.amAlerts.WithLabelValues(s.base).Set(float64(len(s.alerts) - len(done)))
	s.mu.Unlock()
	if len(out) == 0 {
		return nil
	}
	if err := s.post(ctx, out); err != nil {
		h.m.amPosts.WithLabelValues(s.base, "error").Inc()
		return err
	}
	h.m.amPosts.WithLabelValues(s.base, "ok").Inc()
	s.mu.Lock()
	s.ending = s.ending[ended:]
	s.mu.Unlock()
	if len(done) > 0 {
		s.mu.Lock()
		for _, k := range done {
			if a := s.alerts[k]; a != nil && a.ResolvedAt != nil {
				delete(s.alerts, k)
			}
		}
		s.mu.Unlock()
		return s.save()
	}
	return nil
}

func (s *amSender) post(ctx context.Context, alerts []Alert) error {
	body, err := json.Marshal(alerts)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.h.opt.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+"/api/v2/alerts", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.h.client().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("alertmanager answered %d: %s", resp.StatusCode, bytes.TrimSpace(msg))
	}
	return nil
}
