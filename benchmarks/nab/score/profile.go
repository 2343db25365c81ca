package score

import (
	"encoding/json"
	"fmt"
	"os"
)

// Profile is a NAB cost profile: the weights of a true positive, a false
// positive, a false negative and a true negative (the last one is unused by
// the scoring rules).
type Profile struct {
	TP, FP, FN, TN float64
}

// The names of NAB's three profiles, in the order reports list them.
const (
	Standard = "standard"
	LowFP    = "reward_low_FP_rate"
	LowFN    = "reward_low_FN_rate"
)

// LoadProfiles reads NAB's profiles.json.
func LoadProfiles(path string) (map[string]Profile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read profiles: %w", err)
	}
	return ParseProfiles(b)
}

// ParseProfiles is LoadProfiles on the file's content:
// {"name": {"CostMatrix": {"tpWeight": .., "fpWeight": .., "fnWeight": .., "tnWeight": ..}}}.
func ParseProfiles(content []byte) (map[string]Profile, error) {
	var raw map[string]struct {
		CostMatrix *struct {
			TP *float64 `json:"tpWeight"`
			FP *float64 `json:"fpWeight"`
			FN *float64 `json:"fnWeight"`
			TN *float64 `json:"tnWeight"`
		}
	}
	if err := json.Unmarshal(content, &raw); err != nil {
		return nil, fmt.Errorf("parse profiles: %w", err)
	}
	if len(raw) == 0 {
		return nil, fmt.Errorf("parse profiles: no profile")
	}
	out := make(map[string]Profile, len(raw))
	for name, p := range raw {
		c := p.CostMatrix
		if c == nil || c.TP == nil || c.FP == nil || c.FN == nil {
			return nil, fmt.Errorf("parse profiles: %s: CostMatrix needs tpWeight, fpWeight and fnWeight", name)
		}
		pr := Profile{TP: *c.TP, FP: *c.FP, FN: *c.FN}
		if c.TN != nil {
			pr.TN = *c.TN
		}
		out[name] = pr
	}
	return out, nil
}

// StandardProfiles returns NAB's three profiles as published
// (the content of profiles.json).
func StandardProfiles() map[string]Profile {
	return map[string]Profile{
		Standard: {TP: 1, FP: 0.11, FN: 1, TN: 1},
		LowFP:    {TP: 1, FP: 0.22, FN: 1, TN: 1},
		LowFN:    {TP: 1, FP: 0.11, FN: 2, TN: 1},
	}
}
