package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Client talks to a running service.
type Client struct {
	URL   string // base URL, e.g. http://127.0.0.1:8080
	Token string // bearer token, or ""
	HTTP  *http.Client
}

func (c *Client) do(ctx context.Context, method, path string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.URL, "/")+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp.StatusCode, b, err
}

// PushResult counts what the service did with pushed points.
type PushResult struct {
	Accepted, Rejected int
	Anomalies          int // anomalous verdicts in the answers
}

// Push sends points in one request, retrying on 429 and 503 until ctx ends.
func (c *Client) Push(ctx context.Context, pts []Point) (PushResult, error) {
	for {
		st, b, err := c.do(ctx, http.MethodPost, "/api/v1/points", map[string]any{"points": pts})
		if err != nil {
			return PushResult{}, err
		}
		switch st {
		case http.StatusOK:
			var ans struct {
				Accepted  int   `json:"accepted"`
				Rejected  int   `json:"rejected"`
				Anomalies []any `json:"anomalies"`
			}
			if err := json.Unmarshal(b, &ans); err != nil {
				return PushResult{}, fmt.Errorf("points answer: %w", err)
			}
			return PushResult{ans.Accepted, ans.Rejected, len(ans.Anomalies)}, nil
		case http.StatusTooManyRequests, http.StatusServiceUnavailable:
			select {
			case <-ctx.Done():
				return PushResult{}, ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		default:
			return PushResult{}, fmt.Errorf("POST /api/v1/points: %d %s", st, clip(b))
		}
	}
}

// AddPeerRule creates the demo's peer rule for server CPU, one group per
// cluster; an existing rule of that name is kept.
func (c *Client) AddPeerRule(ctx context.Context, step time.Duration) error {
	rule := map[string]any{
		"name": "edge-cpu", "match": CPUMetric, "group_by": []string{"cluster"}, "member": "server",
		"window": 24, "step": strconv.Itoa(int(step/time.Second)) + "s",
	}
	st, b, err := c.do(ctx, http.MethodPost, "/api/v1/peers/rules", rule)
	if err != nil {
		return err
	}
	if st != http.StatusCreated && st != http.StatusConflict {
		return fmt.Errorf("POST /api/v1/peers/rules: %d %s", st, clip(b))
	}
	return nil
}

// ErrNoEvents is returned by PostChange when the service has no change
// event route.
var ErrNoEvents = errors.New("the service takes no change events (no POST /api/v1/events)")

// PostChange sends a change event to POST /api/v1/events when the service
// lists that route in its OpenAPI document, and returns ErrNoEvents when
// it does not.
func (c *Client) PostChange(ctx context.Context, ch Change) error {
	st, b, err := c.do(ctx, http.MethodGet, "/api/v1/openapi.json", nil)
	if err != nil {
		return err
	}
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if st != http.StatusOK || json.Unmarshal(b, &doc) != nil {
		return fmt.Errorf("GET /api/v1/openapi.json: %d", st)
	}
	if _, ok := doc.Paths["/api/v1/events"]["post"]; !ok {
		return ErrNoEvents
	}
	ev := map[string]any{"type": ch.Kind, "desc": ch.Title, "at": ch.At.UTC().Format(time.RFC3339), "labels": ch.Labels}
	st, b, err = c.do(ctx, http.MethodPost, "/api/v1/events", ev)
	if err != nil {
		return err
	}
	if st/100 != 2 {
		return fmt.Errorf("POST /api/v1/events: %d %s", st, clip(b))
	}
	return nil
}

func clip(b []byte) string {
	if len(b) > 300 {
		b = b[:300]
	}
	return strings.TrimSpace(string(b))
}

// BackfillOptions drives Backfill.
type BackfillOptions struct {
	Span  time.Duration // how far before Fleet.End the history starts
	Step  time.Duration // simulated time between points of a series
	Batch int           // points per request
	// Progress is called after every request with the simulated time
	// reached; may be nil.
	Progress func(t time.Time, r PushResult)
}

// Backfill pushes the fleet from End-Span to End in accelerated time (as
// fast as the service takes it), in time order.
func Backfill(ctx context.Context, c *Client, f *Fleet, o BackfillOptions) (PushResult, error) {
	if o.Batch <= 0 {
		o.Batch = 20_000
	}
	var total PushResult
	buf := make([]Point, 0, o.Batch+f.SeriesCount())
	flush := func(t time.Time) error {
		if len(buf) == 0 {
			return nil
		}
		r, err := c.Push(ctx, buf)
		if err != nil {
			return err
		}
		total.Accepted += r.Accepted
		total.Rejected += r.Rejected
		total.Anomalies += r.Anomalies
		if o.Progress != nil {
			o.Progress(t, r)
		}
		buf = buf[:0]
		return nil
	}
	start := f.End.Add(-o.Span).Truncate(o.Step)
	for t := start; !t.After(f.End); t = t.Add(o.Step) {
		buf = f.Append(buf, t)
		if len(buf) >= o.Batch {
			if err := flush(t); err != nil {
				return total, err
			}
		}
	}
	return total, flush(f.End)
}
