package receiver

import (
	"net/http"
	"time"
)

// LocalHandler is local mode's mux: GET /metrics beside the webhooks; every
// other path is h's (which answers 404 outside /webhooks/).
func LocalHandler(h http.Handler, m *Metrics) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	mux.Handle("/", h)
	return mux
}

// LocalServer is local mode's HTTP server for h on addr: its timeouts and
// API Gateway's header limit. The binary and the benchmark both run it.
func LocalServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    MaxHeaderBytes,
	}
}
