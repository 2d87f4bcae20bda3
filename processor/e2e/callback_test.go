package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookline/hookline/internal/webhooksig"
	"github.com/hookline/hookline/processor/callback"
)

// TestCallbackAfterCommit: a source with callback_url gets one signed POST
// per processed event (not per duplicate delivery), after the row exists.
func TestCallbackAfterCommit(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	got := map[string]int{}
	var e *env
	verifier, err := webhooksig.New(webhooksig.Standard, []string{callbackSecret}, 0)
	require.NoError(t, err)
	var bad []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var p callback.Payload
		_ = json.Unmarshal(b, &p)
		mu.Lock()
		defer mu.Unlock()
		if _, err := verifier.Verify(r.Context(), &webhooksig.Request{Method: r.Method, URL: r.URL, Header: r.Header, Body: b}, time.Now()); err != nil {
			bad = append(bad, err.Error())
		}
		got[p.Data.EventID]++
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	e = newEnv(t, envOpts{callbackURL: srv.URL})
	e.start(e.config(addrs{}), nil)
	unique, all := workload("cb", 30, 4)
	e.publish(all...)
	e.waitDrained(unique, time.Minute)
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == len(unique) }, time.Minute, 20*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	require.Empty(t, bad, "every callback verifies with the source's callback_secret")
	for _, ev := range unique {
		require.Equal(t, 1, got[ev.id], ev.id)
	}
}

// TestCallbackSurvivesCrashAfterCommit: the processor process is killed
// (SIGKILL) right after the event's transaction commits, before any callback
// is sent; a restarted processor sends it exactly once, although the
// broker redelivers the unacked message to it.
func TestCallbackSurvivesCrashAfterCommit(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	got := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		got[r.Header.Get("webhook-id")]++
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	sent := func(id string) int { mu.Lock(); defer mu.Unlock(); return got[callback.MessageID("shop", id)] }
	e := newEnv(t, envOpts{callbackURL: srv.URL})
	e.publish(event{id: "crash-1", entity: "ent-1", at: base})

	cfg := e.config(addrs{})
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1", killAfterCommitEnv+"=1",
		"RABBITMQ_URL="+cfg.RabbitMQURL, "REDIS_URL="+cfg.RedisURL, "MYSQL_DSN="+cfg.MySQLDSN,
		"WEBHOOK_SOURCES_FILE="+cfg.SourcesFile, "HTTP_ADDR=127.0.0.1:0", "LOCK_PREFIX="+cfg.LockPrefix,
		"LOCK_TTL=3s", "LOG_LEVEL=warn")
	cmd.Stdout, cmd.Stderr = testWriter{t}, testWriter{t}
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case <-exited:
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatal("the child never committed")
	}
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	require.True(t, ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL, "the child died of SIGKILL after its commit: %v", cmd.ProcessState)
	require.Equal(t, 1, e.events(), "the event committed")
	require.Equal(t, 1, e.count("SELECT COUNT(*) FROM webhook_callbacks WHERE status = 0"), "its callback waits in the outbox")
	require.Zero(t, sent("crash-1"), "nothing was sent before the crash")

	p := e.start(e.config(addrs{}), nil)
	require.Eventually(t, func() bool { return sent("crash-1") == 1 }, time.Minute, 10*time.Millisecond, "the restarted processor sends it")
	require.Eventually(t, func() bool {
		return e.count("SELECT COUNT(*) FROM webhook_callbacks WHERE status = 1") == 1 && e.settled()
	}, time.Minute, 20*time.Millisecond, "marked sent; the redelivered message settled")
	require.Equal(t, 1, e.events())
	require.Never(t, func() bool { return sent("crash-1") != 1 }, 2*time.Second, 50*time.Millisecond, "sent exactly once")
	require.Equal(t, float64(1), labelValue(t, p, "callbacks_total", "ok"))
}
