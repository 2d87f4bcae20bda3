package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestServeDrainsInFlightOnShutdown: a request in flight when the signal
// arrives still gets its answer, and serve returns cleanly.
func TestServeDrainsInFlightOnShutdown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	l.Close()

	entered, release := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		w.WriteHeader(http.StatusAccepted)
	})
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- serve(ctx, slog.New(slog.NewJSONHandler(io.Discard, nil)), addr, h) }()

	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, 5*time.Second, 10*time.Millisecond)
	got := make(chan int, 1)
	go func() {
		r, err := http.Post("http://"+addr+"/webhooks/x", "text/plain", nil)
		if err != nil {
			got <- -1
			return
		}
		r.Body.Close()
		got <- r.StatusCode
	}()
	<-entered
	cancel()
	time.Sleep(50 * time.Millisecond) // shutdown has begun; the request is still held
	close(release)
	require.Equal(t, http.StatusAccepted, <-got)
	require.NoError(t, <-served)
}
