package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookline/hookline/internal/testenv"
	"github.com/hookline/hookline/internal/topology"
	"github.com/hookline/hookline/internal/webhooksig"
)

// TestSoak is issue 13's figure 6: signed webhooks at a fixed rate through
// the real receiver (local mode) → RabbitMQ → the real processor → MariaDB,
// both built from this tree and run as their own processes with
// production's broker and database users, every connection through a TCP
// proxy. 5 % of the accepted webhooks are sent again (a provider's retry:
// same id, new timestamp); a burst of three times the rate runs in the
// middle; each dependency is cut once and the processor restarted once.
// At the end it prints and checks the accounting (202s = distinct rows +
// duplicates, no row missing, no dead letter, every queue empty), the
// end-to-end latency per interval, and both processes' RSS and goroutines
// per interval (flat).
//
// `make test` runs the short variant (SOAK_DURATION unset: 45 s);
// `make soak` runs 10 minutes. Knobs: SOAK_DURATION, SOAK_RATE (webhooks/s;
// default half the peak measured first), SOAK_INTERVAL (the reporting
// interval), SOAK_MAX_REQUESTS (a bound on what is sent).
func TestSoak(t *testing.T) {
	t.Parallel()
	o := soakOptions(t)
	s := newSoak(t, o)

	peak := s.o.rate
	if peak == 0 {
		peak = s.calibrate()
		s.o.rate = max(peak/2, 5)
	}
	t.Logf("soak: %v at %.0f webhooks/s (peak %.0f/s), interval %v", o.duration, s.o.rate, peak, o.interval)
	s.run()
	s.report(peak)
}

type soakOpts struct {
	duration, interval time.Duration
	rate               float64 // 0: half the measured peak
	maxRequests        int64
	calibrate          time.Duration
	cut                time.Duration // how long each dependency stays cut
	burst              time.Duration
}

func soakOptions(t *testing.T) soakOpts {
	o := soakOpts{duration: 45 * time.Second, interval: 10 * time.Second, maxRequests: 2_000_000,
		calibrate: 5 * time.Second, cut: 3 * time.Second, burst: 5 * time.Second}
	if v := os.Getenv("SOAK_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		require.NoError(t, err, "SOAK_DURATION")
		require.GreaterOrEqual(t, d, 20*time.Second, "SOAK_DURATION")
		o.duration = d
		if d >= 5*time.Minute {
			o.interval, o.calibrate, o.cut, o.burst = time.Minute, 15*time.Second, 10*time.Second, 30*time.Second
		}
	}
	if v := os.Getenv("SOAK_INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		require.NoError(t, err, "SOAK_INTERVAL")
		o.interval = d
	}
	if v := os.Getenv("SOAK_RATE"); v != "" {
		r, err := strconv.ParseFloat(v, 64)
		require.NoError(t, err, "SOAK_RATE")
		require.Positive(t, r, "SOAK_RATE")
		o.rate = r
	}
	if v := os.Getenv("SOAK_MAX_REQUESTS"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		require.NoError(t, err, "SOAK_MAX_REQUESTS")
		o.maxRequests = n
	}
	return o
}

// soak is one run's processes, proxies and books.
type soak struct {
	t                    *testing.T
	e                    *env
	o                    soakOpts
	bin                  string // directory of the built binaries
	rabbit, redis, mysql *testenv.Proxy
	recvAddr, procHTTP   string
	recv                 *exec.Cmd
	procMu               sync.Mutex
	proc                 *exec.Cmd
	logs                 *os.File
	client               *http.Client
	start                time.Time
	sent                 atomic.Int64 // requests sent (attempts)
	status               sync.Map     // HTTP status → *atomic.Int64
	mu                   sync.Mutex
	accepted             map[string]int // id → 202s
	gaveUp               []string       // ids never accepted
	samples              []sample
	events               []string // fault log
}

type sample struct {
	at         time.Duration
	what       string // receiver | processor
	pid        int
	rssKiB     int64
	goroutines int
	depth, dlq int
}

func newSoak(t *testing.T, o soakOpts) *soak {
	s := &soak{t: t, e: newEnv(t, envOpts{}), o: o, bin: t.TempDir(), accepted: map[string]int{}}
	s.build()
	s.rabbit = testenv.NewProxy(t, testenv.RabbitMQAddr())
	s.redis = testenv.NewProxy(t, testenv.RedisAddr())
	s.mysql = testenv.NewProxy(t, testenv.MySQLAddr())
	s.recvAddr, s.procHTTP = freeAddr(t), freeAddr(t)
	var err error
	s.logs, err = os.Create(filepath.Join(s.bin, "processes.log"))
	require.NoError(t, err)
	t.Cleanup(func() {
		s.logs.Close()
		if t.Failed() {
			s.tailLogs()
		}
	})
	s.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	s.startReceiver()
	s.startProcessor()
	return s
}

// build compiles the receiver and the processor as `make build` does, for
// this machine.
func (s *soak) build() {
	gobin, err := exec.LookPath("go")
	require.NoError(s.t, err, "the go command builds the binaries")
	for _, b := range []struct{ out, pkg string }{{"receiver", "github.com/hookline/hookline/lambda"}, {"processor", "github.com/hookline/hookline/processor"}} {
		cmd := exec.Command(gobin, "build", "-trimpath", "-o", filepath.Join(s.bin, b.out), b.pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		require.NoError(s.t, err, "go build %s: %s", b.pkg, out)
	}
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

func (s *soak) spawn(name string, env ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(s.bin, name), "run")
	if name == "receiver" {
		cmd = exec.Command(filepath.Join(s.bin, name))
	}
	cmd.Env = append(env, "PATH="+os.Getenv("PATH"), "HOME="+os.Getenv("HOME"))
	cmd.Stdout, cmd.Stderr = s.logs, s.logs
	require.NoError(s.t, cmd.Start(), "start %s", name)
	s.t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd
}

func (s *soak) startReceiver() {
	s.recv = s.spawn("receiver",
		"RABBITMQ_URL="+testenv.AMQPURLAs(s.rabbit.Addr(), s.e.vhost, topology.Receiver),
		"WEBHOOK_SOURCES_FILE="+s.e.sourcesFile, "LISTEN_ADDR="+s.recvAddr, "LOG_LEVEL=warn")
	s.waitHTTP("http://" + s.recvAddr + "/metrics")
}

func (s *soak) startProcessor() {
	cfg := s.e.config(addrs{rabbitmq: s.rabbit.Addr(), redis: s.redis.Addr(), mysql: s.mysql.Addr()})
	p := s.spawn("processor",
		"RABBITMQ_URL="+cfg.RabbitMQURL, "REDIS_URL="+cfg.RedisURL, "MYSQL_DSN="+cfg.MySQLDSN,
		"WEBHOOK_SOURCES_FILE="+cfg.SourcesFile, "HTTP_ADDR="+s.procHTTP, "LOCK_PREFIX="+cfg.LockPrefix, "LOG_LEVEL=warn")
	s.procMu.Lock()
	s.proc = p
	s.procMu.Unlock()
	s.waitHTTP("http://" + s.procHTTP + "/health/ready")
}

func (s *soak) waitHTTP(url string) {
	require.Eventually(s.t, func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, time.Minute, 50*time.Millisecond, "%s answers 200", url)
}

func (s *soak) tailLogs() {
	raw, err := os.ReadFile(s.logs.Name())
	if err != nil {
		return
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	for _, l := range lines[max(0, len(lines)-40):] {
		s.t.Log(l)
	}
}

func (s *soak) log(format string, args ...any) {
	line := fmt.Sprintf("%6.1fs  ", time.Since(s.start).Seconds()) + fmt.Sprintf(format, args...)
	s.mu.Lock()
	s.events = append(s.events, line)
	s.mu.Unlock()
	s.t.Log("soak: " + line)
}

// deliver sends webhook id until the receiver answers 202, as a provider
// retries: the same id and body, a new timestamp and signature each time.
// It gives up after two minutes.
func (s *soak) deliver(id string, body []byte) bool {
	deadline := time.Now().Add(2 * time.Minute)
	for wait := 100 * time.Millisecond; time.Now().Before(deadline); wait = min(2*wait, 2*time.Second) {
		if s.sent.Add(1) > s.o.maxRequests {
			s.t.Errorf("SOAK_MAX_REQUESTS (%d) reached", s.o.maxRequests)
			return false
		}
		code := s.post(id, body)
		n, _ := s.status.LoadOrStore(code, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
		if code == http.StatusAccepted {
			s.mu.Lock()
			s.accepted[id]++
			s.mu.Unlock()
			return true
		}
		if code != http.StatusServiceUnavailable && code != 0 {
			s.t.Errorf("webhook %s: status %d", id, code)
			return false
		}
		time.Sleep(wait)
	}
	s.mu.Lock()
	s.gaveUp = append(s.gaveUp, id)
	s.mu.Unlock()
	return false
}

// post sends one signed attempt; 0 is a transport error.
func (s *soak) post(id string, body []byte) int {
	hdr, err := webhooksig.Sign(webhooksig.Standard, secret, id, time.Now(), body)
	require.NoError(s.t, err)
	req, err := http.NewRequest(http.MethodPost, "http://"+s.recvAddr+"/webhooks/shop", bytes.NewReader(body))
	require.NoError(s.t, err)
	req.Header = hdr
	req.Header.Set("Content-Type", "application/json")
	req.Host = "localhost"
	resp, err := s.client.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// traffic sends webhooks at rate(now) per second until stop, each one
// from a pool of senders (so a slow answer delays no other webhook), 5 % of
// the accepted ones once more; it returns when every sender is done.
func (s *soak) traffic(prefix string, rate func(time.Duration) float64, stop time.Duration) {
	jobs := make(chan int, 1<<16)
	var wg sync.WaitGroup
	for range 128 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				id := fmt.Sprintf("%s-%08d", prefix, i)
				ev := event{id: id, entity: fmt.Sprintf("ent-%04d", rand.IntN(2000)), seq: i}
				b := body(ev, max(benchBody-len(body(ev, 0)), 0))
				if s.deliver(id, b) && rand.IntN(100) < 5 {
					s.deliver(id, b) // the provider's duplicate
				}
			}
		}()
	}
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	begin := time.Now()
	due, n := 0.0, 0
	for last := begin; ; {
		now := <-t.C
		el := now.Sub(begin)
		if el >= stop || s.t.Failed() {
			break
		}
		due += rate(el) * now.Sub(last).Seconds()
		last = now
		for ; float64(n) < due; n++ {
			jobs <- n
		}
	}
	close(jobs)
	wg.Wait()
}

// calibrate is the peak: 128 senders, each sending its next webhook as
// soon as the last is answered, for o.calibrate; the webhooks accepted
// divided by the time until the processor has stored them all.
func (s *soak) calibrate() float64 {
	s.start = time.Now()
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 128 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Since(s.start) < s.o.calibrate && !s.t.Failed() {
				i := next.Add(1)
				id := fmt.Sprintf("peak-%08d", i)
				ev := event{id: id, entity: fmt.Sprintf("ent-%04d", rand.IntN(2000)), seq: int(i)}
				s.deliver(id, body(ev, max(benchBody-len(body(ev, 0)), 0)))
			}
		}()
	}
	wg.Wait()
	s.mu.Lock()
	n := len(s.accepted)
	s.mu.Unlock()
	require.Eventually(s.t, func() bool { return s.e.events() >= n }, 5*time.Minute, 50*time.Millisecond)
	peak := float64(n) / time.Since(s.start).Seconds()
	s.log("calibration: %d webhooks stored in %.1f s: peak %.0f/s", n, time.Since(s.start).Seconds(), peak)
	return peak
}

// run is the soak proper: traffic, the burst, the faults, the drain.
func (s *soak) run() {
	s.start = time.Now()
	d := s.o.duration
	burstAt := d / 2
	rate := func(el time.Duration) float64 {
		if el >= burstAt && el < burstAt+s.o.burst {
			return 3 * s.o.rate
		}
		return s.o.rate
	}
	ctx, cancel := context.WithCancel(context.Background())
	var bg sync.WaitGroup
	bg.Add(2)
	go func() { defer bg.Done(); s.sampleEvery(ctx) }()
	go func() { defer bg.Done(); s.faults(ctx) }()
	s.traffic("soak", rate, d)
	s.log("traffic stopped: %d requests sent", s.sent.Load())
	cancel()
	bg.Wait()

	s.mu.Lock()
	distinct := len(s.accepted)
	s.mu.Unlock()
	require.Eventually(s.t, func() bool { return s.e.events() >= distinct && s.e.settled() }, 5*time.Minute, 100*time.Millisecond,
		"every accepted webhook stored and every queue empty")
	s.log("drained: %d rows", s.e.events())
	s.takeSamples()
}

// faults cuts RabbitMQ, Redis and MySQL once each for o.cut and restarts
// the processor once (SIGTERM, then a new process), spread over the run.
func (s *soak) faults(ctx context.Context) {
	d := s.o.duration
	plan := []struct {
		at   time.Duration
		name string
		do   func()
	}{
		{d / 5, "rabbitmq", func() { s.cutFor(ctx, "rabbitmq", s.rabbit) }},
		{d * 7 / 20, "redis", func() { s.cutFor(ctx, "redis", s.redis) }},
		{d / 2, "burst", func() { s.log("burst: %.0f webhooks/s for %v", 3*s.o.rate, s.o.burst) }},
		{d * 13 / 20, "mysql", func() { s.cutFor(ctx, "mysql", s.mysql) }},
		{d * 4 / 5, "restart", s.restartProcessor},
	}
	for _, f := range plan {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(s.start.Add(f.at))):
		}
		f.do()
	}
}

func (s *soak) cutFor(ctx context.Context, name string, p *testenv.Proxy) {
	s.log("cut %s for %v", name, s.o.cut)
	p.Cut()
	select {
	case <-ctx.Done():
	case <-time.After(s.o.cut):
	}
	p.Restore()
	s.log("restored %s", name)
}

func (s *soak) restartProcessor() {
	s.procMu.Lock()
	p := s.proc
	s.procMu.Unlock()
	s.log("restart processor (SIGTERM pid %d)", p.Process.Pid)
	require.NoError(s.t, p.Process.Signal(syscall.SIGTERM))
	_ = p.Wait()
	s.startProcessor()
	s.procMu.Lock()
	s.log("processor back (pid %d)", s.proc.Process.Pid)
	s.procMu.Unlock()
}

func (s *soak) sampleEvery(ctx context.Context) {
	s.takeSamples()
	t := time.NewTicker(s.o.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.takeSamples()
		}
	}
}

// takeSamples records RSS (VmRSS) and goroutines (go_goroutines on
// /metrics) of both processes, and the queue depths.
func (s *soak) takeSamples() {
	s.procMu.Lock()
	proc := s.proc
	s.procMu.Unlock()
	depth, dlq := s.depths()
	for _, p := range []struct {
		what, metrics string
		cmd           *exec.Cmd
	}{{"receiver", s.recvAddr, s.recv}, {"processor", s.procHTTP, proc}} {
		sm := sample{at: time.Since(s.start), what: p.what, pid: p.cmd.Process.Pid, rssKiB: vmRSS(p.cmd.Process.Pid),
			goroutines: goroutines("http://" + p.metrics + "/metrics"), depth: depth, dlq: dlq}
		s.mu.Lock()
		s.samples = append(s.samples, sm)
		s.mu.Unlock()
	}
}

// depths reads the queues through a connection of its own (the test's may
// be the one a cut did not touch, but a closed channel must not fail the
// sampler): -1 when the broker does not answer.
func (s *soak) depths() (queued, dead int) {
	defer func() {
		if recover() != nil {
			queued, dead = -1, -1
		}
	}()
	queued = s.e.depth(topology.Queue)
	for _, r := range topology.RetryTiers {
		queued += s.e.depth(r.Queue())
	}
	return queued, s.e.depth(topology.DeadQueue)
}

func vmRSS(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb
		}
	}
	return -1
}

// goroutines reads go_goroutines from a Prometheus endpoint (-1: none).
func goroutines(url string) int {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return int(n)
		}
	}
	return -1
}

// report prints the figures and checks them.
func (s *soak) report(peak float64) {
	t := s.t
	s.mu.Lock()
	defer s.mu.Unlock()
	total202, dups := 0, 0
	for _, n := range s.accepted {
		total202 += n
		dups += n - 1
	}
	rows := s.e.events()
	stored := map[string]bool{}
	rs, err := s.e.db_.Query("SELECT event_id FROM webhook_events WHERE source = 'shop'")
	require.NoError(t, err)
	for rs.Next() {
		var id string
		require.NoError(t, rs.Scan(&id))
		stored[id] = true
	}
	require.NoError(t, rs.Err())
	rs.Close()
	var missing, unexpected []string
	for id := range s.accepted {
		if !stored[id] {
			missing = append(missing, id)
		}
	}
	for id := range stored {
		if s.accepted[id] == 0 {
			unexpected = append(unexpected, id)
		}
	}
	depth, dlq := s.depths()

	var out strings.Builder
	fmt.Fprintf(&out, "\nsoak (figure 6): %v at %.0f webhooks/s (half of the measured peak %.0f/s), burst 3x for %v, 5 %% duplicates\n", s.o.duration, s.o.rate, peak, s.o.burst)
	for _, l := range s.events {
		fmt.Fprintf(&out, "  %s\n", l)
	}
	codes := []string{}
	s.status.Range(func(k, v any) bool {
		codes = append(codes, fmt.Sprintf("%d: %d", k, v.(*atomic.Int64).Load()))
		return true
	})
	slices.Sort(codes)
	fmt.Fprintf(&out, "  requests sent %d; answers %s (0 = connection refused or reset)\n", s.sent.Load(), strings.Join(codes, ", "))
	fmt.Fprintf(&out, "  202s %d == distinct rows %d + duplicates %d: %v\n", total202, rows, dups, total202 == rows+dups)
	fmt.Fprintf(&out, "  rows missing %d, rows nobody was answered 202 for %d, webhooks given up %d, dead letters %d, queued at the end %d\n",
		len(missing), len(unexpected), len(s.gaveUp), dlq, depth)
	fmt.Fprintf(&out, "  end-to-end latency (x-received-at -> processed_at, the batch transaction's time) per %v of received_at:\n", s.o.interval)
	for _, l := range s.latencies() {
		fmt.Fprintf(&out, "    %s\n", l)
	}
	fmt.Fprintf(&out, "  processes per %v (RSS MiB, goroutines) and queue depth:\n", s.o.interval)
	for _, sm := range s.samples {
		fmt.Fprintf(&out, "    %7.1fs %-9s pid %-7d RSS %6.1f  goroutines %4d   queued %6d dead %d\n",
			sm.at.Seconds(), sm.what, sm.pid, float64(sm.rssKiB)/1024, sm.goroutines, sm.depth, sm.dlq)
	}
	flat := s.flat()
	for _, l := range flat {
		fmt.Fprintf(&out, "  %s\n", l)
	}
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Fprintf(&out, "  (load average at the end: %s)\n", strings.TrimSpace(string(load)))
	}
	fmt.Print(out.String())

	require.Empty(t, s.gaveUp, "every webhook was eventually accepted")
	require.Equal(t, total202, rows+dups, "202s == distinct rows + duplicates")
	require.Empty(t, missing, "every accepted webhook has its row")
	require.Empty(t, unexpected, "no row without a 202")
	require.Zero(t, dlq, "no dead letters")
	require.Zero(t, depth, "every queue back to 0")
	for _, l := range flat {
		require.NotContains(t, l, "NOT FLAT")
	}
}

// latencies are p50/p99 of processed_at - received_at per interval.
func (s *soak) latencies() []string {
	rs, err := s.e.db_.Query("SELECT received_at, processed_at FROM webhook_events WHERE event_id LIKE 'soak-%' ORDER BY received_at")
	require.NoError(s.t, err)
	defer rs.Close()
	byBucket := map[int][]time.Duration{}
	var first time.Time
	for rs.Next() {
		var rcv, done time.Time
		require.NoError(s.t, rs.Scan(&rcv, &done))
		if first.IsZero() {
			first = rcv
		}
		k := int(rcv.Sub(first) / s.o.interval)
		byBucket[k] = append(byBucket[k], done.Sub(rcv))
	}
	require.NoError(s.t, rs.Err())
	var out []string
	for k := 0; k <= len(byBucket); k++ {
		l, ok := byBucket[k]
		if !ok {
			continue
		}
		slices.Sort(l)
		out = append(out, fmt.Sprintf("%5v-%-5v n %6d  p50 %7.1f ms  p99 %8.1f ms  max %8.1f ms", time.Duration(k)*s.o.interval, time.Duration(k+1)*s.o.interval,
			len(l), ms(l[len(l)/2]), ms(l[len(l)*99/100]), ms(l[len(l)-1])))
	}
	return out
}

// flat compares each process's last sample (after the drain) with its
// first: goroutines back within 20 % + 10 of where they started, RSS
// within 2× + 32 MiB (Go returns memory to the OS lazily).
func (s *soak) flat() []string {
	var out []string
	for _, what := range []string{"receiver", "processor"} {
		var first, last *sample
		for i := range s.samples {
			sm := &s.samples[i]
			if sm.what != what {
				continue
			}
			if last != nil && sm.pid != last.pid {
				first = nil // a restarted process starts its own series
			}
			// A series starts at the process's first complete sample: one
			// taken while it still starts (no /metrics yet, RSS of a
			// process still loading) is no baseline to compare with.
			if first == nil && sm.goroutines >= 0 && sm.rssKiB >= 0 {
				first = sm
			}
			last = sm
		}
		if last == nil {
			continue
		}
		if first == nil {
			out = append(out, fmt.Sprintf("%s pid %d: no complete sample: NOT FLAT", what, last.pid))
			continue
		}
		verdict := "flat"
		if last.goroutines < 0 || last.rssKiB < 0 ||
			float64(last.goroutines) > 1.2*float64(first.goroutines)+10 || last.rssKiB > 2*first.rssKiB+32<<10 {
			verdict = "NOT FLAT"
		}
		out = append(out, fmt.Sprintf("%s pid %d: goroutines %d -> %d, RSS %.1f -> %.1f MiB: %s", what, last.pid,
			first.goroutines, last.goroutines, float64(first.rssKiB)/1024, float64(last.rssKiB)/1024, verdict))
	}
	return out
}
