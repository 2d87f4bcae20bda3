package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hookline/hookline/internal/sources"
	"github.com/hookline/hookline/lambda/receiver"
)

// TestLocalMuxServesMetrics: GET /metrics is the Prometheus text; every
// other request, POST /metrics included, is the receiver's.
func TestLocalMuxServesMetrics(t *testing.T) {
	t.Parallel()
	set, err := sources.Parse([]byte(`sources: [{name: s, hosts: [h.example.com], scheme: hmac-sha256, secrets: ["k"]}]`))
	require.NoError(t, err)
	m := receiver.NewMetrics(receiver.MetricsConfig{})
	srv := httptest.NewServer(receiver.LocalHandler(receiver.New(set, nil, slog.New(slog.NewJSONHandler(io.Discard, nil))).WithMetrics(m), m))
	defer srv.Close()

	// POST /metrics is the receiver's: no source there, 404, counted.
	resp, err := srv.Client().Post(srv.URL+"/metrics", "text/plain", nil)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)

	resp, err = srv.Client().Get(srv.URL + "/metrics")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain"), resp.Header.Get("Content-Type"))
	require.Contains(t, string(b), `hookline_receiver_rejected_total{source="unknown",status="404"} 1`)
}
