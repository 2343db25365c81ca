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
	"sync"

	"github.com/anomalyd/detector/anomaly"
)

// Sort orders of ListSorted.
const (
	SortScore = "score" // score descending, then series hash
	SortState = "state" // anomalous or in an open anomaly, normal, learning; then score descending, then key
)

// sortKey is the position of a summary in a sorted listing. Ties are broken
// by the series hash, not the key: the scan then never reads a key string
// (a cache miss per series) except for the series that make the page.
type sortKey struct {
	state anomaly.State
	score float64
	hash  uint64
}

func orderOf(by string) (func(a, b sortKey) int, error) {
	byScore := func(a, b sortKey) int {
		if c := cmp.Compare(b.score, a.score); c != 0 {
			return c
		}
		return cmp.Compare(a.hash, b.hash)
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
	// One scan per shard, in parallel, each keeping its limit+1 first
	// series; then the shards' candidates are merged.
	heaps := make([]*sortHeap, len(e.shards))
	var wg sync.WaitGroup
	for i, sh := range e.shards {
		heaps[i] = &sortHeap{order: order}
		wg.Go(func() { sh.scanSorted(ctx, heaps[i], ms, limit, after, hasAfter) })
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return anomaly.SeriesPage{}, fmt.Errorf("series: list: %w", err)
	}
	var items []sortItem
	for _, h := range heaps {
		items = append(items, h.items...)
	}
	slices.SortFunc(items, func(a, b sortItem) int { return order(a.k, b.k) })
	page := anomaly.SeriesPage{Series: make([]anomaly.SeriesSummary, 0, min(len(items), limit))}
	for i, it := range items {
		if i == limit {
			page.NextCursor = encodeSortCursor(by, items[limit-1].k)
			break
		}
		page.Series = append(page.Series, it.s)
	}
	return page, nil
}

// scanSorted keeps in h the limit+1 first series of the shard after the
// cursor position, scanning as List does (shard.scanUsed).
func (sh *shard) scanSorted(ctx context.Context, h *sortHeap, ms Matchers, limit int, after sortKey, hasAfter bool) {
	_ = sh.scanUsed(ctx, func(i int32) { // ListSorted checks ctx after the scans
		k := sh.rank(i)
		if hasAfter && h.order(k, after) <= 0 {
			return
		}
		if len(h.items) > limit && h.order(k, h.items[0].k) >= 0 {
			return
		}
		if len(ms) > 0 && !ms.Matches(keyFromCanonical(sh.key(i), sh.slot(i).hash)) {
			return
		}
		it := sortItem{k: k, s: sh.summary(i)}
		it.s.Score = k.score // the value the order used
		if len(h.items) <= limit {
			heap.Push(h, it)
		} else {
			h.items[0] = it
			heap.Fix(h, 0)
		}
	})
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

// Sorted cursors: "o2:<by>:<state>:<score>:<hash>", base64url.
func encodeSortCursor(by string, k sortKey) string {
	s := "o2:" + by + ":" + strconv.Itoa(int(k.state)) + ":" + strconv.FormatFloat(k.score, 'g', -1, 64) + ":" + strconv.FormatUint(k.hash, 16)
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
	if len(parts) != 5 || parts[0] != "o2" || parts[1] != by {
		return sortKey{}, false, bad
	}
	st, err1 := strconv.Atoi(parts[2])
	sc, err2 := strconv.ParseFloat(parts[3], 64)
	h, err3 := strconv.ParseUint(parts[4], 16, 64)
	if err1 != nil || err2 != nil || err3 != nil || st < 0 || st > int(anomaly.StateAnomalous) {
		return sortKey{}, false, bad
	}
	return sortKey{state: anomaly.State(st), score: anomaly.Finite(sc), hash: h}, true, nil
}
