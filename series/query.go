package series

import (
	"container/heap"
	"context"
	"encoding/base64"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/models"
)

// List page sizes.
const (
	DefaultListLimit = 100
	MaxListLimit     = 10000
)

// ModelName is the value of SeriesDetail.Model.
const ModelName = "robust_baseline"

// lookup parses a series for a read.
func (e *Engine) lookup(series string) (Key, *shard, error) {
	k, err := Parse(series, e.limits)
	if err != nil {
		return Key{}, nil, err
	}
	return k, e.shardOf(k.hash), nil
}

func notFound(k Key) error {
	return anomaly.Errorf(anomaly.CodeNotFound,
		"series %s is not known: no point was received for it, or it was evicted", clip(k.canonical))
}

// latest builds the verdict of the last learned point of slot idx. Call
// with sh.mu held, or within readSlot.
func (sh *shard) latest(idx int32) anomaly.Verdict {
	sl := sh.slot(idx)
	ts, v, r := sl.model.Last()
	if r.State == anomaly.StateLearning {
		c, _ := sh.readCfg(idx)
		r.NeedPoints = sl.model.NeedPoints(c)
	}
	return verdict(sh.keyCopy(idx), ts, v, &r, sl.lastID)
}

// summary describes slot idx. Call with sh.mu held, or within readSlot.
func (sh *shard) summary(idx int32) anomaly.SeriesSummary {
	sl := sh.slot(idx)
	ts, v, r := sl.model.Last()
	return anomaly.SeriesSummary{
		Series:        sh.keyCopy(idx),
		State:         r.State,
		Points:        sl.model.Points(),
		LastTimestamp: fromMs(ts),
		LastValue:     anomaly.Finite(v),
		Expected:      anomaly.Finite(r.Expected),
		Score:         anomaly.Finite(r.Score),
		AnomalyID:     sl.anomalyID,
	}
}

// Latest returns the verdict of the series' last learned point. Errors:
// CodeInvalidSeries or CodeLimit for a malformed series, CodeNotFound for
// a series the engine does not hold. It never waits for the batch a
// shard is applying (readpath.go), nor for the queue.
func (e *Engine) Latest(ctx context.Context, series string) (anomaly.Verdict, error) {
	k, sh, err := e.lookup(series)
	if err != nil {
		return anomaly.Verdict{}, err
	}
	var v anomaly.Verdict
	if !sh.readSlot(k, func(idx int32) { v = sh.latest(idx) }) { // readpath.go
		return anomaly.Verdict{}, notFound(k)
	}
	return v, nil
}

// WhatIf returns the verdicts samples would get against the series'
// current baseline, in order, each judged on its own (Model.Peek: nothing
// is learned, no anomaly is opened, AnomalyID stays 0). The samples'
// Series fields are ignored. Errors: those of Latest, and CodeInvalidValue
// with the index of a non-finite value.
func (e *Engine) WhatIf(ctx context.Context, series string, samples []anomaly.Sample) ([]anomaly.Verdict, error) {
	k, sh, err := e.lookup(series)
	if err != nil {
		return nil, err
	}
	for i, s := range samples {
		if math.IsNaN(s.Value) || math.IsInf(s.Value, 0) {
			return nil, anomaly.FieldError(anomaly.CodeInvalidValue, i, "value", "value %v is not a finite number", s.Value)
		}
		if !models.ValueInRange(s.Value) {
			return nil, valueRangeError(i, s.Value)
		}
	}
	var m models.Model
	var c *models.Config
	var b *models.Bounds
	ok := sh.readSlot(k, func(idx int32) {
		m = sh.slot(idx).model
		c, b = sh.readCfg(idx)
	})
	if !ok {
		return nil, notFound(k)
	}
	out := make([]anomaly.Verdict, len(samples))
	for i, s := range samples {
		r := m.PeekBounded(c, s.TimestampMs, s.Value, b)
		out[i] = verdict(k.canonical, s.TimestampMs, s.Value, &r, 0)
	}
	return out, nil
}

// Get returns everything the engine knows about one series: its summary,
// the model's baseline at the last learned timestamp and the recent
// verdicts (the engine keeps the last one). Errors are those of Latest.
func (e *Engine) Get(ctx context.Context, series string) (anomaly.SeriesDetail, error) {
	k, sh, err := e.lookup(series)
	if err != nil {
		return anomaly.SeriesDetail{}, err
	}
	var (
		d      anomaly.SeriesDetail
		m      models.Model
		lastTs int64
		c      *models.Config
	)
	ok := sh.readSlot(k, func(idx int32) {
		c, _ = sh.readCfg(idx)
		d.SeriesSummary = sh.summary(idx)
		d.RecentVerdicts = []anomaly.Verdict{sh.latest(idx)}
		m = sh.slot(idx).model
		lastTs = sh.slot(idx).lastTs()
	})
	if !ok {
		return anomaly.SeriesDetail{}, notFound(k)
	}
	d.Model = ModelName
	d.Baseline = m.Baseline(c, lastTs)
	return d, nil
}

// List returns the series matching match (a selector for ParseMatchers;
// "" matches all) in canonical key order, at most limit of them (0 means
// DefaultListLimit; more than MaxListLimit is cut to it), starting after
// cursor ("" for the first page). NextCursor is "" on the last page.
// Pagination is stable: a page starts strictly after the last series of the
// previous page, so no series is listed twice; series created meanwhile
// appear if they sort after the cursor. Errors: CodeInvalidArgument for a
// bad matcher, limit or cursor.
func (e *Engine) List(ctx context.Context, match string, limit int, cursor string) (anomaly.SeriesPage, error) {
	ms, err := ParseMatchers(match)
	if err != nil {
		return anomaly.SeriesPage{}, err
	}
	switch {
	case limit < 0:
		return anomaly.SeriesPage{}, anomaly.Errorf(anomaly.CodeInvalidArgument, "limit %d is negative", limit)
	case limit == 0:
		limit = DefaultListLimit
	case limit > MaxListLimit:
		limit = MaxListLimit
	}
	after, err := decodeCursor(cursor)
	if err != nil {
		return anomaly.SeriesPage{}, err
	}
	// Keep the limit+1 smallest matching keys after the cursor in a max-heap;
	// the extra one tells whether there is a next page.
	h := &pageHeap{}
	for _, sh := range e.shards {
		err := sh.scanUsed(ctx, func(i int32) {
			key := sh.key(i)
			if cursor != "" && key <= after {
				return
			}
			if len(*h) > limit && key >= (*h)[0].Series {
				return
			}
			if len(ms) > 0 && !ms.Matches(keyFromCanonical(key, sh.slot(i).hash)) {
				return
			}
			s := sh.summary(i)
			if len(*h) <= limit {
				heap.Push(h, s)
			} else {
				(*h)[0] = s
				heap.Fix(h, 0)
			}
		})
		if err != nil {
			return anomaly.SeriesPage{}, fmt.Errorf("series: list: %w", err)
		}
	}
	page := anomaly.SeriesPage{Series: []anomaly.SeriesSummary(*h)}
	slices.SortFunc(page.Series, func(a, b anomaly.SeriesSummary) int { return strings.Compare(a.Series, b.Series) })
	if len(page.Series) > limit {
		page.Series = page.Series[:limit]
		page.NextCursor = encodeCursor(page.Series[limit-1].Series)
	}
	if page.Series == nil {
		page.Series = []anomaly.SeriesSummary{}
	}
	return page, nil
}

// ListChunk is the number of slots List scans per shard lock.
const ListChunk = 256

// scanUsed calls f for every slot of the shard that holds a series, in
// runs of ListChunk slots, each under one read lock: ingest into the shard
// waits for one run at most, and the scan stops between runs when ctx ends
// (the client left), returning ctx's error.
func (sh *shard) scanUsed(ctx context.Context, f func(idx int32)) error {
	for from := 0; ; from += ListChunk {
		if err := ctx.Err(); err != nil {
			return err
		}
		sh.mu.RLock()
		n := int(sh.nslots)
		for i := from; i < min(from+ListChunk, n); i++ {
			if sh.used(int32(i)) {
				f(int32(i))
			}
		}
		sh.mu.RUnlock()
		if from+ListChunk >= n {
			return nil
		}
	}
}

// pageHeap is a max-heap of summaries by series key.
type pageHeap []anomaly.SeriesSummary

func (h pageHeap) Len() int           { return len(h) }
func (h pageHeap) Less(i, j int) bool { return h[i].Series > h[j].Series }
func (h pageHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *pageHeap) Push(x any)        { *h = append(*h, x.(anomaly.SeriesSummary)) }
func (h *pageHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// Cursors are the last listed key, base64url-encoded behind a version
// prefix, so that clients treat them as opaque.
const cursorPrefix = "s1:"

func encodeCursor(key string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + key))
}

func decodeCursor(c string) (string, error) {
	if c == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || !strings.HasPrefix(string(b), cursorPrefix) {
		return "", anomaly.Errorf(anomaly.CodeInvalidArgument, "invalid cursor %s: pass the next_cursor of the previous page", clip(c))
	}
	return string(b[len(cursorPrefix):]), nil
}

func fromMs(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
