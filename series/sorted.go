package series

import (
	"cmp"
	"container/heap"
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/anomalyd/detector/anomaly"
)

// Sort orders of ListSorted.
const (
	SortScore = "score" // score descending, then key
	SortState = "state" // anomalous or in an open anomaly, normal, learning; then score descending, then key
)

// sortKey is the position of a summary in a sorted listing.
type sortKey struct {
	state anomaly.State
	score float64
	key   string
}

func orderOf(by string) (func(a, b sortKey) int, error) {
	byScore := func(a, b sortKey) int {
		if c := cmp.Compare(b.score, a.score); c != 0 {
			return c
		}
		return strings.Compare(a.key, b.key)
	}
	switch by {
	case SortScore:
		return byScore, nil
	case SortState:
		return func(a, b sortKey) int {
			if c := cmp.Compare(b.state, a.state); c != 0 {
				return c
			}
			return byScore(a, b)
		}, nil
	}
	return nil, anomaly.Errorf(anomaly.CodeInvalidArgument, "sort %s: want %q or %q", clip(by), SortScore, SortState)
}

// ListSorted is List in another order: by = SortScore or SortState (the
// series in trouble first). Pagination is stable in the same sense as List
// for series whose score and state do not change between pages; the cursor
// holds the last position, so a series whose score moved may be listed
// twice or skipped. Errors: CodeInvalidArgument for a bad matcher, order,
// limit or cursor.
func (e *Engine) ListSorted(ctx context.Context, match, by string, limit int, cursor string) (anomaly.SeriesPage, error) {
	ms, err := ParseMatchers(match)
	if err != nil {
		return anomaly.SeriesPage{}, err
	}
	order, err := orderOf(by)
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
	after, hasAfter, err := decodeSortCursor(cursor, by)
	if err != nil {
		return anomaly.SeriesPage{}, err
	}
	h := &sortHeap{order: order}
	for _, sh := range e.shards {
		if err := ctx.Err(); err != nil {
			return anomaly.SeriesPage{}, fmt.Errorf("series: list: %w", err)
		}
		sh.mu.RLock()
		for i, key := range sh.keys {
			if key == "" {
				continue
			}
			sl := sh.slot(int32(i))
			_, _, r := sl.model.Last()
			st := r.State
			if sl.anomalyID != 0 {
				st = anomaly.StateAnomalous // in an open anomaly: in trouble
			}
			k := sortKey{state: st, score: anomaly.Finite(float64(r.Score)), key: key}
			if hasAfter && order(k, after) <= 0 {
				continue
			}
			if len(h.items) > limit && order(k, h.items[0].k) >= 0 {
				continue
			}
			if len(ms) > 0 && !ms.Matches(keyFromCanonical(key, sl.hash)) {
				continue
			}
			it := sortItem{k: k, s: sh.summary(int32(i))}
			it.k.score = it.s.Score
			if len(h.items) <= limit {
				heap.Push(h, it)
			} else {
				h.items[0] = it
				heap.Fix(h, 0)
			}
		}
		sh.mu.RUnlock()
	}
	slices.SortFunc(h.items, func(a, b sortItem) int { return order(a.k, b.k) })
	page := anomaly.SeriesPage{Series: make([]anomaly.SeriesSummary, 0, min(len(h.items), limit))}
	for i, it := range h.items {
		if i == limit {
			last := h.items[limit-1].k
			page.NextCursor = encodeSortCursor(by, last)
			break
		}
		page.Series = append(page.Series, it.s)
	}
	return page, nil
}

type sortItem struct {
	k sortKey
	s anomaly.SeriesSummary
}

// sortHeap is a max-heap in the listing's order: its root is the last item.
type sortHeap struct {
	order func(a, b sortKey) int
	items []sortItem
}

func (h *sortHeap) Len() int           { return len(h.items) }
func (h *sortHeap) Less(i, j int) bool { return h.order(h.items[i].k, h.items[j].k) > 0 }
func (h *sortHeap) Swap(i, j int)      { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *sortHeap) Push(x any)         { h.items = append(h.items, x.(sortItem)) }
func (h *sortHeap) Pop() any {
	x := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return x
}

// Sorted cursors: "o1:<by>:<state>:<score>:<key>", base64url.
func encodeSortCursor(by string, k sortKey) string {
	s := "o1:" + by + ":" + strconv.Itoa(int(k.state)) + ":" + strconv.FormatFloat(k.score, 'g', -1, 64) + ":" + k.key
	return base64.RawURLEncoding.EncodeToString([]byte(s))
}

func decodeSortCursor(c, by string) (sortKey, bool, error) {
	if c == "" {
		return sortKey{}, false, nil
	}
	bad := anomaly.Errorf(anomaly.CodeInvalidArgument, "invalid cursor %s: pass the next_cursor of the previous page with the same sort", clip(c))
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return sortKey{}, false, bad
	}
	parts := strings.SplitN(string(b), ":", 5)
	if len(parts) != 5 || parts[0] != "o1" || parts[1] != by {
		return sortKey{}, false, bad
	}
	st, err1 := strconv.Atoi(parts[2])
	sc, err2 := strconv.ParseFloat(parts[3], 64)
	if err1 != nil || err2 != nil || st < 0 || st > int(anomaly.StateAnomalous) {
		return sortKey{}, false, bad
	}
	return sortKey{state: anomaly.State(st), score: anomaly.Finite(sc), key: parts[4]}, true, nil
}
