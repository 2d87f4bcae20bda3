package consume

import (
	"context"
	"time"

	"github.com/hookline/hookline/processor/health"
)

// waitFor pauses the worker until dep answers again (at most 10 s), so an
// outage does not spin every held delivery through the retry queues.
func (c *Consumer) waitFor(ctx context.Context, dep string) {
	deadline := time.Now().Add(10 * time.Second)
	for wait := 100 * time.Millisecond; time.Now().Before(deadline); wait = min(wait*2, 2*time.Second) {
		if c.ping(ctx, dep) == nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

func (c *Consumer) ping(ctx context.Context, dep string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var err error
	switch dep {
	case health.Redis:
		err = c.Redis.Ping(ctx).Err()
	case health.MySQL:
		err = c.Store.Ping(ctx)
	}
	c.Health.Set(dep, err == nil)
	return err
}

// pingLoop keeps the Redis and MySQL health current while idle.
func (c *Consumer) pingLoop(ctx context.Context) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		_ = c.ping(ctx, health.Redis)
		_ = c.ping(ctx, health.MySQL)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

type loopKey struct{}

// withLoop makes progress(ctx) report to loop.
func withLoop(ctx context.Context, loop *health.Loop) context.Context {
	return context.WithValue(ctx, loopKey{}, loop)
}

// progress records that the loop running ctx moved its work on (a lock
// round trip, a transaction, a publish came back), whatever the outcome.
func progress(ctx context.Context) {
	if l, ok := ctx.Value(loopKey{}).(*health.Loop); ok {
		l.Progress()
	}
}
