package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/hookline/hookline/internal/testenv"
)

// recoveryBound is issue 13's figure 5: every event stored within 10 s of
// the restart of a processor that was SIGKILLed with batches in flight.
const recoveryBound = 10 * time.Second

// child is a processor in its own process (the test binary re-executed as
// `processor run`) with the production defaults but for the test's
// addresses and env (KEY=value).
func (e *env) child(t testing.TB, env ...string) *exec.Cmd {
	t.Helper()
	cfg := e.config(addrs{})
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1",
		"RABBITMQ_URL="+cfg.RabbitMQURL, "REDIS_URL="+cfg.RedisURL, "MYSQL_DSN="+cfg.MySQLDSN,
		"WEBHOOK_SOURCES_FILE="+cfg.SourcesFile, "HTTP_ADDR=127.0.0.1:0", "LOCK_PREFIX="+cfg.LockPrefix, "LOG_LEVEL=warn")
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = testWriter{t}, testWriter{t}
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd
}

// heldLocks counts the entity locks of source shop under the test's prefix.
func (e *env) heldLocks(t testing.TB) int {
	t.Helper()
	opt, err := redis.ParseURL(testenv.RedisURL(""))
	require.NoError(t, err)
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	keys, err := rdb.Keys(context.Background(), e.lockPrefix+"shop*").Result()
	require.NoError(t, err)
	return len(keys)
}

// recoveryRun drains a backlog with a child processor, stops it with sig
// once part of the backlog is stored, restarts it at once and returns how
// long the restarted one took to store every event (and leave no queue
// holding anything), the locks left in Redis at the stop, and the events
// stored before it.
func recoveryRun(t testing.TB, sig syscall.Signal, prefix string) (took time.Duration, locks, before int, unique []event) {
	e := newEnv(t, envOpts{})
	unique, all := workload(prefix, 4000, 400)
	e.publish(all...)
	first := e.child(t)
	require.Eventually(t, func() bool { return e.events() >= 800 }, 2*time.Minute, 5*time.Millisecond, "first processor made progress")
	require.NoError(t, first.Process.Signal(sig))
	_ = first.Wait()
	before = e.events()
	locks = e.heldLocks(t)
	require.Less(t, before, len(unique), "the first processor must stop mid-backlog")

	start := time.Now()
	e.child(t)
	require.Eventually(t, func() bool { return e.events() == len(unique) && e.settled() }, 3*time.Minute, 20*time.Millisecond,
		"all %d events stored after the restart", len(unique))
	took = time.Since(start)
	e.requireExactlyOnce(unique)
	return took, locks, before, unique
}

// TestRecoveryAfterKill: a processor SIGKILLed with batches in flight
// leaves its entity locks in Redis (production's lease, LOCK_TTL unset);
// the restarted processor stores every event within 10 s of its start, and
// the effect is exactly once.
func TestRecoveryAfterKill(t *testing.T) {
	t.Parallel()
	took, locks, before, unique := recoveryRun(t, syscall.SIGKILL, "rk")
	t.Logf("killed after %d of %d events with %d entity locks held; the restart stored the rest in %v", before, len(unique), locks, took)
	require.Positive(t, locks, "the killed processor held entity locks (batches in flight)")
	require.Less(t, took, recoveryBound)
}

// BenchmarkRecovery is figure 5: the time from the restart of a SIGKILLed
// processor to every event stored, next to the same backlog after a
// graceful stop (SIGTERM: in-flight batches finished, locks released).
func BenchmarkRecovery(b *testing.B) {
	for range b.N {
		kill, locks, killBefore, unique := recoveryRun(b, syscall.SIGKILL, "bk")
		term, _, termBefore, _ := recoveryRun(b, syscall.SIGTERM, "bt")
		b.ReportMetric(kill.Seconds(), "kill_s")
		b.ReportMetric(term.Seconds(), "term_s")
		fmt.Printf("\nrecovery benchmark (figure 5; %d events over 400 entities, default LOCK_TTL):\n"+
			"  restart after SIGKILL (%d stored, %d entity locks left): every event stored in %5.2f s (goal <= %v)\n"+
			"  baseline, restart after SIGTERM (%d stored, none left):   every event stored in %5.2f s\n",
			len(unique), killBefore, locks, kill.Seconds(), recoveryBound, termBefore, term.Seconds())
		printLoad()
	}
}
