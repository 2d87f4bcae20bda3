package health_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookline/hookline/processor/health"
)

func TestLivenessTellsAWedgeFromAnOutage(t *testing.T) {
	const bound = time.Minute
	for _, c := range []struct {
		name        string
		busyFor     time.Duration // 0: idle
		down        string        // a dependency that is down
		stopping    bool
		wantLive    bool
		wantWaiting bool
	}{
		{name: "idle", wantLive: true},
		{name: "busy within the bound", busyFor: bound / 2, wantLive: true},
		{name: "no progress past the bound, dependencies up", busyFor: 2 * bound, wantLive: false},
		{name: "no progress past the bound, mysql down", busyFor: 2 * bound, down: health.MySQL, wantLive: true, wantWaiting: true},
		{name: "no progress past the bound, redis down", busyFor: 2 * bound, down: health.Redis, wantLive: true, wantWaiting: true},
		{name: "no progress past the bound, broker down", busyFor: 2 * bound, down: health.RabbitMQ, wantLive: true, wantWaiting: true},
		{name: "no progress past the bound, shutting down", busyFor: 2 * bound, stopping: true, wantLive: true, wantWaiting: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := &health.State{}
			s.SetWedgeAfter(bound)
			for _, d := range []string{health.RabbitMQ, health.Redis, health.MySQL} {
				s.Set(d, d != c.down)
			}
			if c.stopping {
				s.Stopping()
			}
			s.Loop("dispatcher") // idle throughout
			w := s.Loop("worker-0")
			if c.busyFor > 0 {
				w.Progress()
			}
			wedged, waiting := s.Stalled(time.Now().Add(c.busyFor))
			require.Equal(t, !c.wantLive, len(wedged) > 0, "wedged %v", wedged)
			require.Equal(t, c.wantWaiting, len(waiting) > 0, "waiting %v", waiting)
			if !c.wantLive {
				require.Equal(t, []string{"worker-0"}, wedged)
			}
			w.Idle()
			wedged, waiting = s.Stalled(time.Now().Add(c.busyFor))
			require.Empty(t, wedged, "an idle loop is never wedged")
			require.Empty(t, waiting)
		})
	}
}

func TestLiveEndpointFailsOnAWedge(t *testing.T) {
	s := &health.State{}
	s.SetWedgeAfter(time.Second)
	for _, d := range []string{health.RabbitMQ, health.Redis, health.MySQL} {
		s.Set(d, true)
	}
	srv := httptest.NewServer(health.Handler(s, nil))
	defer srv.Close()
	get := func() (int, map[string]any) {
		resp, err := http.Get(srv.URL + "/health/live")
		require.NoError(t, err)
		defer resp.Body.Close()
		var body map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
		return resp.StatusCode, body
	}
	code, _ := get()
	require.Equal(t, http.StatusOK, code)
	s.Loop("worker-3").Progress()
	require.Eventually(t, func() bool { code, _ := get(); return code == http.StatusServiceUnavailable }, 10*time.Second, 50*time.Millisecond)
	_, body := get()
	require.Equal(t, "wedged", body["status"])
	require.Equal(t, []any{"worker-3"}, body["loops"])
	s.Loop("worker-3").Progress()
	code, _ = get()
	require.Equal(t, http.StatusOK, code, "progress makes it live again")
}

func TestStartupWaitsForEveryDependency(t *testing.T) {
	s := &health.State{}
	s.Started()
	require.False(t, s.StartedUp(), "consuming, but Redis and MySQL never reached")
	s.Set(health.RabbitMQ, true)
	s.Set(health.Redis, true)
	require.False(t, s.StartedUp(), "MySQL never reached")
	s.Set(health.MySQL, false)
	require.False(t, s.StartedUp())
	s.Set(health.MySQL, true)
	require.True(t, s.StartedUp())
	s.Set(health.Redis, false)
	require.True(t, s.StartedUp(), "start-up, once passed, stays passed: an outage later is readiness's business")
	srv := httptest.NewServer(health.Handler(s, nil))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/health/startup")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}
