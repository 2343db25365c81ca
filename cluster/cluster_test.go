package cluster

import "testing"

// The expected values are those of Kafka's own murmur2 test
// (clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java).
func TestMurmur2MatchesKafka(t *testing.T) {
	cases := []struct {
		in   string
		want int32
	}{
		{"21", -973932308},
		{"foobar", -790332482},
		{"a-little-bit-long-string", -985981536},
		{"a-little-bit-longer-string", -1486304829},
		{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
		{"abc", 479470107},
	}
	for _, c := range cases {
		if got := int32(murmur2([]byte(c.in))); got != c.want {
			t.Errorf("murmur2(%q) = %d, want %d", c.in, got, c.want)
		}
	}
}

func TestPartition(t *testing.T) {
	if got := Partition([]byte("x"), 0); got != 0 {
		t.Fatalf("Partition(x, 0) = %d, want 0", got)
	}
	seen := map[int32]bool{}
	for i := 0; i < 1000; i++ {
		p := Partition([]byte{byte(i), byte(i >> 8), 'k'}, 12)
		if p < 0 || p >= 12 {
			t.Fatalf("Partition out of range: %d", p)
		}
		seen[p] = true
	}
	if len(seen) != 12 {
		t.Fatalf("1000 keys reached %d of 12 partitions", len(seen))
	}
}

func TestRoutingKey(t *testing.T) {
	cases := []struct {
		key    string
		labels []string
		want   string
	}{
		{"device=tv,title=81234", nil, "device=tv,title=81234"},
		{"device=tv,title=81234", []string{"title"}, "title=81234"},
		{"app=api,bitrate=3000,device=tv,title=81234", []string{"title", "app"}, "app=api,title=81234"},
		{"device=tv", []string{"title"}, "device=tv"},
		{"__name__=cpu,host=a", []string{"__name__"}, "__name__=cpu"},
	}
	for _, c := range cases {
		if got := RoutingKey(c.key, c.labels); got != c.want {
			t.Errorf("RoutingKey(%q, %v) = %q, want %q", c.key, c.labels, got, c.want)
		}
	}
}
