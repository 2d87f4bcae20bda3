package receiver_test

// The receiver's throughput against the co-located ceiling, all in one run:
//
//	H = bare net/http server: read body, check the same HMAC, 202 (no broker)
//	B = bare amqp091 publishers: 64 goroutines, each on its own confirm-mode
//	    channel, persistent 1 KiB messages into the same quorum queue, each
//	    waiting for its own confirm
//	L = 1/(1/H + 1/B): what a receiver could do if its only costs were those
//	    two, sharing this machine's cores
//
// The load generator is the same for H and the receiver: 64 closed-loop
// senders with keep-alive, 1 KiB bodies.

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/hookline/hookline/internal/envelope"
	"github.com/hookline/hookline/internal/sources"
	"github.com/hookline/hookline/internal/testenv"
	"github.com/hookline/hookline/internal/topology"
	"github.com/hookline/hookline/internal/webhooksig"
	"github.com/hookline/hookline/lambda/publish"
	"github.com/hookline/hookline/lambda/receiver"
)

const (
	benchSenders = 64
	benchWindow  = 5 * time.Second
	benchWarmup  = time.Second
	benchSecret  = "bench-secret"
)

var benchBody = bytes.Repeat([]byte("x"), 1024)

// -receiver.cpuprofile profiles the receiver's closed-loop window only (not
// H's or B's), load generator included: read the server's share off it.
var receiverProfile = flag.String("receiver.cpuprofile", "", "write a CPU profile of the receiver's closed-loop window to this file")

type stats struct {
	rate     float64
	p50, p99 time.Duration
	errors   int64
}

func (s stats) String() string {
	return fmt.Sprintf("%8.0f/s  p50 %6.2f ms  p99 %6.2f ms  errors %d", s.rate,
		float64(s.p50.Microseconds())/1000, float64(s.p99.Microseconds())/1000, s.errors)
}

func summarise(lat []time.Duration, n int, errs int64, d time.Duration) stats {
	slices.Sort(lat)
	s := stats{rate: float64(n) / d.Seconds(), errors: errs}
	if len(lat) > 0 {
		s.p50, s.p99 = lat[len(lat)/2], lat[len(lat)*99/100]
	}
	return s
}

// closedLoop runs `workers` goroutines calling op back to back; it measures
// the window after a warm-up.
func closedLoop(workers int, op func() error) stats {
	var (
		mu      sync.Mutex
		lat     []time.Duration
		errs    atomic.Int64
		wg      sync.WaitGroup
		measure atomic.Bool
		stop    atomic.Bool
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 1<<14)
			for !stop.Load() {
				t0 := time.Now()
				err := op()
				if !measure.Load() {
					continue
				}
				if err != nil {
					errs.Add(1)
					continue
				}
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	time.Sleep(benchWarmup)
	measure.Store(true)
	start := time.Now()
	time.Sleep(benchWindow)
	measure.Store(false)
	elapsed := time.Since(start)
	stop.Store(true)
	wg.Wait()
	return summarise(lat, len(lat), errs.Load(), elapsed)
}

// openLoop sends at a fixed rate for the window; latency counts from the
// scheduled send time, so a stall is not hidden (no coordinated omission).
func openLoop(rate float64, op func() error) stats {
	var (
		mu   sync.Mutex
		lat  []time.Duration
		errs atomic.Int64
		wg   sync.WaitGroup
	)
	interval := time.Duration(float64(time.Second) / rate)
	sem := make(chan struct{}, 1024)
	start := time.Now()
	for i := 0; ; i++ {
		at := start.Add(time.Duration(i) * interval)
		if at.Sub(start) >= benchWindow {
			break
		}
		time.Sleep(time.Until(at))
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := op(); err != nil {
				errs.Add(1)
				return
			}
			d := time.Since(at)
			mu.Lock()
			lat = append(lat, d)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return summarise(lat, len(lat), errs.Load(), benchWindow)
}

// httpSender posts the signed 1 KiB body to url with keep-alive.
func httpSender(url string) func() error {
	mac := hmac.New(sha256.New, []byte(benchSecret))
	mac.Write(benchBody)
	sig := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024}, Timeout: 30 * time.Second}
	return func() error {
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(benchBody))
		req.Host = host
		req.Header.Set("X-Hub-Signature-256", sig)
		req.Header.Set(receiver.OriginHeader, originSecret)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
}

// bareHTTP is H's server: read the body, check the HMAC, answer 202.
func bareHTTP() http.Handler {
	key := []byte(benchSecret)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		got, err := hex.DecodeString(r.Header.Get("X-Hub-Signature-256")[len("sha256="):])
		mac := hmac.New(sha256.New, key)
		mac.Write(body)
		if err != nil || !hmac.Equal(got, mac.Sum(nil)) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"id":"x"}`))
	})
}

func purge(b *testing.B, vhost string) {
	conn, err := amqp.Dial(testenv.AMQPURL("", vhost))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		b.Fatal(err)
	}
	if _, err := ch.QueuePurge(topology.Queue, false); err != nil {
		b.Fatal(err)
	}
}

// bareBroker is B: benchSenders goroutines, each with its own confirm-mode
// channel on one connection, publishing and waiting for its own confirm.
func bareBroker(b *testing.B, vhost string) stats {
	conn, err := amqp.Dial(testenv.AMQPURLAs("", vhost, topology.Receiver))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	chans := make(chan *amqp.Channel, benchSenders)
	for range benchSenders {
		ch, err := conn.Channel()
		if err != nil {
			b.Fatal(err)
		}
		if err := ch.Confirm(false); err != nil {
			b.Fatal(err)
		}
		chans <- ch
	}
	var n atomic.Int64
	return closedLoop(benchSenders, func() error {
		ch := <-chans
		defer func() { chans <- ch }()
		e := envelope.New("gh", webhooksig.Delivery{EventType: "push"}, fmt.Sprint(n.Add(1)), "", benchBody, time.Now())
		dc, err := ch.PublishWithDeferredConfirm(topology.Exchange, e.RoutingKey(), true, false, e.Publishing())
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if ok, err := dc.WaitContext(ctx); err != nil || !ok {
			return fmt.Errorf("not confirmed: %v", err)
		}
		return nil
	})
}

func BenchmarkReceiverVsCeiling(b *testing.B) {
	set, err := sources.Parse([]byte(fmt.Sprintf("origin_secret: %q\nsources:\n  - {name: gh, hosts: [%s], scheme: github, secrets: [%q]}\n", originSecret, host, benchSecret)))
	if err != nil {
		b.Fatal(err)
	}
	vhost := testenv.RabbitMQ(b)
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	for i := 0; i < b.N; i++ {
		bare := httptest.NewServer(bareHTTP())
		h := closedLoop(benchSenders, httpSender(bare.URL+"/webhooks/gh"))
		bare.Close()

		purge(b, vhost)
		bb := bareBroker(b, vhost)

		purge(b, vhost)
		pub := publish.New(context.Background(), publish.Config{URL: testenv.AMQPURLAs("", vhost, topology.Receiver), Logger: log})
		srv := httptest.NewServer(receiver.New(set, pub, log))
		send := httpSender(srv.URL + "/webhooks/gh")
		stopProfile := startProfile(b, *receiverProfile)
		a := closedLoop(benchSenders, send)
		stopProfile()
		purge(b, vhost)
		half := openLoop(a.rate/2, send)
		srv.Close()
		pub.Close()
		purge(b, vhost)

		l := 1 / (1/h.rate + 1/bb.rate)
		fmt.Fprintf(os.Stdout, "\nreceiver vs co-located ceiling (64 senders, 1 KiB bodies, %v windows)\n", benchWindow)
		fmt.Fprintf(os.Stdout, "  H  bare HTTP + HMAC           %s\n", h)
		fmt.Fprintf(os.Stdout, "  B  bare confirmed publishes   %s\n", bb)
		fmt.Fprintf(os.Stdout, "  L  1/(1/H+1/B)                %8.0f/s\n", l)
		fmt.Fprintf(os.Stdout, "  a  receiver accepted          %s\n", a)
		fmt.Fprintf(os.Stdout, "  a/L                           %8.2f   (target >= 0.85)\n", a.rate/l)
		fmt.Fprintf(os.Stdout, "  receiver at half peak (%5.0f/s) %s   (target p99 < 20 ms)\n\n", a.rate/2, half)
		b.ReportMetric(h.rate, "H_req/s")
		b.ReportMetric(bb.rate, "B_msg/s")
		b.ReportMetric(l, "L_req/s")
		b.ReportMetric(a.rate, "receiver_req/s")
		b.ReportMetric(a.rate/l, "receiver/L")
		b.ReportMetric(float64(half.p99.Microseconds())/1000, "p99_ms@half")
	}
}

func startProfile(b *testing.B, path string) (stop func()) {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}
