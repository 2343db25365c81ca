// Package cluster holds what the nodes of a scaled-out deployment agree on:
// which partition a series belongs to, and which node owns a partition.
//
// CONTRACT (other packages compile against these names; keep them):
//   - Partition(key, n) is Kafka's default partitioner (murmur2 of the
//     record key, sign bit cleared, modulo n), so that a producer using its
//     client's default partitioner with the routing key as the record key
//     and the service agree on where a series lives.
//   - RoutingKey(canonical, labels) is the record key of a series: the whole
//     canonical key when labels is empty, otherwise only the named labels
//     (a peer group's labels), in canonical order, so that every member of a
//     peer group lands on one partition.
//   - Directory says who owns a partition. Implementations are safe for
//     concurrent use; their answers may change at any time (a rebalance).
//
// On top of them, a Forwarder (NewForwarder, Forwarder.Handler) makes any
// node answer for any series: per-series requests go to the owner, listings
// are merged over every member (SeriesPage, AnomalyPage, OutlierList), peer
// rules are checked (CheckPeerRule) and applied on every member.
//
// Asking one node for its own state only (what a test or an operator
// comparing nodes wants): send the request with HopHeader set to any
// value. The node then answers a per-series request itself when it owns the
// series and 508 forward_loop when it does not, and a listing from its own
// engine or timeline, never merged.
package cluster

import (
	"slices"
	"strings"
)

// Directory tells which node owns which partition of the points topic.
// It is safe for concurrent use.
type Directory interface {
	// Self is this node's advertised base URL, such as http://10.0.0.5:8080.
	Self() string
	// Partitions is the partition count of the points topic, 0 while unknown.
	Partitions() int32
	// Owner is the advertised base URL of the node that owns partition p;
	// ok is false while no node owns it (a rebalance in progress).
	Owner(p int32) (url string, ok bool)
	// Members lists the advertised base URLs of every node of the group,
	// this one included, sorted.
	Members() []string
}

// Partition returns the partition of a record key among n partitions, as
// Kafka's default partitioner computes it: murmur2(key) & 0x7fffffff % n.
// It returns 0 when n <= 0.
func Partition(key []byte, n int32) int32 {
	if n <= 0 {
		return 0
	}
	return int32(murmur2(key)&0x7fffffff) % n
}

// murmur2 is the 32-bit MurmurHash2 variant of Kafka's Utils.murmur2
// (seed 0x9747b28c).
func murmur2(data []byte) uint32 {
	const (
		seed = 0x9747b28c
		m    = 0x5bd1e995
		r    = 24
	)
	n := len(data)
	h := uint32(seed) ^ uint32(n)
	i := 0
	for ; i+4 <= n; i += 4 {
		k := uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 | uint32(data[i+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	switch n - i {
	case 3:
		h ^= uint32(data[i+2]) << 16
		fallthrough
	case 2:
		h ^= uint32(data[i+1]) << 8
		fallthrough
	case 1:
		h ^= uint32(data[i])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}

// RoutingKey returns the record key of a series given its canonical key.
// With no labels it is the canonical key itself; otherwise it keeps only
// the labels named in labels, in canonical order, so that every series
// with the same values of those labels lands on one partition. A series
// that has none of the labels keeps its whole key, so it still has exactly
// one home.
//
// canonical is the series package's canonical text (series.Key.Canonical:
// `name{a="x",b="y"}`, labels sorted, values escaped); there the name
// __name__ stands for the metric name, and the key is the kept pairs as
// they are written, comma-separated: RoutingKey(`plays{device="tv",title="81234"}`,
// ["title"]) is `title="81234"`. A producer that writes points to the
// points topic keys each record with these bytes (SeriesKey computes them
// from any series text). For compatibility a key of bare name=value pairs
// (`device=tv,title=81234`) is filtered the same way.
func RoutingKey(canonical string, labels []string) string {
	if len(labels) == 0 {
		return canonical
	}
	if name, ok := metricName(canonical); ok {
		return promRoutingKey(canonical, name, labels)
	}
	var b strings.Builder
	rest := canonical
	for rest != "" {
		pair := rest
		if i := strings.IndexByte(rest, ','); i >= 0 {
			pair, rest = rest[:i], rest[i+1:]
		} else {
			rest = ""
		}
		name := pair
		if j := strings.IndexByte(pair, '='); j >= 0 {
			name = pair[:j]
		}
		for _, l := range labels {
			if l == name {
				if b.Len() > 0 {
					b.WriteByte(',')
				}
				b.WriteString(pair)
				break
			}
		}
	}
	if b.Len() == 0 {
		return canonical
	}
	return b.String()
}

// metricName returns the metric name of a key in the series package's
// form (a name, then '{' or the end), and false for a key of bare pairs.
func metricName(s string) (string, bool) {
	i := 0
	for i < len(s) {
		c := s[i]
		if c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9' {
			i++
			continue
		}
		break
	}
	if i == 0 || (i < len(s) && s[i] != '{') {
		return "", false
	}
	return s[:i], true
}

func promRoutingKey(canonical, name string, labels []string) string {
	var b strings.Builder
	if slices.Contains(labels, "__name__") {
		b.WriteString(`__name__="`)
		b.WriteString(name) // metric names need no escapes
		b.WriteByte('"')
	}
	s := canonical[len(name):]
	if len(s) >= 2 {
		s = s[1 : len(s)-1] // strip braces
	} else {
		s = ""
	}
	for s != "" {
		eq := strings.IndexByte(s, '=')
		if eq < 0 || eq+1 >= len(s) || s[eq+1] != '"' {
			return canonical // not canonical text: route by all of it
		}
		end := eq + 2
		for end < len(s) && s[end] != '"' {
			if s[end] == '\\' {
				end++
			}
			end++
		}
		if end >= len(s) {
			return canonical
		}
		pair := s[:end+1]
		if slices.Contains(labels, s[:eq]) {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(pair)
		}
		s = s[end+1:]
		if s != "" && s[0] == ',' {
			s = s[1:]
		}
	}
	if b.Len() == 0 {
		return canonical
	}
	return b.String()
}
