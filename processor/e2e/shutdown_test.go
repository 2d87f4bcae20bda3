package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookline/hookline/processor/handler"
	"github.com/hookline/hookline/processor/health"
)

// TestGracefulShutdownUnderLoad: SIGTERM (context cancel) in the middle of
// a backlog: the processor exits within SHUTDOWN_TIMEOUT, and a successor
// finds every event exactly once.
func TestGracefulShutdownUnderLoad(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	unique, all := workload("gs", 4000, 50)
	e.publish(all...)
	slow := handler.NewRegistry() // keep the processor busy when the signal comes
	slow.Register(handler.Any, handler.Any, handler.Func(func(ctx context.Context, tx handler.Tx, ev *handler.Event) error {
		time.Sleep(200 * time.Microsecond)
		return handler.Default.Handle(ctx, tx, ev)
	}))
	cfg := e.config(addrs{})
	cfg.ShutdownTimeout = 5 * time.Second
	p := e.start(cfg, slow)
	require.Eventually(t, func() bool { return e.events() >= 300 }, time.Minute, 10*time.Millisecond)

	p.cancel()
	var err error
	require.Eventually(t, func() bool {
		select {
		case err = <-p.done:
			close(p.done)
			return true
		default:
			return false
		}
	}, cfg.ShutdownTimeout+10*time.Second, 10*time.Millisecond, "exits within SHUTDOWN_TIMEOUT (with slack)")
	require.NoError(t, err)

	e.start(e.config(addrs{}), nil)
	e.waitDrained(unique, 3*time.Minute)
	e.requireExactlyOnce(unique)
}

// TestHealthAndMetrics: the probe endpoints answer in DESIGN.md's shape and
// /metrics carries the pipeline's instruments.
func TestHealthAndMetrics(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	p := e.start(e.config(addrs{}), nil)
	var addr string
	select {
	case addr = <-p.addr:
	case <-time.After(time.Minute):
		t.Fatal("no probe address")
	}
	unique, all := workload("hm", 20, 3)
	e.publish(all...)
	e.waitDrained(unique, time.Minute)

	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	code, _ := get("/health/live")
	require.Equal(t, http.StatusOK, code)
	require.Eventually(t, func() bool { c, _ := get("/health/startup"); return c == http.StatusOK }, time.Minute, 20*time.Millisecond)
	require.Eventually(t, func() bool { c, _ := get("/health/ready"); return c == http.StatusOK }, time.Minute, 20*time.Millisecond)
	_, body := get("/health/ready")
	var r health.Ready
	require.NoError(t, json.Unmarshal([]byte(body), &r))
	require.Equal(t, map[string]bool{"rabbitmq": true, "redis": true, "mysql": true}, r.Status)
	require.True(t, r.GlobalStatus)
	require.Equal(t, int64(len(all)), r.Messages["consumed"])
	require.Equal(t, int64(len(all)-len(unique)), r.Messages["duplicates"])

	code, body = get("/metrics")
	require.Equal(t, http.StatusOK, code)
	for _, name := range []string{"consumed_total", "acked_total", "retried_total", "dead_lettered_total", "duplicates_total",
		"batch_duration_seconds", "lock_wait_seconds", "end_to_end_seconds"} {
		require.True(t, strings.Contains(body, "hookline_processor_"+name), name)
	}
	require.Equal(t, float64(len(all)), metricValue(t, p, "acked_total"))
}
