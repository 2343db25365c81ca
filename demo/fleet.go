// Package demo simulates a video-streaming fleet for `detector demo`: play
// starts per title, device and bitrate with daily and weekly cycles and
// count noise, the CPU of the servers of two edge clusters (peer groups),
// and a script of incidents at the end of the simulated span:
//
//   - a deploy of the Android player (a change event) five minutes before
//     Android play starts collapse on every title and bitrate;
//   - the 4K (bitrate 16000) encode of one title breaks: its play starts fall
//     to almost nothing on every device;
//   - one server of a cluster drifts away from its peers (CPU climbing for
//     the last three hours), a peer-group outlier.
//
// Everything is deterministic for a seed. The package knows nothing of the
// service: Push sends the points over HTTP.
package demo

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Point is one simulated sample, as POST /api/v1/points takes it.
type Point struct {
	Series    string  `json:"series"`
	Timestamp float64 `json:"timestamp"` // Unix seconds
	Value     float64 `json:"value"`
}

// Change is a change event of the script (a deploy).
type Change struct {
	At     time.Time
	Kind   string
	Title  string
	Labels map[string]string
}

// Fleet is the simulated catalogue and its incident script.
type Fleet struct {
	Titles   []string
	Devices  []string
	Bitrates []string
	Clusters map[string][]string // cluster -> servers
	// End is the end of the simulated span; incidents are placed relative
	// to it.
	End  time.Time
	Seed uint64

	popularity map[string]float64
	share      map[string]float64
	brShare    map[string]float64
	offset     map[string]float64 // per-server steady CPU offset
}

// Incident identities, for tests and the notebook.
const (
	FailingDevice  = "android"
	BrokenTitle    = "the_crown"
	BrokenBitrate  = "16000"
	DriftCluster   = "edge-eu-west"
	DriftServer    = "eu-07"
	PlayMetric     = "play_starts"
	CPUMetric      = "server_cpu"
	DeviceFailFor  = 70 * time.Minute // Android fails for the last 70 minutes
	DeployBefore   = 75 * time.Minute // the deploy, 5 minutes before
	EncodeFailFor  = 45 * time.Minute
	DriftFor       = 3 * time.Hour
	deviceFailRate = 0.12 // Android keeps 12% of its play starts
	encodeFailRate = 0.03
)

// NewFleet returns the default fleet ending at end: 12 titles x 8 devices x
// 4 bitrates = 384 play-start series and 2 clusters of 10 servers.
func NewFleet(end time.Time, seed uint64) *Fleet {
	f := &Fleet{
		Titles: []string{"stranger_things", "the_crown", "wednesday", "squid_game", "bridgerton", "the_witcher",
			"ozark", "dark", "narcos", "money_heist", "black_mirror", "the_night_agent"},
		Devices:  []string{"tv_sony", "tv_samsung", "roku", "fire_tv", "iphone", FailingDevice, "web", "ps5"},
		Bitrates: []string{"1080", "3000", "6000", BrokenBitrate},
		Clusters: map[string][]string{},
		End:      end.Truncate(time.Second),
		Seed:     seed,
	}
	for _, c := range []struct{ name, prefix string }{{"edge-us-east", "us"}, {DriftCluster, "eu"}} {
		for i := 1; i <= 10; i++ {
			f.Clusters[c.name] = append(f.Clusters[c.name], fmt.Sprintf("%s-%02d", c.prefix, i))
		}
	}
	r := rand.New(rand.NewPCG(seed, 1))
	f.popularity = map[string]float64{}
	for i, t := range f.Titles {
		f.popularity[t] = 400 / math.Pow(float64(i+1), 0.7) * (0.85 + 0.3*r.Float64())
	}
	f.share = map[string]float64{"tv_sony": 0.9, "tv_samsung": 1.1, "roku": 1, "fire_tv": 0.7, "iphone": 1.2, FailingDevice: 1.3, "web": 0.8, "ps5": 0.4}
	f.brShare = map[string]float64{"1080": 0.8, "3000": 1, "6000": 0.7, BrokenBitrate: 0.35}
	f.offset = map[string]float64{}
	for _, servers := range f.Clusters {
		for _, s := range servers {
			f.offset[s] = 1 + 0.06*(r.Float64()-0.5)
		}
	}
	return f
}

// PlaySeries is the series text of one play-start key.
func PlaySeries(title, device, bitrate string) string {
	return fmt.Sprintf(`%s{title=%q,device=%q,bitrate=%q}`, PlayMetric, title, device, bitrate)
}

// CPUSeries is the series text of one server's CPU.
func CPUSeries(cluster, server string) string {
	return fmt.Sprintf(`%s{cluster=%q,server=%q}`, CPUMetric, cluster, server)
}

// SeriesCount is the number of series the fleet sends per step.
func (f *Fleet) SeriesCount() int {
	n := len(f.Titles) * len(f.Devices) * len(f.Bitrates)
	for _, s := range f.Clusters {
		n += len(s)
	}
	return n
}

// Changes is the script's change events.
func (f *Fleet) Changes() []Change {
	return []Change{{
		At:     f.End.Add(-DeployBefore),
		Kind:   "deploy",
		Title:  "deploy player-android 5.2.0",
		Labels: map[string]string{"service": "player-android", "version": "5.2.0", "device": FailingDevice},
	}}
}

// daily is the viewing cycle at t: low in the early morning, a peak in the
// evening (UTC stands in for the audience's time), a little more at
// weekends.
func daily(t time.Time) float64 {
	h := float64(t.Hour()) + float64(t.Minute())/60
	d := 1 + 0.55*math.Cos(2*math.Pi*(h-20.5)/24) + 0.15*math.Cos(4*math.Pi*(h-19)/24)
	// Weekends add a steady amount across the day (a day-of-week offset).
	switch t.Weekday() {
	case time.Saturday, time.Sunday:
		d += 0.1
	case time.Friday:
		d += 0.05
	}
	return d
}

// Append appends the points of every series at t to dst.
func (f *Fleet) Append(dst []Point, t time.Time) []Point {
	// Noise depends on (seed, time) only, so a step can be regenerated.
	r := rand.New(rand.NewPCG(f.Seed, uint64(t.Unix())))
	ts := float64(t.UnixMilli()) / 1000
	cyc := daily(t)
	toEnd := f.End.Sub(t)
	for _, title := range f.Titles {
		for _, dev := range f.Devices {
			for _, br := range f.Bitrates {
				mean := f.popularity[title] * f.share[dev] * f.brShare[br] * cyc
				if dev == FailingDevice && toEnd < DeviceFailFor {
					mean *= deviceFailRate
				}
				if title == BrokenTitle && br == BrokenBitrate && toEnd < EncodeFailFor {
					mean *= encodeFailRate
				}
				// Counts: Poisson-like noise (normal approximation) plus 4%
				// of extra variation.
				v := mean*(1+0.04*r.NormFloat64()) + math.Sqrt(mean)*r.NormFloat64()
				dst = append(dst, Point{Series: PlaySeries(title, dev, br), Timestamp: ts, Value: math.Max(0, math.Round(v))})
			}
		}
	}
	for cluster, servers := range f.Clusters {
		for _, s := range servers {
			cpu := 18 + 42*cyc/1.7*f.offset[s]
			if cluster == DriftCluster && s == DriftServer && toEnd < DriftFor {
				cpu *= 1 + 0.9*min(1, 1-float64(toEnd)/float64(DriftFor))
			}
			cpu += 1.2 * r.NormFloat64()
			dst = append(dst, Point{Series: CPUSeries(cluster, s), Timestamp: ts, Value: math.Round(math.Min(100, math.Max(0, cpu))*10) / 10})
		}
	}
	return dst
}
