package influx

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/anomalyd/detector/anomaly"
)

// History reads the verdicts a Sink wrote back as history points: it
// implements history.OlderHistory for GET /api/v1/series/{s}/history.
// The detector of an anomalous point is not stored, so older points have
// none.
type History struct {
	Q           Querier
	Bucket      string // the sink's bucket ("db/rp" for 1.8)
	Measurement string // the sink's measurement; default "detector_verdict"
}

// fluxString quotes s as a Flux string literal.
func fluxString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `${`, `\${`, "\n", `\n`, "\r", `\r`, "\t", `\t`)
	return `"` + r.Replace(s) + `"`
}

// OlderHistory returns the most recent max verdicts of series with
// since <= time < until, oldest first.
func (h History) OlderHistory(ctx context.Context, series string, since, until time.Time, max int) ([]anomaly.HistoryPoint, error) {
	m := h.Measurement
	if m == "" {
		m = "detector_verdict"
	}
	flux := FluxPrelude(since, until) + fmt.Sprintf(`from(bucket: %s)
  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)
  |> filter(fn: (r) => r._measurement == %s and r.series == %s)
  |> filter(fn: (r) => r._field == "value" or r._field == "expected" or r._field == "lower" or r._field == "upper" or r._field == "score" or r._field == "anomaly_id")
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
  |> group()
  |> sort(columns: ["_time"], desc: true)
  |> limit(n: %d)
`, fluxString(h.Bucket), fluxString(m), fluxString(series), max)
	res, err := h.Q.Query(ctx, flux)
	if err != nil {
		return nil, fmt.Errorf("influxdb: %w", err)
	}
	defer res.Close()
	var out []anomaly.HistoryPoint
	for res.Next() && len(out) < max {
		rec := res.Record()
		p := anomaly.HistoryPoint{Timestamp: rec.Time().UTC()}
		p.Value, _ = number(rec.ValueByKey("value"))
		p.Expected, _ = number(rec.ValueByKey("expected"))
		p.Lower, _ = number(rec.ValueByKey("lower"))
		p.Upper, _ = number(rec.ValueByKey("upper"))
		p.Score, _ = number(rec.ValueByKey("score"))
		if id, ok := rec.ValueByKey("anomaly_id").(int64); ok && id > 0 {
			p.AnomalyID = anomaly.ID(id)
		}
		if st, ok := rec.ValueByKey("state").(string); ok {
			_ = p.State.UnmarshalText([]byte(st))
		}
		out = append(out, p)
	}
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("influxdb: %w", err)
	}
	slices.Reverse(out)
	return out, nil
}
