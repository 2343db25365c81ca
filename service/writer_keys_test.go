package service

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/anomalyd/detector/peers"
)

// TestWriterFeedsPeersOnceARuleExists: without a rule the writer does not
// ask the engine for keys; the points that come after a rule is added are
// tracked by it, under the canonical series.
func TestWriterFeedsPeersOnceARuleExists(t *testing.T) {
	s := openMemory(t, Config{})
	ctx := context.Background()
	if s.Peers().Watching() {
		t.Fatal("Watching with no rule")
	}
	start := time.Now().UTC().Truncate(time.Minute).Add(-40 * time.Minute)
	lines := func(from, to int) string {
		var b strings.Builder
		for h := range 4 {
			for k := from; k < to; k++ {
				fmt.Fprintf(&b, "mem{host=\"h%d\",cluster=\"c1\"} %d %d\n", h, 100+k%3, start.Add(time.Duration(k)*time.Minute).Unix())
			}
		}
		return b.String()
	}
	if res, err := lineInput(ctx, s.Writer(), lines(0, 10)); err != nil || res.Accepted != 40 {
		t.Fatalf("before the rule: %+v, %v", res, err)
	}
	if _, err := s.Peers().AddRule(ctx, peers.Rule{Name: "mem", Match: "mem", GroupBy: []string{"cluster"},
		Member: "host", Window: 10, Step: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if !s.Peers().Watching() {
		t.Fatal("not Watching with a rule")
	}
	if res, err := lineInput(ctx, s.Writer(), lines(10, 30)); err != nil || res.Accepted != 80 {
		t.Fatalf("after the rule: %+v, %v", res, err)
	}
	if _, err := s.Peers().Evaluate(ctx, start.Add(30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	groups, err := s.Peers().Results("mem", "")
	if err != nil || len(groups) != 1 || len(groups[0].Members) != 4 {
		t.Fatalf("Results = %+v, %v; want one group of 4", groups, err)
	}
	for _, m := range groups[0].Members {
		if want := fmt.Sprintf(`mem{cluster="c1",host="%s"}`, m.Member); m.Series != want {
			t.Errorf("member series %q, want %q", m.Series, want)
		}
	}
	if err := s.Peers().DeleteRule(ctx, "mem"); err != nil || s.Peers().Watching() {
		t.Fatalf("after DeleteRule: err %v, Watching %v", err, s.Peers().Watching())
	}
}
