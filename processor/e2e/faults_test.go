package e2e

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/hookline/hookline/internal/testenv"
	"github.com/hookline/hookline/processor/handler"
	"github.com/hookline/hookline/processor/health"
)

// TestDependencyCutDuringTraffic cuts each dependency (through a TCP proxy)
// while events flow, then restores it: nothing is lost, nothing is
// dead-lettered, and processing resumes by itself. "blackhole" keeps the
// connections open but swallows the service's replies (a hung server); the
// processor's read timeouts turn that into an outage it rides out.
func TestDependencyCutDuringTraffic(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ dep, fault string }{
		{health.RabbitMQ, "cut"}, {health.Redis, "cut"}, {health.MySQL, "cut"},
		{health.Redis, "blackhole"}, {health.MySQL, "blackhole"},
	} {
		t.Run(tc.dep+"_"+tc.fault, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOpts{})
			var a addrs
			var proxy *testenv.Proxy
			switch tc.dep {
			case health.RabbitMQ:
				proxy = testenv.NewProxy(t, testenv.RabbitMQAddr())
				a.rabbitmq = proxy.Addr()
			case health.Redis:
				proxy = testenv.NewProxy(t, testenv.RedisAddr())
				a.redis = proxy.Addr()
			case health.MySQL:
				proxy = testenv.NewProxy(t, testenv.MySQLAddr())
				a.mysql = proxy.Addr()
			}
			cfg := e.config(a)
			if tc.dep == health.MySQL {
				cfg.MySQLDSN += "&readTimeout=3s&writeTimeout=3s" // a hung server surfaces in seconds, not the default 30
			}
			p := e.start(cfg, nil)
			unique, all := workload("cut-"+tc.dep+tc.fault, 1500, 30)
			third := len(all) / 3

			e.publish(all[:third]...)
			require.Eventually(t, func() bool { return e.events() >= 100 }, time.Minute, 20*time.Millisecond)
			if tc.fault == "cut" {
				proxy.Cut()
			} else {
				proxy.Blackhole()
			}
			e.publish(all[third : 2*third]...) // traffic during the outage
			require.Eventually(t, func() bool { return !p.health.OK(tc.dep) }, time.Minute, 20*time.Millisecond,
				"the outage shows in /health/ready")
			time.Sleep(2 * time.Second) // let the outage last a while (pacing, not an assertion)
			if tc.fault == "cut" {
				proxy.Restore()
			} else {
				proxy.Heal()
			}
			e.publish(all[2*third:]...)

			e.waitDrained(unique, 3*time.Minute)
			e.requireExactlyOnce(unique)
			require.Eventually(t, func() bool { return p.health.Snapshot(nil).GlobalStatus }, time.Minute, 50*time.Millisecond,
				"ready again")
		})
	}
}

// TestStaleWorkerCannotOverwrite: worker A holds an old event of entity X in
// a slow handler; its lock is lost — deleted (as after a Redis failover) or
// expired (A cut off from Redis, so its refreshes fail, for longer than the
// TTL); worker B applies a newer event of X. When A finally commits, the
// fence keeps B's newer state.
func TestStaleWorkerCannotOverwrite(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"deleted", "expired"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOpts{})
			entered, release := make(chan struct{}), make(chan struct{})
			enter := sync.OnceFunc(func() { close(entered) })
			regA := handler.NewRegistry()
			regA.Register(handler.Any, handler.Any, handler.Func(func(ctx context.Context, tx handler.Tx, ev *handler.Event) error {
				if ev.ID == "old" {
					enter() // a handler may run again (its transaction redone): close once
					<-release
				}
				return handler.Default.Handle(ctx, tx, ev)
			}))
			proxy := testenv.NewProxy(t, testenv.RedisAddr())
			cfgA := e.config(addrs{redis: proxy.Addr()})
			cfgA.Prefetch, cfgA.Concurrency = 1, 1 // A holds only the old event
			cfgA.LockTTL = 2 * time.Second
			a := e.start(cfgA, regA)
			e.publish(event{id: "old", entity: "X", at: base})
			select {
			case <-entered:
			case <-time.After(time.Minute):
				t.Fatal("A never started the old event")
			}

			rdb := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr()})
			defer rdb.Close()
			key := e.lockPrefix + "shop:X"
			switch how {
			case "deleted":
				n, err := rdb.Del(context.Background(), key).Result()
				require.NoError(t, err)
				require.Equal(t, int64(1), n, "A held the lock")
			case "expired":
				proxy.Cut()
				require.Eventually(t, func() bool { return rdb.Exists(context.Background(), key).Val() == 0 },
					time.Minute, 50*time.Millisecond, "A's lock expires once A cannot refresh it")
			}

			e.start(e.config(addrs{}), nil)
			e.publish(event{id: "new", entity: "X", at: base.Add(time.Second)})
			require.Eventually(t, func() bool {
				return e.count("SELECT COUNT(*) FROM webhook_entities WHERE entity_key = 'X' AND last_event_id = 'new'") == 1
			}, time.Minute, 20*time.Millisecond, "B applied the newer event")

			close(release)
			require.Eventually(t, func() bool { return e.events() == 2 && e.settled() }, time.Minute, 20*time.Millisecond)
			require.Eventually(t, func() bool { return metricValue(t, a, "stale_entity_writes_total") == 1 },
				time.Minute, 20*time.Millisecond, "A's write was fenced out")
			require.Equal(t, 1, e.count("SELECT COUNT(*) FROM webhook_entities WHERE entity_key = 'X' AND last_event_id = 'new' AND version = 1"),
				"the entity still holds the newer state, written once")
		})
	}
}

// labelValue reads one labelled counter of p.
func labelValue(t *testing.T, p *proc, suffix, label string) float64 {
	mfs, err := p.metrics.Registry.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if !strings.HasSuffix(mf.GetName(), suffix) {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == label {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// metricValue reads one unlabelled counter or gauge of p by name suffix.
func metricValue(t *testing.T, p *proc, suffix string) float64 {
	mfs, err := p.metrics.Registry.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if strings.HasSuffix(mf.GetName(), suffix) && len(mf.GetMetric()) > 0 {
			m := mf.GetMetric()[0]
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}
