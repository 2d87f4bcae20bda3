package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookline/hookline/processor/command"
	"github.com/hookline/hookline/processor/handler"
)

// slowHandlers keep each event a while in its transaction, so deliveries
// pile up in the processor if nothing holds them back.
func slowHandlers() *handler.Registry {
	r := handler.NewRegistry()
	r.Register(handler.Any, handler.Any, handler.Func(func(ctx context.Context, tx handler.Tx, ev *handler.Event) error {
		time.Sleep(500 * time.Millisecond)
		return handler.Default.Handle(ctx, tx, ev)
	}))
	return r
}

// TestLargeBodiesStayUnderBudget (issue 9 item 6): a backlog of 4 MiB
// bodies (the source accepts up to 4 MiB), processed slowly, with the bodies
// held at once never above BODY_BUDGET; the same backlog without a budget,
// with only PREFETCH to bound it, holds more than the budget: the byte
// accounting is what bounds the first run.
func TestLargeBodiesStayUnderBudget(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{maxBody: 4 << 20})
	const pad = 4<<20 - 256 // body() wraps the pad in a little JSON: just under 4 MiB
	const budget = 16 << 20
	first, _ := workload("big", 12, 6)
	e.publishPadded(pad, first...)

	cfg := e.config(addrs{})
	cfg.BodyBudget = budget
	p := e.startWith(cfg, command.Options{Handlers: slowHandlers()})
	e.waitDrained(first, 3*time.Minute)
	e.requireExactlyOnce(first)
	peak := p.metrics.BodyPeak()
	t.Logf("budget %d MiB: peak %.1f MiB held, prefetch %v", budget>>20, float64(peak)/(1<<20), metricValue(t, p, "_prefetch"))
	require.LessOrEqual(t, peak, int64(budget), "bodies held at once stay under the budget")
	require.GreaterOrEqual(t, peak, int64(2*pad), "the budget was used, not idle")
	p.stop(t)

	second, _ := workload("big2", 12, 6)
	e.publishPadded(pad, second...)
	cfg.BodyBudget = 0
	q := e.startWith(cfg, command.Options{Handlers: slowHandlers()})
	e.waitDrained(append(first, second...), 3*time.Minute)
	t.Logf("no budget: peak %.1f MiB held, prefetch %v", float64(q.metrics.BodyPeak())/(1<<20), metricValue(t, q, "_prefetch"))
	require.Greater(t, q.metrics.BodyPeak(), int64(budget+pad), "without the accounting, PREFETCH alone lets more in than the budget")
}

// TestSmallBodiesKeepFullPrefetch: under the same budget, 1 KiB bodies from
// a source that accepts 4 MiB start cautious (the budget over the largest
// body a source accepts) and get the full PREFETCH once the bodies seen are
// small: the budget costs them no throughput.
func TestSmallBodiesKeepFullPrefetch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{maxBody: 4 << 20})
	unique, all := workload("small", 1500, 50)
	e.publishPadded(1<<10, all...)
	cfg := e.config(addrs{})
	cfg.BodyBudget = 16 << 20
	p := e.start(cfg, nil)
	e.waitDrained(unique, 3*time.Minute)
	e.requireExactlyOnce(unique)
	require.Equal(t, float64(cfg.Prefetch), metricValue(t, p, "_prefetch"), "1 KiB bodies run at the full PREFETCH")
	require.GreaterOrEqual(t, metricValue(t, p, "consumer_restarts_total"), float64(1), "raised from the cautious start")
	require.LessOrEqual(t, p.metrics.BodyPeak(), cfg.BodyBudget)
}
