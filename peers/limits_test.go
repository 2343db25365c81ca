package peers

import (
	"context"
	"fmt"
	"testing"

	"github.com/anomalyd/detector/anomaly"
)

func TestRuleLimits(t *testing.T) {
	s, err := New(context.Background(), Options{MaxSeries: 1000, RuleLimits: RuleLimits{MaxRules: 3}})
	if err != nil {
		t.Fatal(err)
	}
	// Budget 1000 x 512 bytes: windows up to 127 steps.
	if _, err := s.AddRule(context.Background(), Rule{Name: "long", Match: "cpu", Window: 128}); anomaly.ErrorCode(err) != anomaly.CodeLimit {
		t.Errorf("a 128-step window over 1000 tracked series = %v, want %s", err, anomaly.CodeLimit)
	}
	for i := range 3 {
		if _, err := s.AddRule(context.Background(), Rule{Name: fmt.Sprint("r", i), Match: "cpu", Window: 127}); err != nil {
			t.Fatalf("rule %d: %v", i, err)
		}
	}
	if _, err := s.AddRule(context.Background(), Rule{Name: "one-too-many", Match: "cpu"}); anomaly.ErrorCode(err) != anomaly.CodeLimit {
		t.Errorf("a fourth rule with --peer-max-rules 3 = %v, want %s", err, anomaly.CodeLimit)
	}
	if _, err := s.AddRule(context.Background(), Rule{Name: "regex", Match: `{id=~"` + fmt.Sprintf("%0600d", 0) + `"}`}); anomaly.ErrorCode(err) == "" || err == nil {
		t.Errorf("a rule with a 600-byte regex was accepted")
	}
}
