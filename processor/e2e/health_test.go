package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookline/hookline/internal/testenv"
	"github.com/hookline/hookline/processor/handler"
)

// probe is a processor's probe server.
type probe struct {
	t    *testing.T
	addr string
}

func (p *proc) probe(t *testing.T) probe {
	t.Helper()
	select {
	case a := <-p.addr:
		return probe{t: t, addr: a}
	case <-time.After(time.Minute):
		t.Fatal("no probe address")
		return probe{}
	}
}

// get returns a probe's status code and JSON body.
func (p probe) get(path string) (int, map[string]any) {
	p.t.Helper()
	resp, err := http.Get("http://" + p.addr + path)
	require.NoError(p.t, err)
	defer resp.Body.Close()
	var body map[string]any
	require.NoError(p.t, json.NewDecoder(resp.Body).Decode(&body))
	return resp.StatusCode, body
}

// TestLiveFailsOnAWedgedWorker: a handler stuck on something that ignores
// its context (a socket without a deadline) holds its worker with every
// dependency up: /health/live fails after WEDGE_TIMEOUT, so ECS replaces the
// task, and passes again once the worker moves.
func TestLiveFailsOnAWedgedWorker(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	stuck := make(chan struct{})
	released := false
	release := func() {
		if !released {
			released = true
			close(stuck)
		}
	}
	t.Cleanup(release) // before the processor's stop (cleanups run last first)
	reg := handler.NewRegistry()
	reg.Register(handler.Any, handler.Any, handler.Func(func(ctx context.Context, tx handler.Tx, ev *handler.Event) error {
		if ev.ID == "stuck" {
			<-stuck
		}
		return handler.Default.Handle(ctx, tx, ev)
	}))
	cfg := e.config(addrs{})
	cfg.WedgeTimeout = 3 * time.Second
	p := e.start(cfg, reg)
	pr := p.probe(t)
	require.Eventually(t, func() bool { c, _ := pr.get("/health/startup"); return c == http.StatusOK }, time.Minute, 50*time.Millisecond)
	code, _ := pr.get("/health/live")
	require.Equal(t, http.StatusOK, code)

	e.publish(event{id: "stuck", entity: "s", at: base})
	require.Eventually(t, func() bool { c, _ := pr.get("/health/live"); return c == http.StatusServiceUnavailable }, time.Minute, 100*time.Millisecond)
	_, body := pr.get("/health/live")
	require.Equal(t, "wedged", body["status"])
	require.Len(t, body["loops"], 1)

	release()
	require.Eventually(t, func() bool { c, _ := pr.get("/health/live"); return c == http.StatusOK }, time.Minute, 50*time.Millisecond)
	require.Eventually(t, func() bool { return e.events() == 1 }, time.Minute, 50*time.Millisecond)
}

// TestOutageIsNotAWedge: MySQL stops answering (blackholed, read timeout
// well past WEDGE_TIMEOUT) while events arrive; the worker holding a batch
// makes no progress for longer than the bound, yet /health/live passes
// throughout (it reports the worker as waiting): killing tasks would not
// cure the outage. Afterwards everything is stored once.
func TestOutageIsNotAWedge(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	proxy := testenv.NewProxy(t, testenv.MySQLAddr())
	cfg := e.config(addrs{mysql: proxy.Addr()})
	cfg.MySQLDSN += "&readTimeout=20s&writeTimeout=20s"
	cfg.WedgeTimeout = 6 * time.Second // above the ≤ 4 s an outage takes to show in the flags
	p := e.start(cfg, nil)
	pr := p.probe(t)
	unique, all := workload("outage", 60, 6)
	e.publish(all[:20]...)
	require.Eventually(t, func() bool { return e.events() > 0 }, time.Minute, 50*time.Millisecond)
	require.Eventually(t, func() bool { c, _ := pr.get("/health/startup"); return c == http.StatusOK }, time.Minute, 50*time.Millisecond)

	proxy.Blackhole()
	e.publish(all[20:]...)
	sawWaiting := false
	for deadline := time.Now().Add(16 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		code, body := pr.get("/health/live")
		require.Equal(t, http.StatusOK, code, "an outage is not a wedge: %v", body)
		if body["waiting"] != nil {
			sawWaiting = true
		}
	}
	require.True(t, sawWaiting, "a worker held a batch past the bound during the outage (else this test proves nothing)")
	proxy.Heal()
	e.waitDrained(unique, 3*time.Minute)
	e.requireExactlyOnce(unique)
	code, _ := pr.get("/health/live")
	require.Equal(t, http.StatusOK, code)
}

// TestStartupWaitsForEveryDependency: with MySQL unreachable from the start
// the processor consumes (the broker is up) but /health/startup fails until
// MySQL has been reached once.
func TestStartupWaitsForEveryDependency(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	proxy := testenv.NewProxy(t, testenv.MySQLAddr())
	proxy.Cut()
	p := e.start(e.config(addrs{mysql: proxy.Addr()}), nil)
	pr := p.probe(t)
	require.Eventually(t, func() bool { return p.health.OK("rabbitmq") }, time.Minute, 50*time.Millisecond, "consuming")
	for range 10 {
		code, _ := pr.get("/health/startup")
		require.Equal(t, http.StatusServiceUnavailable, code, "MySQL never reached")
		time.Sleep(200 * time.Millisecond) // across several of the 2 s pings (pacing)
	}
	proxy.Restore()
	require.Eventually(t, func() bool { c, _ := pr.get("/health/startup"); return c == http.StatusOK }, time.Minute, 50*time.Millisecond)
	e.publish(event{id: "late", entity: "l", at: base})
	require.Eventually(t, func() bool { return e.events() == 1 }, time.Minute, 50*time.Millisecond)
}
