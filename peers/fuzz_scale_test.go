package peers

import (
	"math"
	"testing"
)

// FuzzDetectScales judges groups made from arbitrary bytes (sizes over many
// orders of magnitude, zeros, negative values, steps and spikes) on every
// scale: no panic, one finite result per member, spans inside the window.
func FuzzDetectScales(f *testing.F) {
	f.Add([]byte{5, 20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
	f.Add([]byte{9, 29, 0, 0, 0, 255, 128, 7, 1, 1, 1, 1, 200, 3})
	f.Add([]byte{2, 2, 17})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 3 {
			return
		}
		n, w := 3+int(data[0])%12, 3+int(data[1])%40
		body := data[2:]
		at := func(i int) byte { return body[i%len(body)] }
		var req DetectRequest
		for i := range n {
			size := math.Pow(10, float64(at(i)%12)-3)
			vals := make([]float64, w)
			for t := range w {
				b := at(i*w + t + 1)
				v := size * (1 + float64(b%16)/8)
				switch b >> 6 {
				case 1:
					v = 0
				case 2:
					v = -v
				}
				vals[t] = v
			}
			req.Members = append(req.Members, DetectMember{Member: string(rune('a' + i)), Values: vals})
		}
		for _, sc := range []Scale{ScaleAuto, ScaleGroup, ScaleMember} {
			req.Scale = sc
			resp, err := DetectMembers(req)
			if err != nil {
				t.Fatalf("scale %s: %v", sc, err)
			}
			if len(resp.Members) != n {
				t.Fatalf("scale %s: %d results for %d members", sc, len(resp.Members), n)
			}
			for _, m := range resp.Members {
				if math.IsNaN(m.Distance) || math.IsInf(m.Distance, 0) || m.DiffTo >= w || m.DiffFrom > m.DiffTo {
					t.Fatalf("scale %s: member %+v (window %d)", sc, m, w)
				}
				if m.Outlier && m.Reason == "" {
					t.Fatalf("scale %s: outlier without a reason: %+v", sc, m)
				}
			}
		}
	})
}
