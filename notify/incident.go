package notify

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/anomalyd/detector/anomaly"
)

// Severities, from least to most urgent.
const (
	SeverityInfo     = "info"
	SeverityWarning  = "warning"
	SeverityCritical = "critical"
)

var severityRank = map[string]int{"": 0, SeverityInfo: 1, SeverityWarning: 2, SeverityCritical: 3}

// ValidSeverity reports whether s is one of the severities ("" too).
func ValidSeverity(s string) bool { _, ok := severityRank[s]; return ok }

// SeverityMap turns an anomaly's peak score and its duration into a
// severity: critical when either reaches its critical bound, warning when
// either reaches its warning bound, info otherwise. Scores are in (0, 1].
type SeverityMap struct {
	WarningScore     float64       `json:"warning_score"`
	WarningDuration  time.Duration `json:"warning_duration"`
	CriticalScore    float64       `json:"critical_score"`
	CriticalDuration time.Duration `json:"critical_duration"`
}

// DefaultSeverityMap: warning from score 0.99 or 5 minutes, critical from
// score 0.9999 or 30 minutes.
func DefaultSeverityMap() SeverityMap {
	return SeverityMap{WarningScore: 0.99, WarningDuration: 5 * time.Minute,
		CriticalScore: 0.9999, CriticalDuration: 30 * time.Minute}
}

// ParseSeverityMap parses "warning=0.99/5m,critical=0.9999/30m": per
// severity, a score bound and a duration bound.
func ParseSeverityMap(s string) (SeverityMap, error) {
	m := DefaultSeverityMap()
	if strings.TrimSpace(s) == "" {
		return m, nil
	}
	for _, part := range strings.Split(s, ",") {
		name, spec, ok := strings.Cut(strings.TrimSpace(part), "=")
		score, dur, ok2 := strings.Cut(spec, "/")
		if !ok || !ok2 {
			return m, fmt.Errorf("severity map %q: want name=score/duration", part)
		}
		f, err := strconv.ParseFloat(score, 64)
		if err != nil || f <= 0 || f > 1 {
			return m, fmt.Errorf("severity map %q: score must be in (0, 1]", part)
		}
		d, err := time.ParseDuration(dur)
		if err != nil || d <= 0 {
			return m, fmt.Errorf("severity map %q: bad duration", part)
		}
		switch name {
		case SeverityWarning:
			m.WarningScore, m.WarningDuration = f, d
		case SeverityCritical:
			m.CriticalScore, m.CriticalDuration = f, d
		default:
			return m, fmt.Errorf("severity map %q: severity must be warning or critical", part)
		}
	}
	return m, nil
}

// Of returns the severity of an anomaly that peaked at score and has
// lasted d.
func (m SeverityMap) Of(score float64, d time.Duration) string {
	switch {
	case score >= m.CriticalScore || d >= m.CriticalDuration:
		return SeverityCritical
	case score >= m.WarningScore || d >= m.WarningDuration:
		return SeverityWarning
	}
	return SeverityInfo
}

// incident is what the hub knows of one anomaly.
type incident struct {
	AnomalyID anomaly.ID      `json:"anomaly_id"`
	Kind      string          `json:"kind"`
	Series    string          `json:"series"`
	Key       string          `json:"key"`
	Start     time.Time       `json:"incident_start"` // of the incident (first anomaly of a flap)
	StartedAt time.Time       `json:"started_at"`     // of this anomaly
	EndedAt   *time.Time      `json:"ended_at,omitempty"`
	Peak      anomaly.Verdict `json:"peak"`
	Silenced  bool            `json:"silenced,omitempty"`
}

// seriesState is the last incident of one series, for the hold-down.
type seriesState struct {
	Key        string    `json:"key"`
	Start      time.Time `json:"start"`
	Open       bool      `json:"open"`
	ResolvedAt time.Time `json:"resolved_at"`
}

// incidentKey is stable for one incident: a digest of the series and its
// kind, and the id of the anomaly that opened the incident.
func incidentKey(kind, s string, first anomaly.ID) string {
	d := sha256.Sum256([]byte(kind + "|" + s))
	return "inc_" + hex.EncodeToString(d[:8]) + "_" + first.String()
}

// Observe tells the hub of one event before it is appended to the event
// log: the anomaly gets its incident key (the previous incident's when the
// series resolved less than the hold-down before), its peak and its
// silenced mark. It works in memory only and never blocks on disk or the
// network. Safe for concurrent use; events of one series come in order.
func (h *Hub) Observe(ev anomaly.Event) {
	if !notifiable(ev) {
		return
	}
	silenced := h.silencedAt(ev.Series, ev.At)
	sk := ev.AnomalyKind + "|" + ev.Series
	h.mu.Lock()
	defer h.mu.Unlock()
	if ev.At.After(h.latest) {
		h.latest = ev.At
	}
	inc := h.incidents[ev.AnomalyID]
	if inc == nil {
		ss := h.series[sk]
		inc = &incident{AnomalyID: ev.AnomalyID, Kind: ev.AnomalyKind, Series: ev.Series, StartedAt: ev.At, Peak: ev.Verdict}
		if ss != nil && !ss.Open && ev.At.Sub(ss.ResolvedAt) <= h.opt.HoldDown {
			inc.Key, inc.Start = ss.Key, ss.Start
			h.m.flapsMerged.Inc()
		} else {
			inc.Key, inc.Start = incidentKey(ev.AnomalyKind, ev.Series, ev.AnomalyID), ev.At
		}
		h.incidents[ev.AnomalyID] = inc
		h.series[sk] = &seriesState{Key: inc.Key, Start: inc.Start, Open: true}
		h.dirtySer[sk] = true
	}
	if ev.Kind != anomaly.EventResolved && ev.Verdict.Score >= inc.Peak.Score {
		inc.Peak = ev.Verdict
	}
	if silenced {
		inc.Silenced = true
	}
	if ev.Kind == anomaly.EventResolved {
		at := ev.At
		inc.EndedAt = &at
		if ss := h.series[sk]; ss != nil && ss.Key == inc.Key {
			ss.Open, ss.ResolvedAt = false, ev.At
			h.dirtySer[sk] = true
		}
	}
	h.dirtyInc[ev.AnomalyID] = true
}

// notifiable reports whether ev is an anomaly or peer-outlier event the
// hub notifies and folds into incidents. A remediation decision, which
// the remediator appends to the log with the anomaly's id, is neither: it
// would otherwise replace the incident's peak (its verdict has no value),
// change the alert's detector label and re-post a resolved alert.
func notifiable(ev anomaly.Event) bool {
	switch ev.Kind {
	case anomaly.EventOpened, anomaly.EventUpdated, anomaly.EventResolved:
		return true
	}
	return false
}

// incidentOf returns a copy of what the hub knows of the anomaly of ev,
// or a record built from ev alone when the hub never saw it (a restart
// lost the last second of the table).
func (h *Hub) incidentOf(ev anomaly.Event) incident {
	h.mu.Lock()
	inc := h.incidents[ev.AnomalyID]
	var out incident
	if inc != nil {
		out = *inc
	}
	h.mu.Unlock()
	if inc == nil {
		out = incident{AnomalyID: ev.AnomalyID, Kind: ev.AnomalyKind, Series: ev.Series,
			Key: incidentKey(ev.AnomalyKind, ev.Series, ev.AnomalyID), Start: ev.At, StartedAt: ev.At, Peak: ev.Verdict}
	}
	return out
}

// severityAt is the severity of inc as of t.
func (h *Hub) severityAt(inc incident, t time.Time) string {
	end := t
	if inc.EndedAt != nil && inc.EndedAt.Before(end) {
		end = *inc.EndedAt
	}
	return h.opt.Severity.Of(inc.Peak.Score, end.Sub(inc.Start))
}

// Annotate fills in the incident view of an anomaly read from the
// timeline: severity, incident key, silenced mark and possible causes.
func (h *Hub) Annotate(a *anomaly.Anomaly) {
	h.mu.Lock()
	inc := h.incidents[a.ID]
	key, start, silenced := "", a.StartedAt, false
	if inc != nil {
		key, start, silenced = inc.Key, inc.Start, inc.Silenced
	}
	h.mu.Unlock()
	if key == "" {
		key = incidentKey(a.Kind, a.Series, a.ID)
	}
	end := h.opt.Now()
	if a.EndedAt != nil {
		end = *a.EndedAt
	}
	a.IncidentKey = key
	a.Silenced = silenced
	a.Severity = h.opt.Severity.Of(a.PeakScore, end.Sub(start))
	if cs := h.Causes(a.Series, a.StartedAt); len(cs) > 0 {
		a.PossibleCauses = &cs
	}
}
