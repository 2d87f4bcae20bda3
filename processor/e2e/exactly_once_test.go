package e2e

import (
	"context"
	"os"
	"os/exec"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookline/hookline/internal/testenv"
	"github.com/hookline/hookline/processor/handler"
)

// TestExactlyOnceWorkerKilledMidBatch: duplicates and concurrent events for
// the same entity; the first processor's worker is killed in the middle of a
// batch (its transaction open, locks held); a second processor finishes.
func TestExactlyOnceWorkerKilledMidBatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	unique, all := workload("ko", 600, 25)
	e.publish(all...)

	// Processor A: its handler blocks forever at the 150th event, inside
	// a batch's transaction, until the processor is torn down.
	var seen atomic.Int64
	stuck := make(chan struct{})
	var once atomic.Bool
	regA := handler.NewRegistry()
	regA.Register(handler.Any, handler.Any, handler.Func(func(ctx context.Context, tx handler.Tx, ev *handler.Event) error {
		if seen.Add(1) >= 150 {
			if once.CompareAndSwap(false, true) {
				close(stuck)
			}
			<-ctx.Done()
			return ctx.Err()
		}
		return handler.Default.Handle(ctx, tx, ev)
	}))
	cfgA := e.config(addrs{})
	cfgA.ShutdownTimeout = 2 * time.Second // the worker is abandoned mid-batch
	a := e.start(cfgA, regA)
	select {
	case <-stuck:
	case <-time.After(2 * time.Minute):
		t.Fatal("processor A never reached the 150th event")
	}
	a.stop(t)
	require.Less(t, e.events(), len(unique), "A must not have finished")

	// Processors B and C together (the same entities' events now reach
	// two processes, so they contend for entity locks): they finish.
	cfg := e.config(addrs{})
	cfg.BatchSize = 10
	b := e.start(cfg, nil)
	c := e.start(cfg, nil)
	e.waitDrained(unique, 2*time.Minute)
	e.requireExactlyOnce(unique)
	t.Logf("lock contention parked %v + %v deliveries (never dead-lettered)",
		labelValue(t, b, "retried_total", "lock"), labelValue(t, c, "retried_total", "lock"))
}

// TestExactlyOnceProcessKilled kills a whole processor process (SIGKILL: no
// graceful stop, locks left to expire) while it works through a backlog.
func TestExactlyOnceProcessKilled(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	unique, all := workload("pk", 3000, 40)
	e.publish(all...)

	cfg := e.config(addrs{})
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1",
		"RABBITMQ_URL="+cfg.RabbitMQURL, "REDIS_URL="+cfg.RedisURL, "MYSQL_DSN="+cfg.MySQLDSN,
		"WEBHOOK_SOURCES_FILE="+cfg.SourcesFile, "HTTP_ADDR=127.0.0.1:0", "LOCK_PREFIX="+cfg.LockPrefix,
		"LOCK_TTL=3s", "BATCH_SIZE=5", "CONCURRENCY=2", "LOG_LEVEL=warn")
	cmd.Stdout, cmd.Stderr = testWriter{t}, testWriter{t}
	require.NoError(t, cmd.Start())
	killed := false
	t.Cleanup(func() {
		if !killed {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	require.Eventually(t, func() bool { return e.events() >= 300 }, 2*time.Minute, 20*time.Millisecond, "child processor made progress")
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	killed = true
	require.Less(t, e.events(), len(unique), "the child must die mid-backlog")

	e.start(e.config(addrs{}), nil)
	e.waitDrained(unique, 3*time.Minute)
	e.requireExactlyOnce(unique)
}

var _ = testenv.Name
