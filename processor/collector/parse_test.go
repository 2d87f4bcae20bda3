package collector

import (
	"strings"
	"testing"
)

// What RabbitMQ 4.1+ answers for the five families (label layout from
// rabbitmq_prometheus's core metrics collector): the per-queue counters are
// used and the per-channel ones, present too, are not counted twice.
const exposition41 = `# TYPE rabbitmq_detailed_queue_messages gauge
# HELP rabbitmq_detailed_queue_messages Sum of ready and unacknowledged messages - total queue depth
rabbitmq_detailed_queue_messages{vhost="hookline",queue="webhooks.inbound"} 120
rabbitmq_detailed_queue_messages{vhost="hookline",queue="webhooks.dead"} 3
rabbitmq_detailed_queue_messages{vhost="other",queue="webhooks.inbound"} 999
# TYPE rabbitmq_detailed_queue_exchange_messages_published_total counter
rabbitmq_detailed_queue_exchange_messages_published_total{vhost="hookline",exchange="webhooks",queue="webhooks.inbound"} 5000
rabbitmq_detailed_queue_exchange_messages_published_total{vhost="hookline",exchange="webhooks.retry",queue="webhooks.retry.5"} 40
# TYPE rabbitmq_detailed_queue_messages_acked_total counter
rabbitmq_detailed_queue_messages_acked_total{vhost="hookline",queue="webhooks.inbound"} 4880
rabbitmq_detailed_queue_messages_acked_total{vhost="hookline",queue="webhooks.dead"} 7
# TYPE rabbitmq_detailed_channel_messages_acked_total counter
rabbitmq_detailed_channel_messages_acked_total{channel="<0.1.0>",vhost="hookline",queue="webhooks.inbound"} 4880
# TYPE rabbitmq_detailed_queue_messages_published_total counter
rabbitmq_detailed_queue_messages_published_total{channel="<0.2.0>",queue_vhost="hookline",queue="webhooks.inbound",exchange_vhost="hookline",exchange="webhooks"} 5000
rabbitmq_identity_info{rabbitmq_node="rabbit@a",rabbitmq_cluster="c",rabbitmq_cluster_permanent_id="x\"y\\z"} 1
`

func TestParsePrefersPerQueueCounters(t *testing.T) {
	s, err := parse(strings.NewReader(exposition41), "hookline", "webhooks.inbound")
	if err != nil {
		t.Fatal(err)
	}
	if s.depth["webhooks.inbound"] != 120 || s.depth["webhooks.dead"] != 3 || len(s.depth) != 2 {
		t.Errorf("depth %v", s.depth)
	}
	if len(s.published) != 1 || sum(s.published) != 5000 {
		t.Errorf("published %v; want the one per-queue series", s.published)
	}
	if len(s.acked) != 1 || sum(s.acked) != 4880 {
		t.Errorf("acked %v; want the one per-queue series", s.acked)
	}
	for k := range s.acked {
		if strings.Contains(k, "channel") {
			t.Errorf("acked counts a per-channel series %s", k)
		}
	}
}

func sum(m map[string]float64) (s float64) {
	for _, v := range m {
		s += v
	}
	return s
}

func TestIncrease(t *testing.T) {
	for _, tc := range []struct {
		name      string
		prev, cur map[string]float64
		want      float64
	}{
		{"steady", map[string]float64{"a": 10, "b": 5}, map[string]float64{"a": 25, "b": 5}, 15},
		{"broker restart: counters back near zero", map[string]float64{"a": 1000}, map[string]float64{"a": 12}, 12},
		{"new channel counts whole", map[string]float64{"a": 10}, map[string]float64{"a": 10, "b": 4}, 4},
		{"closed channel counts nothing more", map[string]float64{"a": 10, "b": 4}, map[string]float64{"a": 11}, 1},
		{"no previous sample", nil, map[string]float64{"a": 3}, 3},
	} {
		if got := increase(tc.prev, tc.cur); got != tc.want {
			t.Errorf("%s: %v; want %v", tc.name, got, tc.want)
		}
	}
}

func TestParseLine(t *testing.T) {
	name, labels, v, err := parseLine(`m{a="x\"y",b="c\\d",c="e\nf"} 1.5e3 1700000000`)
	if err != nil || name != "m" || v != 1500 || labels["a"] != `x"y` || labels["b"] != `c\d` || labels["c"] != "e\nf" {
		t.Errorf("got %q %v %v %v", name, labels, v, err)
	}
	for _, bad := range []string{`m{a="x"`, `m{a=x} 1`, `m 1 2 3`, `m{a="x"} NaNx`, `{a="x"} 1`} {
		if _, _, _, err := parseLine(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// The endpoint's text is outside input: never a panic, and what parses
// re-parses the same.
func FuzzParseLine(f *testing.F) {
	for _, l := range strings.Split(exposition41, "\n") {
		f.Add(l)
	}
	f.Fuzz(func(t *testing.T, line string) {
		if strings.ContainsAny(line, "\r\n") {
			return // one line at a time; the scanner splits lines
		}
		name, _, _, err := parseLine(line)
		if err != nil || name == "" {
			return
		}
		if _, err := parse(strings.NewReader(line), "v", "q"); err != nil {
			t.Errorf("parseLine accepted %q but parse refused it: %v", line, err)
		}
	})
}
