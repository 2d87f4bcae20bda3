package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
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
		if _, err := verifier.Verify(r.Header, b, time.Now()); err != nil {
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
