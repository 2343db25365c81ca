package series

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anomalyd/detector/anomaly"
)

func TestSelectorLimits(t *testing.T) {
	many := make([]string, MaxMatchers+1)
	for i := range many {
		many[i] = fmt.Sprintf(`l%d="v"`, i)
	}
	for _, tc := range []struct{ name, sel, want string }{
		{"too long", "{a=\"" + strings.Repeat("x", MaxSelectorLen) + "\"}", "bytes long"},
		{"too many matchers", "{" + strings.Join(many, ",") + "}", "label matchers"},
		{"long regex", `{a=~"` + strings.Repeat("a", MaxRegexLen+1) + `"}`, "bytes long"},
		{"repeated groups", `{id=~"` + strings.Repeat("(.?)", 30) + `"}`, "too complex"},
		{"nested repetition", `{id=~"(?:[a-z]{30}){30}"}`, "too complex"},
		{"large repeated class", `{id=~"[\\p{L}\\p{N}]{500}"}`, "too complex"},
		{"bad regex", `{id=~"(("}`, "invalid regular expression"},
	} {
		_, err := ParseMatchers(tc.sel)
		if anomaly.ErrorCode(err) != anomaly.CodeInvalidArgument || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: ParseMatchers = %v, want invalid_argument with %q", tc.name, err, tc.want)
		}
	}
	for _, ok := range []string{`{id=~"api-.*"}`, `{id=~"` + strings.Repeat("(.?)", 10) + `"}`, `{a=~"[a-z]{1,64}",b!~"x|y|z"}`,
		"{" + strings.Join(many[:MaxMatchers], ",") + "}"} {
		if _, err := ParseMatchers(ok); err != nil {
			t.Errorf("ParseMatchers(%q) = %v, want it accepted", ok, err)
		}
	}
}

func TestRegexCompiledOnce(t *testing.T) {
	a, err := ParseMatchers(`{x=~"cached-[0-9]+"}`)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := ParseMatchers(`{y=~"cached-[0-9]+"}`)
	if a[0].re != b[0].re {
		t.Error("the same expression was compiled twice")
	}
	if !b[0].Matches("cached-12") || b[0].Matches("cached-") {
		t.Error("the cached expression does not match as it should")
	}
}

// TestPathologicalListDoesNotStallIngest lists 100,000 series with the
// most expensive selector the limits allow while single-point batches are
// ingested: the listing holds a shard's lock for one chunk at a time, so
// each ingest is answered while it runs; a listing whose client left
// stops.
func TestPathologicalListDoesNotStallIngest(t *testing.T) {
	if testing.Short() {
		t.Skip("100,000 series")
	}
	n := 100_000
	if raceEnabled {
		n = 10_000
	}
	if v, err := strconv.Atoi(os.Getenv("DETECTOR_LIST_SERIES")); err == nil && v > 0 {
		n = v // the figure at a million series: DETECTOR_LIST_SERIES=1000000
	}
	e := newEngine(t, Options{Shards: 2, Now: newClock().Now, MaxSeries: -1})
	batch := make([]anomaly.Sample, 0, 10_000)
	for i := range n {
		batch = append(batch, anomaly.Sample{Series: fmt.Sprintf(`m{id="%08d-some-longer-value"}`, i), TimestampMs: 1000, Value: 1})
		if len(batch) == cap(batch) {
			if _, err := e.Ingest(context.Background(), batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	// Close to MaxRegexCost, matching nothing after much work.
	sel := `{id=~"` + strings.Repeat("(.?)", 28) + `x"}`
	if _, err := ParseMatchers(sel); err != nil {
		t.Fatalf("the test's selector is refused: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	listed := make(chan time.Duration, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		start := time.Now()
		if _, err := e.List(context.Background(), sel, 10, ""); err != nil {
			t.Errorf("List: %v", err)
		}
		listed <- time.Since(start)
	}()
	var worst time.Duration
	ingests := 0
	ts := int64(2000)
loop:
	for {
		select {
		case took := <-listed:
			t.Logf("List over %d series took %s; %d ingests meanwhile, the slowest %s", n, took, ingests, worst)
			break loop
		default:
		}
		start := time.Now()
		if _, err := e.Ingest(context.Background(), []anomaly.Sample{{Series: `m{id="00000001-some-longer-value"}`, TimestampMs: ts, Value: 1}}); err != nil {
			t.Fatal(err)
		}
		ts += 1000
		worst = max(worst, time.Since(start))
		ingests++
		time.Sleep(time.Millisecond)
	}
	wg.Wait()
	// A generous bound for a busy machine: a whole-shard lock would hold
	// ingest for the whole listing.
	if worst > time.Second && !raceEnabled {
		t.Errorf("an ingest waited %s while the listing ran", worst)
	}

	// A cancelled listing stops between chunks.
	cancel()
	if _, err := e.List(ctx, sel, 10, ""); !errors.Is(err, context.Canceled) {
		t.Errorf("List with a cancelled context = %v, want context.Canceled", err)
	}
}
