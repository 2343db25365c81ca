package peers

import (
	"fmt"

	"github.com/anomalyd/detector/anomaly"
)

// RuleLimits bound what the peer rules together may cost. A rule beyond
// them is refused (CodeLimit) when it is added; a stored rule beyond them
// is not loaded (and logged).
//
// Memory: tracked windows are capped by Options.MaxSeries, whatever the
// rules, and a window of a rule with window w costs (w + 1) x 4 bytes of
// values, so the windows never take more than MaxSeries x (w_max + 1) x 4
// bytes. A rule is admitted only while that product stays within
// MaxWindowBytes.
type RuleLimits struct {
	// MaxRules bounds the number of rules: each one is matched against
	// every new series. Default DefaultMaxRules.
	MaxRules int
	// MaxWindowBytes bounds the memory of the windows (see above).
	// Default MaxSeries x DefaultWindowBytesPerSeries.
	MaxWindowBytes int64
}

const (
	// DefaultMaxRules is the default RuleLimits.MaxRules.
	DefaultMaxRules = 64
	// DefaultWindowBytesPerSeries sizes the default window budget from
	// the tracked-series cap: 512 bytes, a window of up to 127 steps for
	// every tracked series. Longer windows need a larger budget or a
	// smaller cap.
	DefaultWindowBytesPerSeries = 512
)

func (l *RuleLimits) fill(maxSeries int64) {
	if l.MaxRules <= 0 {
		l.MaxRules = DefaultMaxRules
	}
	if l.MaxWindowBytes <= 0 {
		if maxSeries > 0 {
			l.MaxWindowBytes = maxSeries * DefaultWindowBytesPerSeries
		} else {
			l.MaxWindowBytes = 1 << 62 // no series cap: no window bound either
		}
	}
}

// checkBudget refuses a rule that the limits cannot hold next to the rules
// of old.
func (s *Store) checkBudget(old *ruleSet, c *compiled) error {
	if n := len(old.rules); n >= s.ruleLimits.MaxRules {
		return &anomaly.Error{Code: anomaly.CodeLimit, Index: -1,
			Message: fmt.Sprintf("%d peer rules exist, the limit (--peer-max-rules): delete one first", n)}
	}
	if s.max > 0 {
		need := s.max * int64(c.rule.Window+1) * 4
		if need > s.ruleLimits.MaxWindowBytes {
			maxW := s.ruleLimits.MaxWindowBytes/(s.max*4) - 1
			return &anomaly.Error{Code: anomaly.CodeLimit, Field: "window", Index: -1,
				Message: fmt.Sprintf("a window of %d steps for up to %d tracked series could take %d MiB, above the window budget of %d MiB (--peer-window-bytes): at most %d steps",
					c.rule.Window, s.max, need>>20, s.ruleLimits.MaxWindowBytes>>20, maxW)}
		}
	}
	return nil
}

// saveError is the error of rules that could not be persisted (a read-only
// or full data directory): 503 with the cause, not an opaque 500. The rule
// set is left as it was.
func saveError(err error) error {
	return &anomaly.Error{Code: anomaly.CodeUnavailable, Index: -1, Err: err,
		Message: "the peer rules cannot be saved, nothing was changed: " + err.Error()}
}
