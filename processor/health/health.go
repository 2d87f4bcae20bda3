// Package health serves the processor's probes and metrics:
// /health/live, /health/startup, /health/ready (JSON of DESIGN.md) and
// /metrics.
package health

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hookline/hookline/processor/metrics"
)

// Dependencies the processor reports on.
const (
	RabbitMQ = "rabbitmq"
	Redis    = "redis"
	MySQL    = "mysql"
)

// DefaultWedgeAfter is how long a loop may hold work without progress, its
// dependencies reachable, before /health/live fails. Well above the longest
// step that progresses on its own: a MySQL read (30 s read timeout), a
// publish and its confirm (15 s), a wait for a dependency (10 s).
const DefaultWedgeAfter = 2 * time.Minute

// State is the processor's view of itself, updated by its loops.
type State struct {
	rabbitmq, redis, mysql                      atomic.Bool
	reachedRabbitMQ, reachedRedis, reachedMySQL atomic.Bool // each reached at least once
	started                                     atomic.Bool
	stopping                                    atomic.Bool
	wedgeAfter                                  atomic.Int64 // 0: DefaultWedgeAfter

	mu    sync.Mutex
	loops []*Loop
}

// Set records whether dependency dep is usable.
func (s *State) Set(dep string, ok bool) {
	switch dep {
	case RabbitMQ:
		s.rabbitmq.Store(ok)
		if ok {
			s.reachedRabbitMQ.Store(true)
		}
	case Redis:
		s.redis.Store(ok)
		if ok {
			s.reachedRedis.Store(true)
		}
	case MySQL:
		s.mysql.Store(ok)
		if ok {
			s.reachedMySQL.Store(true)
		}
	}
}

// Loop is one loop of the processor (the dispatcher, a worker) as liveness
// sees it: idle, or holding work since its last progress.
type Loop struct {
	name string
	busy atomic.Int64 // unix nanos of the last progress while holding work; 0: idle
}

// Progress records that the loop holds work and has just moved it on.
func (l *Loop) Progress() { l.busy.Store(time.Now().UnixNano()) }

// Idle records that the loop holds no work (waiting for some is not a wedge).
func (l *Loop) Idle() { l.busy.Store(0) }

// Loop registers a loop for liveness under name (the same name returns the
// same Loop, so a restarted loop reuses its slot).
func (s *State) Loop(name string) *Loop {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.loops {
		if l.name == name {
			return l
		}
	}
	l := &Loop{name: name}
	s.loops = append(s.loops, l)
	return l
}

// SetWedgeAfter sets the liveness bound (0: DefaultWedgeAfter).
func (s *State) SetWedgeAfter(d time.Duration) { s.wedgeAfter.Store(int64(d)) }

// Stalled names the loops that have held work without progress for longer
// than the bound. While every dependency is reachable they are wedged (a
// stuck socket, a publish that never returns): /health/live fails and ECS
// replaces the task. While a dependency is down they are waiting: waiting
// out an outage is right, and replacing every task would not cure it. Nor
// is anything wedged while shutting down, which has its own timeout. The
// bound must exceed how long an outage takes to show in the flags: a ping
// every 2 s with a 2 s timeout for Redis and MySQL, the heartbeat timeout
// (about 30 s) for the broker.
func (s *State) Stalled(now time.Time) (wedged, waiting []string) {
	bound := time.Duration(s.wedgeAfter.Load())
	if bound <= 0 {
		bound = DefaultWedgeAfter
	}
	s.mu.Lock()
	var stalled []string
	for _, l := range s.loops {
		if at := l.busy.Load(); at != 0 && now.Sub(time.Unix(0, at)) > bound {
			stalled = append(stalled, l.name)
		}
	}
	s.mu.Unlock()
	if len(stalled) == 0 || s.stopping.Load() {
		return nil, stalled
	}
	if !s.rabbitmq.Load() || !s.redis.Load() || !s.mysql.Load() {
		return nil, stalled
	}
	return stalled, nil
}

// StartedUp reports whether start-up is done: consuming, and every
// dependency reached at least once.
func (s *State) StartedUp() bool {
	return s.started.Load() && s.reachedRabbitMQ.Load() && s.reachedRedis.Load() && s.reachedMySQL.Load()
}

// OK reports whether dep is usable.
func (s *State) OK(dep string) bool {
	switch dep {
	case RabbitMQ:
		return s.rabbitmq.Load()
	case Redis:
		return s.redis.Load()
	case MySQL:
		return s.mysql.Load()
	}
	return false
}

// Started marks the consumer running; start-up is done once every
// dependency has also been reached (StartedUp).
func (s *State) Started() { s.started.Store(true) }

// Stopping marks shutdown: readiness turns false.
func (s *State) Stopping() { s.stopping.Store(true) }

// Ready is the JSON of /health/ready.
type Ready struct {
	Status       map[string]bool  `json:"status"`
	Messages     map[string]int64 `json:"messages"`
	GlobalStatus bool             `json:"global_status"`
}

// Snapshot computes the readiness document.
func (s *State) Snapshot(m *metrics.Metrics) Ready {
	r := Ready{Status: map[string]bool{RabbitMQ: s.rabbitmq.Load(), Redis: s.redis.Load(), MySQL: s.mysql.Load()}}
	if m != nil {
		r.Messages = m.Totals()
	} else {
		r.Messages = map[string]int64{}
	}
	r.GlobalStatus = r.Status[RabbitMQ] && r.Status[Redis] && r.Status[MySQL] && !s.stopping.Load()
	return r
}

// Handler serves the probes and /metrics.
func Handler(s *State, m *metrics.Metrics) http.Handler {
	mux := http.NewServeMux()
	write := func(w http.ResponseWriter, ok bool, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("GET /health/live", func(w http.ResponseWriter, _ *http.Request) {
		wedged, waiting := s.Stalled(time.Now())
		if len(wedged) > 0 {
			write(w, false, map[string]any{"status": "wedged", "loops": wedged})
			return
		}
		body := map[string]any{"status": "alive"}
		if len(waiting) > 0 {
			body["waiting"] = waiting // held up by an outage (or shutdown), not wedged
		}
		write(w, true, body)
	})
	mux.HandleFunc("GET /health/startup", func(w http.ResponseWriter, _ *http.Request) {
		ok := s.StartedUp()
		write(w, ok, map[string]bool{"started": ok})
	})
	mux.HandleFunc("GET /health/ready", func(w http.ResponseWriter, _ *http.Request) {
		r := s.Snapshot(m)
		write(w, r.GlobalStatus, r)
	})
	if m != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	}
	return mux
}

// Server runs the probe server on addr until ctx ends, then shuts it down.
// It returns the bound address through bound (useful with ":0").
func Server(ctx context.Context, addr string, h http.Handler, bound func(string)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	if bound != nil {
		bound(ln.Addr().String())
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-errc
		return nil
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}
}

// Check is `processor healthcheck`: GET /health/live on addr (":9090" means
// loopback), true on 200. Liveness, not readiness: restarting a task does not
// cure a dependency's outage, and the processor rides those out itself.
func Check(ctx context.Context, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/health/live", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	return nil
}
