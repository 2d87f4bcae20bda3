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

// State is the processor's view of itself, updated by its loops.
type State struct {
	rabbitmq, redis, mysql atomic.Bool
	started                atomic.Bool
	stopping               atomic.Bool
}

// Set records whether dependency dep is usable.
func (s *State) Set(dep string, ok bool) {
	switch dep {
	case RabbitMQ:
		s.rabbitmq.Store(ok)
	case Redis:
		s.redis.Store(ok)
	case MySQL:
		s.mysql.Store(ok)
	}
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

// Started marks start-up done (all dependencies reached once).
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
		write(w, true, map[string]string{"status": "alive"})
	})
	mux.HandleFunc("GET /health/startup", func(w http.ResponseWriter, _ *http.Request) {
		ok := s.started.Load()
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
