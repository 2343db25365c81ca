package cluster_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/cluster"
	"github.com/anomalyd/detector/peers"
	"github.com/anomalyd/detector/series"
)

// groupOf is the peer group of a series under a rule grouping by groupBy,
// as package peers forms it: the metric name and the group-by values.
func groupOf(k series.Key, groupBy []string) string {
	g := k.Name()
	for _, l := range groupBy {
		g += "|" + l + "=" + k.Label(l)
	}
	return g
}

// With points keyed by the key labels, every series of one peer group has
// one partition when the rule groups by every key label, whatever its
// other labels; a rule that groups by fewer labels than the key has
// groups spread over partitions, and CheckPeerRule refuses it.
func TestPeerGroupOnOnePartition(t *testing.T) {
	var all []series.Key
	for title := range 12 {
		for device := range 6 {
			for region := range 3 {
				all = append(all, series.MustParse(fmt.Sprintf(`plays{device="dev%d",region="r%d",title="%d",bitrate="%d"}`, device, region, 81230+title, 1000*(device%2))))
			}
		}
	}
	cases := []struct {
		keyLabels, groupBy []string
		whole              bool // every group on one partition
	}{
		{[]string{"title"}, []string{"title"}, true},
		{[]string{"title"}, []string{"title", "region"}, true},
		{[]string{"title", "region"}, []string{"region", "title", "bitrate"}, true},
		{[]string{"__name__", "title"}, []string{"title"}, true},
		{[]string{"title"}, []string{"region"}, false},
		{[]string{"title", "region"}, []string{"title"}, false},
		{nil, []string{"title"}, false},
	}
	for _, c := range cases {
		parts := map[string]map[int32]bool{}
		for _, k := range all {
			key, err := cluster.SeriesKey(k.Canonical(), c.keyLabels, series.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			g := groupOf(k, c.groupBy)
			if parts[g] == nil {
				parts[g] = map[int32]bool{}
			}
			parts[g][cluster.Partition([]byte(key), 12)] = true
		}
		split := 0
		for _, ps := range parts {
			if len(ps) > 1 {
				split++
			}
		}
		if c.whole && split > 0 {
			t.Errorf("key %v, group by %v: %d of %d groups span partitions", c.keyLabels, c.groupBy, split, len(parts))
		}
		if !c.whole && split == 0 {
			t.Errorf("key %v, group by %v: no group spans partitions; the case proves nothing", c.keyLabels, c.groupBy)
		}
		err := cluster.CheckPeerRule(peers.Rule{Name: "r", Match: "plays", GroupBy: c.groupBy}, c.keyLabels)
		if (err == nil) != c.whole {
			t.Errorf("key %v, group by %v: CheckPeerRule = %v, want refused %v", c.keyLabels, c.groupBy, err, !c.whole)
		}
		var ae *anomaly.Error
		if err != nil && (!errors.As(err, &ae) || ae.Code != anomaly.CodeInvalidArgument || ae.Field != "group_by" || !strings.Contains(ae.Message, "--kafka-key-labels")) {
			t.Errorf("CheckPeerRule error %#v", err)
		}
	}
}

func TestCheckPeerRules(t *testing.T) {
	rules := []peers.Rule{
		{Name: "ok", Match: "plays", GroupBy: []string{"title", "region"}},
		{Name: "split", Match: "plays", GroupBy: []string{"region"}},
	}
	errs := cluster.CheckPeerRules(rules, []string{"title"})
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), `"split"`) || !strings.Contains(errs[0].Error(), "add title to group_by") {
		t.Fatalf("CheckPeerRules = %v", errs)
	}
}

// RoutingKey reads the series package's canonical text: the key labels'
// pairs as written, __name__ for the metric name, the whole key when none
// is present; and any spelling of a series gives the same key.
func TestRoutingKeyOfCanonicalSeries(t *testing.T) {
	cases := []struct {
		key    string
		labels []string
		want   string
	}{
		{`plays{device="tv",title="81234"}`, nil, `plays{device="tv",title="81234"}`},
		{`plays{device="tv",title="81234"}`, []string{"title"}, `title="81234"`},
		{`plays{app="api",bitrate="3000",device="tv",title="81234"}`, []string{"title", "app"}, `app="api",title="81234"`},
		{`plays{device="tv"}`, []string{"title"}, `plays{device="tv"}`},
		{`plays`, []string{"title"}, `plays`},
		{`plays{device="tv"}`, []string{"__name__"}, `__name__="plays"`},
		{`plays{device="tv",title="81234"}`, []string{"__name__", "title"}, `__name__="plays",title="81234"`},
		{`plays{a="x,title=\"y\"",title="z"}`, []string{"title"}, `title="z"`},
		{`plays{a="x\\",title=\"y\"}`, []string{"title"}, `plays{a="x\\",title=\"y\"}`},
		{`plays{title="a\"b,c"}`, []string{"title"}, `title="a\"b,c"`},
	}
	for _, c := range cases {
		if got := cluster.RoutingKey(c.key, c.labels); got != c.want {
			t.Errorf("RoutingKey(%s, %v) = %s, want %s", c.key, c.labels, got, c.want)
		}
	}
	a, err1 := cluster.SeriesKey(`plays{ title = "81234", device="tv" }`, []string{"title"}, series.Limits{})
	b, err2 := cluster.SeriesKey(`plays{device="tv",title="81234"}`, []string{"title"}, series.Limits{})
	if err1 != nil || err2 != nil || a != b || a != `title="81234"` {
		t.Fatalf("SeriesKey of two spellings: %q %v, %q %v", a, err1, b, err2)
	}
	if _, err := cluster.SeriesKey(`plays{`, nil, series.Limits{}); err == nil {
		t.Fatal("SeriesKey of invalid text: no error")
	}
}

func FuzzRoutingKey(f *testing.F) {
	f.Add(`plays{device="tv",title="81234"}`, "title")
	f.Add(`plays{a="x\"",title="y"}`, "title")
	f.Fuzz(func(t *testing.T, text, label string) {
		k, err := series.Parse(text, series.Limits{})
		if err != nil {
			return
		}
		got := cluster.RoutingKey(k.Canonical(), []string{label})
		// The key is the label's pair when the series has it, else the
		// whole series.
		if v := k.Label(label); v != "" && label != "__name__" {
			if !strings.HasPrefix(got, label+`="`) {
				t.Fatalf("RoutingKey(%s, %s) = %s", k.Canonical(), label, got)
			}
		} else if label != "__name__" && got != k.Canonical() {
			t.Fatalf("RoutingKey(%s, %s) = %s, want the whole key", k.Canonical(), label, got)
		}
	})
}
