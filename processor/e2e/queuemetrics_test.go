package e2e

import (
	"context"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookline/hookline/internal/queuemetrics"
	"github.com/hookline/hookline/internal/testenv"
	"github.com/hookline/hookline/internal/topology"
	"github.com/hookline/hookline/processor/collector"
	"github.com/hookline/hookline/processor/command"
)

// memPublisher records what a processor's collector would send to CloudWatch
// (the wire format is tested in processor/collector against a fake endpoint).
type memPublisher struct {
	mu   sync.Mutex
	data []collector.Datum
}

func (m *memPublisher) Publish(_ context.Context, d []collector.Datum) error {
	m.mu.Lock()
	m.data = append(m.data, d...)
	m.mu.Unlock()
	return nil
}

func (m *memPublisher) snapshot() []collector.Datum {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]collector.Datum(nil), m.data...)
}

// Two processors (prod's minimum) with the collector on: one of them
// publishes the queue figures while they drain a backlog, the depth comes
// down to 0 and the consumption rate shows the drain; when that task stops,
// the other carries on.
func TestQueueMetricsFromProcessorTasks(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	cfg := e.config(addrs{})
	cfg.QueueMetrics.Endpoints = []string{prom()}
	mg, err := url.Parse(testenv.RabbitMQMgmt())
	require.NoError(t, err)
	cfg.QueueMetrics.Management = []string{mg.Scheme + "://" + mg.Host}
	// As production runs it: the collector's own user (monitoring tag).
	cfg.QueueMetrics.Username, cfg.QueueMetrics.Password = testenv.Credentials(t, e.vhost, topology.Collector)
	cfg.QueueMetrics.Stack = "hookline-e2e"
	cfg.QueueMetrics.Vhost = e.vhost
	cfg.QueueMetrics.Interval = 2 * time.Second
	pa, pb := &memPublisher{}, &memPublisher{}
	a := e.startWith(cfg, command.Options{QueueMetrics: pa})
	b := e.startWith(cfg, command.Options{QueueMetrics: pb})

	unique, all := workload("qm", 200, 20)
	e.publish(all...)
	e.waitDrained(unique, 2*time.Minute)

	var leader, other *memPublisher
	var stopLeader func()
	require.Eventually(t, func() bool {
		consumed := func(p *memPublisher) bool {
			for _, d := range p.snapshot() {
				if d.Name == queuemetrics.ConsumeRate && d.Value > 0 {
					return true
				}
			}
			return false
		}
		switch {
		case consumed(pa):
			leader, other, stopLeader = pa, pb, func() { a.stop(t) }
		case consumed(pb):
			leader, other, stopLeader = pb, pa, func() { b.stop(t) }
		}
		return leader != nil
	}, time.Minute, 100*time.Millisecond, "no consumption rate published")
	require.Eventually(t, func() bool {
		d := leader.snapshot()
		for i := len(d) - 1; i >= 0; i-- {
			if d[i].Name == queuemetrics.InboundDepth {
				return d[i].Value == 0
			}
		}
		return false
	}, time.Minute, 100*time.Millisecond, "depth never back to 0")
	// One datum per metric per slot across both tasks, whoever held the
	// lease (a pause on a loaded machine may hand it over).
	slots := map[time.Time]int{}
	for _, d := range append(pa.snapshot(), pb.snapshot()...) {
		if d.Name == queuemetrics.InboundDepth {
			slots[d.At.Truncate(cfg.QueueMetrics.Interval)]++
		}
	}
	for s, n := range slots {
		require.Equal(t, 1, n, "slot %v has %d depth data", s, n)
	}

	// The broker's five health counts come with the queue figures, all 0
	// on the healthy local node.
	health := map[string]int{}
	for _, d := range leader.snapshot() {
		switch d.Name {
		case queuemetrics.BrokerMemoryAlarm, queuemetrics.BrokerDiskAlarm, queuemetrics.QuorumMembersMissing,
			queuemetrics.QueuesWithoutLeader, queuemetrics.Partitions:
			require.Zero(t, d.Value, "%s", d.Name)
			health[d.Name]++
		}
	}
	require.Len(t, health, 5, "health counts published: %v", health)

	stopLeader()
	before := len(other.snapshot())
	require.Eventually(t, func() bool { return len(other.snapshot()) > before }, 30*time.Second, 100*time.Millisecond,
		"the remaining task did not carry on")
}

func prom() string {
	if v := os.Getenv("TEST_RABBITMQ_PROMETHEUS"); v != "" {
		return v
	}
	return "http://127.0.0.1:15692"
}
