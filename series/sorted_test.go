package series

import (
	"context"
	"fmt"
	"testing"

	"github.com/anomalyd/detector/anomaly"
)

func TestListSorted(t *testing.T) {
	e := newEngine(t, Options{Shards: 3})
	var all []anomaly.Sample
	for i := range 30 {
		all = append(all, flat(fmt.Sprintf(`req{host="h%02d",dc="%s"}`, i, []string{"a", "b"}[i%2]), 0, 60)...)
	}
	mustIngest(t, e, all)
	hot := `req{dc="b",host="h07"}`
	openAnomaly(t, e, `req{host="h07",dc="b"}`, 60*60000)

	// By state: the series in an open anomaly comes first, then by score.
	page, err := e.ListSorted(context.Background(), "", SortState, 5, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Series) != 5 || page.Series[0].Series != hot {
		t.Fatalf("ListSorted(state) first = %+v, want %s", page.Series[0], hot)
	}
	// Pages cover every series once, in a non-increasing order.
	seen := map[string]bool{}
	cursor := ""
	var prev *anomaly.SeriesSummary
	for pages := 0; ; pages++ {
		page, err := e.ListSorted(context.Background(), "", SortScore, 7, cursor)
		if err != nil {
			t.Fatal(err)
		}
		for i := range page.Series {
			s := page.Series[i]
			if seen[s.Series] {
				t.Fatalf("%s listed twice", s.Series)
			}
			seen[s.Series] = true
			if prev != nil && s.Score > prev.Score {
				t.Fatalf("score order broken: %v after %v", s.Score, prev.Score)
			}
			prev = &s
		}
		if page.NextCursor == "" {
			break
		}
		if pages > 10 {
			t.Fatal("too many pages")
		}
		cursor = page.NextCursor
	}
	if len(seen) != 30 {
		t.Errorf("paged through %d series, want 30", len(seen))
	}
	// Matchers apply.
	page, err = e.ListSorted(context.Background(), `{dc="a"}`, SortState, 100, "")
	if err != nil || len(page.Series) != 15 {
		t.Fatalf("ListSorted({dc=a}) = %d series, %v; want 15", len(page.Series), err)
	}
	// Bad order, bad cursor, a cursor of another order.
	if _, err := e.ListSorted(context.Background(), "", "size", 10, ""); err == nil {
		t.Error("unknown order accepted")
	}
	if _, err := e.ListSorted(context.Background(), "", SortScore, 10, "!!"); err == nil {
		t.Error("bad cursor accepted")
	}
	first, _ := e.ListSorted(context.Background(), "", SortState, 5, "")
	if _, err := e.ListSorted(context.Background(), "", SortScore, 5, first.NextCursor); err == nil {
		t.Error("cursor of another order accepted")
	}
}

// BenchmarkListFirstPage is the console explorer's first page (50 series,
// anomalous first, and by key) over 1e5 and 1e6 live series.
func BenchmarkListFirstPage(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		f := fixture(b, n)
		b.Run(fmt.Sprintf("series=%d/sort=state", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := f.e.ListSorted(context.Background(), "", SortState, 50, ""); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("series=%d/sort=key", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := f.e.List(context.Background(), "", 50, ""); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("series=%d/match", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := f.e.ListSorted(context.Background(), `{region="r3"}`, SortState, 50, ""); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
