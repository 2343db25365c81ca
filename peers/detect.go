package peers

import (
	"math"

	"github.com/anomalyd/detector/anomaly"
)

// Limits of the stateless detection.
const (
	// MaxDetectMembers is the largest group DetectMembers accepts.
	MaxDetectMembers = 10_000
	// MaxDetectValues is the longest window DetectMembers accepts.
	MaxDetectValues = 10_000
	// MaxDetectPoints bounds members × values.
	MaxDetectPoints = 2_000_000
)

// DetectMember is one member of a stateless request: a name and its window
// of values (equal length for all members, oldest first, no gaps).
type DetectMember struct {
	Member string    `json:"member"`
	Values []float64 `json:"values"`
}

// DetectRequest is the body of POST /api/v1/peers/detect. Eps nil means
// automatic; MinPts nil means automatic; Tolerance nil means the default
// (3); MinMembers nil means DefaultMinMembers.
type DetectRequest struct {
	Members    []DetectMember `json:"members"`
	Eps        *float64       `json:"eps,omitempty"`
	MinPts     *int           `json:"min_pts,omitempty"`
	Tolerance  *float64       `json:"tolerance,omitempty"`
	MinMembers *int           `json:"min_members,omitempty"`
	// Scale: "group", "member" or "auto" ("" = DefaultScale).
	Scale Scale `json:"scale,omitempty"`
}

// DetectResponse is the answer: the eps used (in scaled units: RMS
// difference relative to the group's scale, or on the member scale to each
// member's own level), the min_pts used, the scale judged on, one result
// per member in request order, and Skipped when the group could not be
// judged (then no member is an outlier).
type DetectResponse struct {
	Eps     float64        `json:"eps"`
	MinPts  int            `json:"min_pts"`
	Scale   Scale          `json:"scale,omitempty"`
	Members []MemberResult `json:"members"`
	Skipped string         `json:"skipped,omitempty"`
}

// DetectMembers judges one group given in full by the caller, with the same
// rules as the Store's evaluation (scaling, automatic eps, banding,
// reasons). It is safe for concurrent use (it shares no state).
//
// Errors are *anomaly.Error: CodeMissingField or CodeInvalidArgument with
// Index set to the offending member for a member without a name, a
// duplicate name, an empty window, a window of another length than the
// first or a non-finite value; CodeInvalidArgument for eps, min_pts,
// tolerance or min_members out of range or an unknown scale; CodeLimit beyond MaxDetectMembers,
// MaxDetectValues or MaxDetectPoints.
func DetectMembers(req DetectRequest) (DetectResponse, error) {
	n := len(req.Members)
	if n == 0 {
		return DetectResponse{}, &anomaly.Error{Code: anomaly.CodeMissingField, Field: "members", Message: "no members", Index: -1}
	}
	if n > MaxDetectMembers {
		return DetectResponse{}, anomaly.Errorf(anomaly.CodeLimit, "%d members, limit is %d", n, MaxDetectMembers)
	}
	p, err := detectParams(req)
	if err != nil {
		return DetectResponse{}, err
	}
	w := len(req.Members[0].Values)
	if w > MaxDetectValues {
		return DetectResponse{}, anomaly.FieldError(anomaly.CodeLimit, 0, "values", "%d values, limit is %d", w, MaxDetectValues)
	}
	if n*w > MaxDetectPoints {
		return DetectResponse{}, anomaly.Errorf(anomaly.CodeLimit, "%d members × %d values, limit is %d points", n, w, MaxDetectPoints)
	}
	seen := make(map[string]int, n)
	vals := make([]float64, 0, n*w)
	for i, m := range req.Members {
		if m.Member == "" {
			return DetectResponse{}, anomaly.FieldError(anomaly.CodeMissingField, i, "member", "member name is empty")
		}
		if j, dup := seen[m.Member]; dup {
			return DetectResponse{}, anomaly.FieldError(anomaly.CodeInvalidArgument, i, "member", "member %q repeats item %d", m.Member, j)
		}
		seen[m.Member] = i
		if len(m.Values) == 0 {
			return DetectResponse{}, anomaly.FieldError(anomaly.CodeMissingField, i, "values", "no values")
		}
		if len(m.Values) != w {
			return DetectResponse{}, anomaly.FieldError(anomaly.CodeInvalidArgument, i, "values", "%d values, want %d like the first member", len(m.Values), w)
		}
		for t, v := range m.Values {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return DetectResponse{}, anomaly.FieldError(anomaly.CodeInvalidArgument, i, "values", "value %d is %v", t, v)
			}
		}
		vals = append(vals, m.Values...)
	}
	var a analyzer
	var g groupOut
	a.analyze(vals, n, w, p, &g)
	resp := DetectResponse{Eps: g.eps, MinPts: g.minPts, Scale: g.scale, Skipped: g.skipped, Members: make([]MemberResult, n)}
	for i, m := range req.Members {
		resp.Members[i] = memberResult(&g, i, m.Member, "")
	}
	return resp, nil
}

func detectParams(req DetectRequest) (params, error) {
	p := params{minMembers: DefaultMinMembers, scale: req.Scale}
	if !req.Scale.valid() {
		return p, &anomaly.Error{Code: anomaly.CodeInvalidArgument, Field: "scale", Message: scaleErr(req.Scale), Index: -1}
	}
	if req.Eps != nil {
		if e := *req.Eps; !(e > 0) || math.IsInf(e, 0) {
			return p, &anomaly.Error{Code: anomaly.CodeInvalidArgument, Field: "eps", Message: "eps must be a finite number > 0 (omit it for automatic)", Index: -1}
		}
		p.eps = *req.Eps
	}
	if req.MinPts != nil {
		if *req.MinPts < 1 || *req.MinPts > MaxDetectMembers {
			return p, &anomaly.Error{Code: anomaly.CodeInvalidArgument, Field: "min_pts", Message: "min_pts must be between 1 and 10000 (omit it for automatic)", Index: -1}
		}
		p.minPts = *req.MinPts
	}
	if req.Tolerance != nil {
		if t := *req.Tolerance; !(t > 0) || t > MaxTolerance {
			return p, &anomaly.Error{Code: anomaly.CodeInvalidArgument, Field: "tolerance", Message: "tolerance must be > 0 and at most 100", Index: -1}
		}
		p.tolerance = *req.Tolerance
	}
	if req.MinMembers != nil {
		if *req.MinMembers < 2 || *req.MinMembers > MaxDetectMembers {
			return p, &anomaly.Error{Code: anomaly.CodeInvalidArgument, Field: "min_members", Message: "min_members must be between 2 and 10000", Index: -1}
		}
		p.minMembers = *req.MinMembers
	}
	return p, nil
}

// memberResult renders member i of g.
func memberResult(g *groupOut, i int, name, series string) MemberResult {
	o := &g.out[i]
	return MemberResult{
		Member:   name,
		Series:   series,
		Cluster:  int(o.cluster),
		Outlier:  o.status == stOutlier,
		Distance: anomaly.Finite(float64(o.distance)),
		Reason:   memberReason(g, i),
		DiffFrom: int(o.diffFrom),
		DiffTo:   int(o.diffTo),
	}
}
