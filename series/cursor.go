package series

import (
	"cmp"
	"strings"

	"github.com/anomalyd/detector/anomaly"
)

// The functions below let a caller that merges pages of several engines (the
// nodes of a cluster) order the union exactly as one engine would and hand
// every engine a cursor in its own format.

// SummaryOrder returns the order of a listing: by "" or "series" the order
// of List (canonical key, ascending), by SortScore or SortState the order of
// ListSorted, computed from the summaries the pages carry (for "state", a
// summary with an open anomaly ranks as anomalous). Errors:
// CodeInvalidArgument for another by.
func SummaryOrder(by string) (func(a, b anomaly.SeriesSummary) int, error) {
	if by == "" || by == "series" {
		return func(a, b anomaly.SeriesSummary) int { return strings.Compare(a.Series, b.Series) }, nil
	}
	order, err := orderOf(by)
	if err != nil {
		return nil, err
	}
	return func(a, b anomaly.SeriesSummary) int {
		if c := order(summaryRank(a), summaryRank(b)); c != 0 {
			return c
		}
		return cmp.Compare(a.Series, b.Series)
	}, nil
}

// CursorAfter returns the cursor that resumes a listing ordered by by
// ("" or "series" for List, SortScore or SortState for ListSorted) right
// after the series last: the next_cursor a single engine gives for a page
// that ends with last.
func CursorAfter(by string, last anomaly.SeriesSummary) string {
	if by == "" || by == "series" {
		return encodeCursor(last.Series)
	}
	return encodeSortCursor(by, summaryRank(last))
}

// summaryRank is the sort position of a listed summary.
func summaryRank(s anomaly.SeriesSummary) sortKey {
	st := s.State
	if s.AnomalyID != 0 {
		st = anomaly.StateAnomalous
	}
	return sortKey{state: st, score: s.Score, hash: HashString(s.Series)}
}
