package main

import (
	"flag"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/anomalyd/detector/cluster"
)

// ClusterConfig holds the settings of a node of a scaled-out deployment
// that the query side needs: how points are keyed, and who owns what.
//
// Wiring with the Kafka consumer: Enabled is true whenever --kafka-brokers
// is given (set before NewMain builds the handler), the consumer keys
// records by these KeyLabels (the one --kafka-key-labels flag), and once
// the consumer exists its Directory is handed over with
// (*Main).SetDirectory; until then per-series queries get 503 with
// Retry-After and listings are this node's own.
type ClusterConfig struct {
	// KeyLabels are the labels the record key of a point is made of
	// (cluster.RoutingKey; --kafka-key-labels); empty means the whole
	// series. Every member of a peer group must share them, so every peer
	// rule must group by all of them (cluster.CheckPeerRule).
	KeyLabels []string
	// Directory says which node owns which partition. When it is set, or
	// Enabled is, requests are forwarded to the owner of their series and
	// listings are merged over every member (cluster.Forwarder). A
	// Directory known only later is given with (*Main).SetDirectory.
	Directory cluster.Directory
	Enabled   bool
	// ForwardTimeout bounds one forwarded request or one member's share of
	// a merged listing (--cluster-forward-timeout); default 10 s.
	ForwardTimeout time.Duration
}

func bindClusterFlags(fs *flag.FlagSet, c *ClusterConfig) {
	fs.Var(labelsFlag{&c.KeyLabels}, "kafka-key-labels",
		"labels the record key of a point is made of, comma-separated (empty: the whole series); every peer rule must group by all of them so that a group stays on one node")
	fs.DurationVar(&c.ForwardTimeout, "cluster-forward-timeout", cluster.DefaultTimeout,
		"time allowed for a query forwarded to the node owning its series, or for one node's share of a merged listing")
}

// labelsFlag is a comma-separated list of label names.
type labelsFlag struct{ vals *[]string }

func (f labelsFlag) String() string {
	if f.vals == nil {
		return ""
	}
	return strings.Join(*f.vals, ",")
}

func (f labelsFlag) Set(s string) error {
	*f.vals = (*f.vals)[:0]
	for _, l := range strings.Split(s, ",") {
		if l = strings.TrimSpace(l); l != "" {
			*f.vals = append(*f.vals, l)
		}
	}
	return nil
}

// lateDirectory answers for the Directory given to SetDirectory; until then
// no partition is known (forwarded requests get 503 with Retry-After).
type lateDirectory struct {
	self string
	d    atomic.Pointer[cluster.Directory]
}

func (l *lateDirectory) get() cluster.Directory {
	if p := l.d.Load(); p != nil {
		return *p
	}
	return nil
}

func (l *lateDirectory) Self() string {
	if d := l.get(); d != nil {
		return d.Self()
	}
	return l.self
}

func (l *lateDirectory) Partitions() int32 {
	if d := l.get(); d != nil {
		return d.Partitions()
	}
	return 0
}

func (l *lateDirectory) Owner(p int32) (string, bool) {
	if d := l.get(); d != nil {
		return d.Owner(p)
	}
	return "", false
}

func (l *lateDirectory) Members() []string {
	if d := l.get(); d != nil {
		return d.Members()
	}
	return nil
}

// SetDirectory gives the node the Directory of its group (the Kafka
// consumer's, once it has joined). It is safe to call at any time.
func (m *Main) SetDirectory(d cluster.Directory) {
	if m.clusterDir != nil && d != nil {
		m.clusterDir.d.Store(&d)
	}
}

// withCluster puts the forwarder in front of the API when the node is part
// of a cluster, and warns about peer rules whose groups the key labels
// would split.
func (m *Main) withCluster(h http.Handler) (http.Handler, error) {
	c := &m.cfg.Cluster
	if c.Directory == nil && !c.Enabled {
		return h, nil
	}
	m.clusterDir = &lateDirectory{self: "http://" + m.cfg.Listen}
	if c.Directory != nil {
		m.SetDirectory(c.Directory)
	}
	fwd, err := cluster.NewForwarder(cluster.Config{
		Directory:    m.clusterDir,
		KeyLabels:    c.KeyLabels,
		Limits:       m.engine.Limits(),
		Timeout:      c.ForwardTimeout,
		MaxBodyBytes: m.cfg.API.MaxBodyBytes,
		DefaultLimit: m.cfg.API.DefaultLimit,
		MaxLimit:     m.cfg.API.MaxLimit,
		Logger:       m.log.With("component", "cluster"),
		Registerer:   m.reg,
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	for _, err := range cluster.CheckPeerRules(m.peers.Rules(), c.KeyLabels) {
		m.log.Error("peer rule cannot be judged on this cluster; delete it or change --kafka-key-labels", "error", err)
	}
	return fwd.Handler(h), nil
}
