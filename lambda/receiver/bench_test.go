package receiver_test

// The receiver's throughput against the co-located ceiling, all in one run:
//
//	H = bare net/http server (local mode's server settings): read body,
//	    check the same HMAC, 202 (no broker)
//	B = bare amqp091 publishers: 64 goroutines with one publish in flight
//	    each, the envelope's message shape (exchange webhooks, routing key
//	    gh.push, mandatory, persistent, message id, the four headers), each
//	    waiting for its own confirm; measured twice, each publisher on its
//	    own confirm channel (B64) and all on one shared channel (B1), and
//	    B is the better of the two: the ceiling, not one way of publishing
//	L = 1/(1/H + 1/B): what a receiver could do if its only costs were those
//	    two, sharing this machine's cores
//
// The receiver runs as local mode runs it: LocalServer, LocalHandler,
// metrics, and its JSON log lines written to a pipe that is drained (as
// stdout is). The load generator is the same for H and the receiver: 64
// closed-loop senders with keep-alive, 1 KiB bodies.

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
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
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

// -receiver.cpuprofile=P profiles each closed-loop window into P.<figure>
// (P.H, P.B64, P.B1, P.a, and P.<figure>.2 for the second window), load
// generator included: compare P.a with P.H and P.B1 per request.
var (
	receiverProfile  = flag.String("receiver.cpuprofile", "", "write a CPU profile of every closed-loop window to this path + .<figure>")
	receiverChannels = flag.Int("receiver.channels", 0, "publish channels of the receiver under test (0: local mode's default)")
)

type stats struct {
	rate     float64
	p50, p99 time.Duration
	errors   int64
	firstErr error // the first error seen, to say what the errors were
	// This process's CPU time (user + system) and write syscalls per
	// operation over the window: the load generator's and the server's
	// together, not the broker's. Unlike rate, they hardly move when other
	// processes compete for the cores.
	cpuPerOp    time.Duration
	writesPerOp float64
	// The broker's CPU time per operation over the same window (its
	// beam.smp process; 0 when it cannot be read): what this process's
	// way of publishing costs the broker.
	brokerPerOp time.Duration

	// What the figures were made from, for pooling windows (pool).
	lat     []time.Duration
	elapsed time.Duration
	used    usage
}

func (s stats) String() string {
	return fmt.Sprintf("%8.0f/s  p50 %6.2f ms  p99 %6.2f ms  errors %d  cpu %5.1f µs/op  broker %5.1f µs/op  writes %4.2f/op", s.rate,
		float64(s.p50.Microseconds())/1000, float64(s.p99.Microseconds())/1000, s.errors,
		us(s.cpuPerOp), us(s.brokerPerOp), s.writesPerOp) + firstErrNote(s.firstErr)
}

func firstErrNote(err error) string {
	if err == nil {
		return ""
	}
	return fmt.Sprintf(" (first: %v)", err)
}

func summarise(lat []time.Duration, n int, errs int64, firstErr error, d time.Duration, used usage) stats {
	slices.Sort(lat)
	s := stats{rate: float64(n) / d.Seconds(), errors: errs, firstErr: firstErr, lat: lat, elapsed: d, used: used}
	if len(lat) > 0 {
		s.p50, s.p99 = lat[len(lat)/2], lat[len(lat)*99/100]
	}
	if n > 0 {
		s.cpuPerOp = used.cpu / time.Duration(n)
		s.writesPerOp = float64(used.writes) / float64(n)
		s.brokerPerOp = used.broker / time.Duration(n)
	}
	return s
}

// pool is the figures of two windows of the same work taken together: the
// benchmark measures every figure once going forward and once coming back
// (H B a, a B H), so a machine that slows down or speeds up during the run
// weighs on every figure alike instead of on whichever came last.
func pool(x, y stats) stats {
	firstErr := x.firstErr
	if firstErr == nil {
		firstErr = y.firstErr
	}
	used := usage{cpu: x.used.cpu + y.used.cpu, writes: x.used.writes + y.used.writes, broker: x.used.broker + y.used.broker}
	lat := append(slices.Clone(x.lat), y.lat...)
	return summarise(lat, len(lat), x.errors+y.errors, firstErr, x.elapsed+y.elapsed, used)
}

// usage is this process's CPU time and write syscalls so far, and the
// broker's CPU time (Linux).
type usage struct {
	cpu    time.Duration
	writes int64
	broker time.Duration
}

// brokerPID is the local RabbitMQ's Erlang VM, found once; 0 if none.
var brokerPID = sync.OnceValue(func() int {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if comm, err := os.ReadFile("/proc/" + e.Name() + "/comm"); err == nil && strings.TrimSpace(string(comm)) == "beam.smp" {
			if cmd, err := os.ReadFile("/proc/" + e.Name() + "/cmdline"); err == nil && bytes.Contains(cmd, []byte("rabbit")) {
				return pid
			}
		}
	}
	return 0
})

// brokerCPU is the broker's user + system CPU time so far (clock ticks of
// 10 ms, /proc/<pid>/stat fields 14 and 15), 0 if it cannot be read.
func brokerCPU() time.Duration {
	pid := brokerPID()
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

func usageNow() usage {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	u := usage{cpu: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), broker: brokerCPU()}
	if b, err := os.ReadFile("/proc/self/io"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "syscw: "); ok {
				u.writes, _ = strconv.ParseInt(v, 10, 64)
			}
		}
	}
	return u
}

func (u usage) since(start usage) usage {
	return usage{cpu: u.cpu - start.cpu, writes: u.writes - start.writes, broker: u.broker - start.broker}
}

// perWorker gives every worker of closedLoop the same op.
func perWorker(op func() error) func() func() error { return func() func() error { return op } }

// closedLoop runs `workers` goroutines, each calling its own op (from newOp)
// back to back; it measures the window after a warm-up.
func closedLoop(workers int, newOp func() func() error) stats {
	var (
		mu      sync.Mutex
		lat     []time.Duration
		errs    atomic.Int64
		first   sync.Once
		firstE  error
		wg      sync.WaitGroup
		measure atomic.Bool
		stop    atomic.Bool
	)
	for range workers {
		op := newOp()
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
					first.Do(func() { firstE = err })
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
	start, used := time.Now(), usageNow()
	time.Sleep(benchWindow)
	measure.Store(false)
	elapsed, used := time.Since(start), usageNow().since(used)
	stop.Store(true)
	wg.Wait()
	return summarise(lat, len(lat), errs.Load(), firstE, elapsed, used)
}

// openLoop sends at a fixed rate for the window; latency counts from the
// scheduled send time, so a stall is not hidden (no coordinated omission).
func openLoop(rate float64, op func() error) stats {
	var (
		mu     sync.Mutex
		lat    []time.Duration
		errs   atomic.Int64
		first  sync.Once
		firstE error
		wg     sync.WaitGroup
	)
	interval := time.Duration(float64(time.Second) / rate)
	sem := make(chan struct{}, 1024)
	start, used := time.Now(), usageNow()
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
				first.Do(func() { firstE = err })
				return
			}
			d := time.Since(at)
			mu.Lock()
			lat = append(lat, d)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return summarise(lat, len(lat), errs.Load(), firstE, benchWindow, usageNow().since(used))
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
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			return fmt.Errorf("status %d: %s", resp.StatusCode, bytes.TrimSpace(body))
		}
		return nil
	}
}

// bareHTTP is H's server: read the body, check the HMAC, answer 202.
func bareHTTP() http.Handler { return bareHandler(nil) }

// bareHandler reads the body, checks the HMAC, runs then (if any; an error
// answers 503) and answers 202.
func bareHandler(then func(body []byte) error) http.Handler {
	key := []byte(benchSecret)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		sig, ok := strings.CutPrefix(r.Header.Get("X-Hub-Signature-256"), "sha256=")
		got, err := hex.DecodeString(sig)
		mac := hmac.New(sha256.New, key)
		mac.Write(body)
		if !ok || err != nil || !hmac.Equal(got, mac.Sum(nil)) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if then != nil {
			if err := then(body); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
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

// bareConn is B's broker side: one connection and nch confirm-mode
// channels, as the receiver's grant allows.
type bareConn struct {
	conn  *amqp.Connection
	chans []*amqp.Channel
	n     atomic.Int64
}

func dialBare(b *testing.B, vhost string, nch int) *bareConn {
	conn, err := amqp.Dial(testenv.AMQPURLAs("", vhost, topology.Receiver))
	if err != nil {
		b.Fatal(err)
	}
	c := &bareConn{conn: conn, chans: make([]*amqp.Channel, nch)}
	for i := range c.chans {
		ch, err := conn.Channel()
		if err != nil {
			b.Fatal(err)
		}
		if err := ch.Confirm(false /* noWait */); err != nil {
			b.Fatal(err)
		}
		c.chans[i] = ch
	}
	return c
}

// publish sends the receiver's message for a github delivery on ch (the id
// derived from the MAC, the event type from the header) and waits for its
// confirm.
func (c *bareConn) publish(ch *amqp.Channel, body []byte) error {
	n := c.n.Add(1)
	d := webhooksig.Delivery{EventType: "push", MAC: sha256.Sum256([]byte(strconv.FormatInt(n, 10)))}
	e := envelope.New("gh", d, strconv.FormatInt(n, 10), "application/json", body, time.Now())
	dc, err := ch.PublishWithDeferredConfirm(topology.Exchange, e.RoutingKey(),
		true,  // mandatory
		false, // immediate
		e.Publishing())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if ok, err := dc.WaitContext(ctx); err != nil || !ok {
		return fmt.Errorf("not confirmed: %v", err)
	}
	return nil
}

// bareBroker is B: benchSenders goroutines with one publish in flight each,
// spread over nch confirm-mode channels of one connection, each waiting for
// its own confirm.
func bareBroker(b *testing.B, vhost string, nch int) stats {
	c := dialBare(b, vhost, nch)
	defer c.conn.Close()
	var worker atomic.Int64
	return closedLoop(benchSenders, func() func() error {
		ch := c.chans[int(worker.Add(1))%nch]
		return func() error { return c.publish(ch, benchBody) }
	})
}

// bareReceiver is the least a receiver can be: H's handler that, once the
// signature holds, publishes B's message on one shared confirm channel and
// answers 202 after the confirm. No log line, no metrics, no envelope
// checks: the baseline of the receiver's latency at the same offered rate.
func bareReceiver(c *bareConn) http.Handler {
	return bareHandler(func(body []byte) error { return c.publish(c.chans[0], body) })
}

// serveLocal serves h as local mode does, on a free loopback port.
func serveLocal(b *testing.B, h http.Handler) (url string, stop func()) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := receiver.LocalServer(l.Addr().String(), h)
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(l) }()
	return "http://" + l.Addr().String(), func() { srv.Close(); <-done }
}

// pipeLogger is a JSON logger writing to a pipe that a goroutine drains,
// as the binary's stdout is read by a terminal or a log collector.
func pipeLogger(b *testing.B) (*slog.Logger, func()) {
	r, w, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _, _ = io.Copy(io.Discard, r) }()
	return slog.New(slog.NewJSONHandler(w, nil)).With("service", "receiver"), func() { w.Close(); <-done; r.Close() }
}

func BenchmarkReceiverVsCeiling(b *testing.B) {
	set, err := sources.Parse([]byte(fmt.Sprintf("origin_secret: %q\nsources:\n  - {name: gh, hosts: [%s], scheme: github, secrets: [%q]}\n", originSecret, host, benchSecret)))
	if err != nil {
		b.Fatal(err)
	}
	vhost := testenv.RabbitMQ(b)
	quiet := slog.New(slog.NewJSONHandler(io.Discard, nil))
	for i := 0; i < b.N; i++ {
		hURL, stopH := serveLocal(b, bareHTTP())
		sendH := httpSender(hURL + "/webhooks/gh")

		log, closeLog := pipeLogger(b)
		pub := publish.New(context.Background(), publish.Config{URL: testenv.AMQPURLAs("", vhost, topology.Receiver),
			Channels: *receiverChannels, Logger: quiet})
		m := receiver.NewMetrics(receiver.MetricsConfig{})
		aURL, stopA := serveLocal(b, receiver.LocalHandler(receiver.New(set, pub, log).WithMetrics(m), m))
		sendA := httpSender(aURL + "/webhooks/gh")

		// Every closed-loop figure twice, forward and back (H B64 B1 a,
		// a B1 B64 H): a drift of the machine's speed during the run
		// weighs on all four alike. The broker's queue is emptied before
		// every window that fills it.
		measure := map[string]func() stats{
			"H":   func() stats { return closedLoop(benchSenders, perWorker(sendH)) },
			"B64": func() stats { purge(b, vhost); return bareBroker(b, vhost, benchSenders) },
			"B1":  func() stats { purge(b, vhost); return bareBroker(b, vhost, 1) },
			"a":   func() stats { purge(b, vhost); return closedLoop(benchSenders, perWorker(sendA)) },
		}
		order := []string{"H", "B64", "B1", "a"}
		got := map[string]stats{}
		for pass := range 2 {
			for j := range order {
				name := order[j]
				if pass == 1 {
					name = order[len(order)-1-j]
				}
				stopProfile := startProfile(b, *receiverProfile, name)
				st := measure[name]()
				stopProfile()
				fmt.Fprintf(os.Stdout, "  window %d %-3s %s\n", pass+1, name, st)
				if prev, ok := got[name]; ok {
					st = pool(prev, st)
				}
				got[name] = st
			}
		}
		h, b64, b1, a := got["H"], got["B64"], got["B1"], got["a"]
		bb := b64
		if b1.rate > bb.rate {
			bb = b1
		}

		// Latency at half the receiver's peak, open loop, against the
		// bare receiver at the same rate, also forward and back.
		bare := dialBare(b, vhost, 1)
		rURL, stopR := serveLocal(b, bareReceiver(bare))
		sendR := httpSender(rURL + "/webhooks/gh")
		var half, halfBare stats
		for pass := range 2 {
			run := []func(){
				func() {
					purge(b, vhost)
					st := openLoop(a.rate/2, sendA)
					fmt.Fprintf(os.Stdout, "  window %d half a    %s\n", pass+1, st)
					half = pool(half, st)
				},
				func() {
					purge(b, vhost)
					st := openLoop(a.rate/2, sendR)
					fmt.Fprintf(os.Stdout, "  window %d half bare %s\n", pass+1, st)
					halfBare = pool(halfBare, st)
				},
			}
			if pass == 1 {
				slices.Reverse(run)
			}
			for _, f := range run {
				f()
			}
		}
		stopR()
		bare.conn.Close()
		stopA()
		pub.Close()
		closeLog()
		stopH()
		purge(b, vhost)

		l := 1 / (1/h.rate + 1/bb.rate)
		w := 2 * benchWindow
		fmt.Fprintf(os.Stdout, "\nreceiver vs co-located ceiling (64 senders, 1 KiB bodies; each figure two %v windows, forward and back)\n", benchWindow)
		fmt.Fprintf(os.Stdout, "  H  bare HTTP + HMAC           %s\n", h)
		fmt.Fprintf(os.Stdout, "  B64 one channel per publisher %s\n", b64)
		fmt.Fprintf(os.Stdout, "  B1  one shared channel        %s\n", b1)
		fmt.Fprintf(os.Stdout, "  B  bare confirmed publishes   %8.0f/s (the better of B64 and B1)\n", bb.rate)
		fmt.Fprintf(os.Stdout, "  L  1/(1/H+1/B)                %8.0f/s\n", l)
		fmt.Fprintf(os.Stdout, "  a  receiver accepted          %s\n", a)
		fmt.Fprintf(os.Stdout, "  a/L                           %8.2f   (target >= 0.85)\n", a.rate/l)
		// The same comparison in CPU per request, which other work on
		// the machine hardly moves: what H and B spend for one request,
		// over what the receiver spends; in this process (load generator
		// included) and in the broker.
		fmt.Fprintf(os.Stdout, "  cpu(H+B)/cpu(a)               %8.2f   (H %.1f + B %.1f µs vs a %.1f µs per request, this process)\n",
			float64(h.cpuPerOp+bb.cpuPerOp)/float64(a.cpuPerOp), us(h.cpuPerOp), us(bb.cpuPerOp), us(a.cpuPerOp))
		fmt.Fprintf(os.Stdout, "  broker cpu B/a                %8.2f   (B %.1f µs vs a %.1f µs per request, the broker's own)\n",
			float64(bb.brokerPerOp)/float64(max(a.brokerPerOp, 1)), us(bb.brokerPerOp), us(a.brokerPerOp))
		fmt.Fprintf(os.Stdout, "  at half peak (%5.0f/s, open loop, %v):\n", a.rate/2, w)
		fmt.Fprintf(os.Stdout, "    bare receiver (H's handler + B1's publish) %s\n", halfBare)
		fmt.Fprintf(os.Stdout, "    receiver                                   %s\n", half)
		fmt.Fprintf(os.Stdout, "    p99 receiver/bare             %8.2f   (target <= 1.25)\n\n",
			float64(half.p99)/float64(max(halfBare.p99, 1)))
		b.ReportMetric(h.rate, "H_req/s")
		b.ReportMetric(bb.rate, "B_msg/s")
		b.ReportMetric(l, "L_req/s")
		b.ReportMetric(a.rate, "receiver_req/s")
		b.ReportMetric(a.rate/l, "receiver/L")
		b.ReportMetric(float64(half.p99.Microseconds())/1000, "p99_ms@half")
		b.ReportMetric(float64(half.p99)/float64(max(halfBare.p99, 1)), "p99@half/bare")
		b.ReportMetric(us(a.cpuPerOp), "receiver_cpu_µs/req")
		b.ReportMetric(float64(h.cpuPerOp+bb.cpuPerOp)/float64(a.cpuPerOp), "cpu(H+B)/cpu(receiver)")
	}
}

// profiled remembers the profile paths this run wrote.
var profiled = map[string]bool{}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }

// startProfile profiles until stop into path.<name> (each figure's
// windows: path.a is the receiver's first, path.a.2 its second).
func startProfile(b *testing.B, path, name string) (stop func()) {
	if path == "" {
		return func() {}
	}
	path += "." + name
	if profiled[path] {
		path += ".2"
	}
	profiled[path] = true
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatalf("profile of %s: %v", name, err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}
