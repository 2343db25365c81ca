package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/eventlog"
	"github.com/anomalyd/detector/ingest"
	"github.com/anomalyd/detector/kafka"
)

// KafkaConfig is `detector serve` as a member of a consumer group over a
// points topic (kafka.Config says what each field does). Kafka is off
// while Brokers is empty.
type KafkaConfig struct {
	Brokers            []string
	Topic              string
	Group              string
	ChangelogTopic     string
	EventsTopic        string
	EventsGroup        string
	Format             string
	Precision          string
	Advertise          string
	CheckpointInterval time.Duration
	SessionTimeout     time.Duration
	MaxPollRecords     int
	Partitions         int
	Replication        int
	// KeyLabels are the labels of the record key (cluster.RoutingKey):
	// Cluster.KeyLabels, the flag --kafka-key-labels (cluster.go).
	KeyLabels []string
}

func bindKafkaFlags(fs *flag.FlagSet, c *KafkaConfig) {
	fs.Var(commaFlag{&c.Brokers}, "kafka-brokers", "Kafka seed brokers host:port, comma-separated: consume points from --kafka-topic as a member of --kafka-group (empty: no Kafka)")
	fs.StringVar(&c.Topic, "kafka-topic", "points", "the points topic: records keyed by the series' routing key, values JSON points or line protocol")
	fs.StringVar(&c.Group, "kafka-group", "detector", "the consumer group of the detectors; each partition is owned by one member")
	fs.StringVar(&c.ChangelogTopic, "kafka-changelog-topic", "", "compacted topic of the checkpointed baselines, one partition per points partition (default <topic>-changelog; created when missing)")
	fs.StringVar(&c.EventsTopic, "kafka-events-topic", "", "topic the anomaly and peer events are produced to, keyed by series (default <topic>-events; \"-\": none)")
	fs.StringVar(&c.EventsGroup, "kafka-events-group", "", "consumer group that hands the events topic to webhooks, Alertmanager and remediation once per cluster (default <group>-events)")
	fs.StringVar(&c.Format, "kafka-format", kafka.FormatAuto, "record values: auto, json (a POST /api/v1/points item or an array of them) or line (InfluxDB line protocol)")
	fs.StringVar(&c.Precision, "kafka-precision", "ns", "timestamp precision of line-protocol records: ns, us, ms or s")
	fs.StringVar(&c.Advertise, "kafka-advertise", "", "this node's base URL as the other nodes reach it, published to the group for query forwarding (default http://<listen address>)")
	fs.DurationVar(&c.CheckpointInterval, "kafka-checkpoint-interval", 5*time.Second, "how often baselines are checkpointed to the changelog and offsets committed (a crash replays at most this much input)")
	fs.DurationVar(&c.SessionTimeout, "kafka-session-timeout", 10*time.Second, "group session timeout: how long the partitions of a dead node wait before they move")
	fs.IntVar(&c.MaxPollRecords, "kafka-max-poll-records", 4096, "records handed to the writer per poll")
	fs.IntVar(&c.Partitions, "kafka-partitions", 0, "partitions of the points topic when it must be created (0: it must exist)")
	fs.IntVar(&c.Replication, "kafka-replication", 0, "replication factor of the topics the detector creates (0: the broker default)")
}

// commaFlag is a comma-separated list; repeating the flag appends.
type commaFlag struct{ vals *[]string }

func (f commaFlag) String() string {
	if f.vals == nil {
		return ""
	}
	return strings.Join(*f.vals, ",")
}

func (f commaFlag) Set(s string) error {
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*f.vals = append(*f.vals, v)
		}
	}
	return nil
}

// kafkaParts is the Kafka side of a node: the group consumer and the
// event producer.
type kafkaParts struct {
	cfg      KafkaConfig
	writer   kafka.Ingester
	consumer *kafka.Consumer
	events   *kafka.EventsOut
	// clusterLog is the log the hub and the remediator read when events
	// go through Kafka: the events of the whole cluster that this node's
	// share of the events group delivers (nil: the service's own log).
	clusterLog *eventlog.Memory
	eventsIn   *kafka.EventsIn
}

// clusterEvents says whether the subscribers read the events topic (once
// per cluster) instead of this node's event log.
func (c KafkaConfig) clusterEvents() bool { return len(c.Brokers) > 0 && c.EventsTopic != "-" }

// newKafkaParts is called when the service's log is known: with cluster
// events the hub and the remediator read the cluster log instead.
func (m *Main) newKafkaParts(cfg *Config) {
	m.kafka = &kafkaParts{cfg: cfg.Kafka}
	if len(cfg.Kafka.Brokers) > 0 {
		// Queries find the owner of their series over the group's
		// directory (cluster.go; the directory is set once joined).
		m.cfg.Cluster.Enabled = true
		m.kafka.cfg.KeyLabels = cfg.Cluster.KeyLabels
	}
	if cfg.Kafka.clusterEvents() {
		m.kafka.clusterLog = eventlog.NewMemory(cfg.EventRetention, 0)
		m.hubLog.Log, m.hubLog.Cursors = m.kafka.clusterLog, eventlog.NewMemoryCursors()
	}
}

// localObserver is the service's Observe hook: the hub observes the
// events it delivers, which with cluster events come from Kafka.
func (m *Main) localObserver(cfg *Config) func(anomaly.Event) {
	if cfg.Kafka.clusterEvents() {
		return nil
	}
	return m.hub.Observe
}

// startKafka joins the group once the listener is known (its address is
// the advertised URL by default). The engine's series restored from a
// local snapshot are dropped first: in a group a node holds only what its
// partitions' changelog restores.
func (m *Main) startKafka() error {
	k := m.kafka
	if k == nil || len(k.cfg.Brokers) == 0 {
		return nil
	}
	c := k.cfg
	adv := c.Advertise
	if adv == "" {
		host, port, _ := net.SplitHostPort(m.Addr())
		if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
			m.log.Warn("--kafka-advertise is not set and the listen address is unspecified: other nodes cannot forward queries here", "listen", m.Addr())
		}
		scheme := "http"
		if m.cfg.Auth.TLSCertFile != "" {
			scheme = "https"
		}
		adv = scheme + "://" + net.JoinHostPort(host, port)
	}
	prec, err := ingest.ParsePrecision(c.Precision)
	if err != nil {
		return fmt.Errorf("--kafka-precision: %w", err)
	}
	events := c.EventsTopic
	switch events {
	case "":
		events = c.Topic + "-events"
	case "-":
		events = ""
	}
	if n := m.engine.Drop(func(string) bool { return true }); n > 0 {
		m.log.Info("dropped series of the local snapshot: the partitions' changelog restores them", "series", n)
	}
	cons, err := kafka.New(kafka.Config{
		Brokers:            c.Brokers,
		Topic:              c.Topic,
		Group:              c.Group,
		ChangelogTopic:     c.ChangelogTopic,
		EventsTopic:        events,
		EventsGroup:        c.EventsGroup,
		KeyLabels:          c.KeyLabels,
		Format:             c.Format,
		Precision:          prec,
		Advertise:          adv,
		CheckpointInterval: c.CheckpointInterval,
		SessionTimeout:     c.SessionTimeout,
		MaxPollRecords:     c.MaxPollRecords,
		Partitions:         int32(c.Partitions),
		Replication:        int16(c.Replication),
		Logger:             m.log.With("component", "kafka"),
		Registerer:         m.reg,
	}, m.engine, k.writer)
	if err != nil {
		return err
	}
	k.consumer = cons
	if events != "" {
		if k.events, err = kafka.NewEventsOut(cons); err != nil {
			cons.Close(context.Background())
			return err
		}
		m.svc.Subscribe("kafka-events", k.events.Handle, kafka.EventsRunOptions())
	}
	if k.clusterLog != nil && events != "" {
		log := k.clusterLog
		if k.eventsIn, err = kafka.NewEventsIn(cons, func(ev anomaly.Event) {
			m.hub.Observe(ev)
			log.Append(ev)
		}); err != nil {
			cons.Close(context.Background())
			k.events.Close()
			return err
		}
		k.eventsIn.Start()
	}
	cons.Start()
	m.SetDirectory(cons.Directory())
	m.log.Info("kafka consumer started", "brokers", strings.Join(c.Brokers, ","), "topic", c.Topic, "group", c.Group,
		"partitions", cons.Partitions(), "advertise", adv, "events_topic", events)
	return nil
}

// closeKafka checkpoints and leaves the group; it runs before the engine
// drains.
func (m *Main) closeKafka(ctx context.Context) error {
	k := m.kafka
	if k == nil || k.consumer == nil {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := k.consumer.Close(cctx)
	if k.events != nil {
		// The events of the last points learned reach the topic before
		// the node goes (the rest are produced at the next start from a
		// durable log, or lost with an in-memory one).
		if !k.events.Wait(m.svc.Events().Last(), 10*time.Second) {
			m.log.Warn("events not all produced to Kafka before shutdown")
		}
		k.events.Close()
	}
	if k.eventsIn != nil {
		k.eventsIn.Close()
	}
	return err
}
