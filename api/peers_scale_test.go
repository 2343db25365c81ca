package api

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"testing"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/peers"
)

// TestPeerDetectScale: the stateless route takes the scale setting. Ten
// members of sizes spread over a factor of 10 with one falling to 40% of
// its own level: on the member scale (and auto) only it is flagged, with
// a reason in its own terms; on the group scale the sizes decide.
func TestPeerDetectScale(t *testing.T) {
	a, _ := newPeersEnv(t)
	type member struct {
		Member string    `json:"member"`
		Values []float64 `json:"values"`
	}
	var ms []member
	for i := range 10 {
		level := 30 * math.Pow(10, float64((i*7)%10)/9)
		var vals []float64
		for s := range 30 {
			v := level * (1 + 0.2*math.Sin(float64(s)/5)) * (1 + 0.01*math.Sin(float64(i*13+s*7)))
			if i == 6 && s >= 22 {
				v *= 0.4
			}
			vals = append(vals, v)
		}
		ms = append(ms, member{fmt.Sprintf("d%d", i), vals})
	}
	for _, c := range []struct {
		scale     string
		wantScale peers.Scale
	}{{"", peers.ScaleMember}, {"auto", peers.ScaleMember}, {"member", peers.ScaleMember}, {"group", peers.ScaleGroup}} {
		body := map[string]any{"members": ms}
		if c.scale != "" {
			body["scale"] = c.scale
		}
		b, _ := json.Marshal(body)
		rec := serve(a, "POST", "/api/v1/peers/detect", string(b))
		if rec.Code != http.StatusOK {
			t.Fatalf("scale %q: POST detect = %d (%s)", c.scale, rec.Code, rec.Body.String())
		}
		var got peers.DetectResponse
		decode(t, rec, &got)
		if got.Scale != c.wantScale {
			t.Errorf("scale %q: judged on %q, want %q", c.scale, got.Scale, c.wantScale)
		}
		if c.wantScale != peers.ScaleMember {
			continue
		}
		for i, m := range got.Members {
			if m.Outlier != (i == 6) {
				t.Errorf("scale %q: member %s outlier = %v (%s)", c.scale, m.Member, m.Outlier, m.Reason)
			}
		}
		if r := got.Members[6].Reason; r != "" && !(len(r) > 8 && r[:8] == "fell to ") {
			t.Errorf("scale %q: d6 reason %q, want fell to ...", c.scale, r)
		}
	}
	rec := serve(a, "POST", "/api/v1/peers/detect", `{"members":[{"member":"a","values":[1,2,3]}],"scale":"size"}`)
	wantError(t, "scale size", rec, http.StatusBadRequest, anomaly.CodeInvalidArgument, "scale", -1)
	rec = serve(a, "POST", "/api/v1/peers/rules", `{"name":"r","match":"m","scale":"member"}`)
	if rec.Code != http.StatusCreated {
		t.Errorf("POST rule with scale = %d (%s)", rec.Code, rec.Body.String())
	}
}
