package main

import (
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// composeFile is what TestDeployCompose reads of deploy/kafka/compose.yaml.
type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Command     any               `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		DependsOn   map[string]struct {
			Condition string `yaml:"condition"`
		} `yaml:"depends_on"`
	} `yaml:"services"`
}

// The compose file of the Kafka deployment (never run here: no Docker on
// the test machines) is valid YAML, runs Kafka in KRaft mode on three
// brokers, creates the topics with the settings the README asks for, and
// starts three detectors whose flags `detector serve` accepts.
func TestDeployCompose(t *testing.T) {
	b, err := os.ReadFile("../../deploy/kafka/compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	var brokers, detectors []string
	for name, s := range c.Services {
		switch {
		case strings.HasPrefix(name, "kafka-") && name != "kafka-init":
			brokers = append(brokers, name)
			if s.Environment["KAFKA_PROCESS_ROLES"] != "broker,controller" || s.Environment["KAFKA_NODE_ID"] == "" ||
				s.Environment["KAFKA_DEFAULT_REPLICATION_FACTOR"] != "3" || s.Environment["KAFKA_MIN_INSYNC_REPLICAS"] != "2" {
				t.Errorf("broker %s: not a KRaft broker with replication 3 and min.insync 2: %v", name, s.Environment)
			}
		case strings.HasPrefix(name, "detector-"):
			detectors = append(detectors, name)
		case strings.Contains(name, "zookeeper"):
			t.Errorf("service %s: the deployment runs Kafka in KRaft mode", name)
		}
	}
	if len(brokers) != 3 || len(detectors) != 3 {
		t.Fatalf("brokers %v, detectors %v: want three of each", brokers, detectors)
	}
	initCmd := strings.Join(toStrings(c.Services["kafka-init"].Command), "\n")
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`--topic points --partitions 12 --replication-factor 3 --config min.insync.replicas=2 --config retention.ms=\d+`),
		regexp.MustCompile(`--topic points-changelog --partitions 12 --replication-factor 3 --config cleanup.policy=compact`),
		regexp.MustCompile(`--topic points-events --partitions 12 --replication-factor 3`),
	} {
		if !want.MatchString(initCmd) {
			t.Errorf("kafka-init does not create %s", want)
		}
	}
	// The flags: all of them when this build has the Kafka consumer,
	// else all but the consumer's own (--kafka-*, save the key labels).
	_, _, kerr := parseServe([]string{"--kafka-brokers=kafka-1:9092"}, io.Discard)
	advertised := map[string]bool{}
	for _, name := range detectors {
		s := c.Services[name]
		if s.DependsOn["kafka-init"].Condition != "service_completed_successfully" {
			t.Errorf("%s does not wait for the topics", name)
		}
		args := toStrings(s.Command)
		if len(args) == 0 || args[0] != "serve" {
			t.Fatalf("%s command %v: want serve ...", name, args)
		}
		var flags []string
		for _, a := range args[1:] {
			if v, ok := strings.CutPrefix(a, "--kafka-advertise="); ok {
				advertised[v] = true
				if v != "http://"+name+":8080" {
					t.Errorf("%s advertises %s", name, v)
				}
			}
			if kerr != nil && strings.HasPrefix(a, "--kafka-") && !strings.HasPrefix(a, "--kafka-key-labels") {
				continue
			}
			flags = append(flags, a)
		}
		cfg, _, err := parseServe(flags, io.Discard)
		if err != nil {
			t.Fatalf("%s: detector serve %v: %v", name, flags, err)
		}
		if !slices.Equal(cfg.Cluster.KeyLabels, []string{"title"}) {
			t.Errorf("%s keys points by %v, want [title]", name, cfg.Cluster.KeyLabels)
		}
	}
	if kerr != nil {
		t.Logf("this build has no Kafka consumer (%v): the --kafka-* flags of the compose file were not checked", kerr)
	}
	if len(advertised) != 3 {
		t.Errorf("detectors advertise %v: want three distinct URLs", advertised)
	}
	// The README documents the deployment and the settings that matter.
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	sec := regexp.MustCompile(`(?s)## Scale out on Kafka: deployment\n(.*?)\n## `).FindSubmatch(readme)
	if sec == nil {
		t.Fatal(`README has no section "Scale out on Kafka: deployment"`)
	}
	for _, want := range []string{"deploy/kafka/compose.yaml", "partitions", "replication factor", "min.insync.replicas",
		"cleanup.policy=compact", "retention", "--kafka-checkpoint-interval", "--kafka-session-timeout", "--kafka-key-labels", "group_by"} {
		if !strings.Contains(string(sec[1]), want) {
			t.Errorf("the deployment section does not mention %s", want)
		}
	}
}

func toStrings(v any) []string {
	switch v := v.(type) {
	case string:
		return strings.Fields(v)
	case []any:
		var out []string
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
