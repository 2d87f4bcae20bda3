package e2e

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/hookline/hookline/internal/envelope"
	"github.com/hookline/hookline/internal/testenv"
	"github.com/hookline/hookline/internal/topology"
	"github.com/hookline/hookline/processor/command"
	"github.com/hookline/hookline/processor/config"
	"github.com/hookline/hookline/processor/handler"
	"github.com/hookline/hookline/processor/store"
)

// The processor figures (issue 13, figures 3 and 4), in one run:
//
//	C    a bare consumer that only acks, from the same quorum queue
//	I_1  16 connections doing single-row committed inserts of the same payloads
//	I_b  16 connections committing the same events in transactions of
//	     BATCH_SIZE, two writes per event (a multi-row INSERT of the event
//	     rows, a multi-row upsert of the entity rows, sent with START
//	     TRANSACTION and COMMIT in one round trip), counted in rows/s
//	L_1  = 1/(1/C + 1/I_1), the single-row limit: the floor (a) must not go under
//	L_2  = 1/(1/C + 2/I_b), the batched limit: the goal is (a) >= 0.8 L_2
//	(a)  the processor (a separate process, default PREFETCH/CONCURRENCY/
//	     BATCH_SIZE) draining a preloaded backlog of 20,000 events with 1 KiB
//	     bodies over 10,000 entities, counted only once its effect is checked
//	p50/p99 x-received-at -> commit at half of (a), next to a baseline
//	consumer doing one single-row committed insert and ack per message at the
//	same offered rate by 16 workers (goal: p99 <= 2x the baseline's), and the processor's
//	peak RSS.
const (
	benchEvents   = 20000
	benchEntities = 10000
	benchBody     = 1024
	benchInserter = 16
)

func BenchmarkProcessor(b *testing.B) {
	for range b.N {
		c := benchBareConsumer(b)
		i1 := benchInserts(b)
		ib := benchBatchInserts(b, config.DefaultBatchSize)
		l1 := 1 / (1/c + 1/i1)
		l2 := 1 / (1/c + 2/ib)
		a, rss, writes := benchDrain(b)
		rate := a / 2
		p50, p99, n := benchLatency(b, rate)
		c50, c99 := benchBaselineLatency(b, rate)
		// A second point at a quarter of (a): where the half-rate baseline
		// falls behind (its latency then only grows), this one still
		// compares two consumers that keep up.
		q50, q99, qn := benchLatency(b, a/4)
		d50, d99 := benchBaselineLatency(b, a/4)

		b.ReportMetric(a, "events/s")
		b.ReportMetric(c, "C_msgs/s")
		b.ReportMetric(i1, "I1_rows/s")
		b.ReportMetric(ib, "Ib_rows/s")
		b.ReportMetric(a/l2, "a/L2")
		b.ReportMetric(a/l1, "a/L1")
		b.ReportMetric(ms(p99), "p99_ms")
		b.ReportMetric(ms(c99), "base_p99_ms")
		b.ReportMetric(ms(q99), "p99q_ms")
		b.ReportMetric(ms(d99), "base_p99q_ms")
		b.ReportMetric(float64(rss)/(1<<20), "peakRSS_MiB")
		b.ReportMetric(writes, "drain_writes/event")
		fmt.Printf("\nprocessor benchmark (one run, same machine, same services):\n"+
			"  figure 3, throughput\n"+
			"    (a) processor drain of %d events (1 KiB, %d entities), effect checked: %8.0f events/s\n"+
			"        C   bare acking consumer, same quorum queue:                   %8.0f msgs/s\n"+
			"        I_1 %d connections, single-row committed inserts:              %8.0f rows/s\n"+
			"        I_b %d connections, committed batches of %d (event + entity row): %8.0f rows/s\n"+
			"        L_1 = 1/(1/C+1/I_1):                                           %8.0f events/s\n"+
			"        L_2 = 1/(1/C+2/I_b):                                           %8.0f events/s\n"+
			"    (a)/L_2 = %.2f (goal >= 0.80)   (a)/L_1 = %.2f (floor 1.00)\n"+
			"  figure 4, latency x-received-at -> commit at %.0f events/s (half of (a)), %d events\n"+
			"    processor:                                         p50 %6.1f ms  p99 %6.1f ms\n"+
			"    baseline (%d workers, single-row insert + ack each):  p50 %6.1f ms  p99 %6.1f ms\n"+
			"    p99 ratio = %.2f (goal <= 2.00)%s\n"+
			"  the same at %.0f events/s (a quarter of (a)), %d events\n"+
			"    processor:                                         p50 %6.1f ms  p99 %6.1f ms\n"+
			"    baseline:                                           p50 %6.1f ms  p99 %6.1f ms\n"+
			"    p99 ratio = %.2f\n"+
			"  processor peak RSS (VmHWM) during the drain: %.1f MiB\n"+
			"  processor write syscalls per event, start-up and drain (acks, SQL, Redis): %.2f\n",
			benchEvents, benchEntities, a, c, benchInserter, i1, benchInserter, config.DefaultBatchSize, ib, l1, l2,
			a/l2, a/l1, rate, n, ms(p50), ms(p99), benchInserter, ms(c50), ms(c99), ms(p99)/ms(c99), behind(c50),
			a/4, qn, ms(q50), ms(q99), ms(d50), ms(d99), ms(q99)/ms(d99), float64(rss)/(1<<20), writes)
		printLoad()
	}
}

// behind flags a baseline that did not keep up with the offered rate (a
// median over 100 ms on loopback is a queue, not a transaction).
func behind(p50 time.Duration) string {
	if p50 > 100*time.Millisecond {
		return "   (the baseline fell behind this rate: the ratio flatters the processor)"
	}
	return ""
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// printLoad prints the load average: the machine is shared, so a figure is
// read with the load it was taken under.
func printLoad() {
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Printf("  (load average at the end of the run: %s)\n\n", strings.TrimSpace(string(load)))
	}
}

// BenchmarkLatencyOnly measures only the latency phase at BENCH_RATE
// events/s (default 2000): for tuning, not part of the figures.
func BenchmarkLatencyOnly(b *testing.B) {
	if os.Getenv("BENCH_RATE") == "" {
		b.Skip("set BENCH_RATE to run")
	}
	rate, _ := strconv.ParseFloat(os.Getenv("BENCH_RATE"), 64)
	p50, p99, n := benchLatency(b, rate)
	fmt.Printf("latency at %.0f events/s, %d events: p50 %.1f ms, p99 %.1f ms\n", rate, n,
		float64(p50.Microseconds())/1000, float64(p99.Microseconds())/1000)
	c50, c99 := benchBaselineLatency(b, rate)
	fmt.Printf("baseline (single-row insert + ack) at the same rate: p50 %.1f ms, p99 %.1f ms\n", ms(c50), ms(c99))
	printLoad()
}

func benchEvent(i, entities int, at time.Time) (envelope.Envelope, []byte) {
	ev := event{id: fmt.Sprintf("bench-%07d", i), entity: fmt.Sprintf("ent-%05d", i%entities), seq: i}
	pad := benchBody - len(body(ev, 0))
	b := body(ev, max(pad, 0))
	return envelope.Envelope{ID: ev.id, Source: "shop", EventType: "order.updated", ReceivedAt: at,
		RequestID: "req-" + ev.id, ContentType: "application/json", Body: b}, b
}

// confirmChannel is a confirm-mode channel on a new connection to url;
// closeConn ends the connection.
func confirmChannel(b *testing.B, url string) (ch *amqp.Channel, closeConn func()) {
	b.Helper()
	conn, err := amqp.Dial(url)
	require.NoError(b, err)
	ch, err = conn.Channel()
	require.NoError(b, err)
	require.NoError(b, ch.Confirm(false))
	return ch, func() { conn.Close() }
}

// preload publishes n 1 KiB events with confirms, pipelined.
func preload(b *testing.B, url string, n int) {
	b.Helper()
	ch, closeConn := confirmChannel(b, url)
	defer closeConn()
	now := time.Now().UTC()
	for start := 0; start < n; start += 1000 {
		var dcs []*amqp.DeferredConfirmation
		for i := start; i < min(start+1000, n); i++ {
			env, _ := benchEvent(i, benchEntities, now)
			dc, err := ch.PublishWithDeferredConfirmWithContext(context.Background(), topology.Exchange, env.RoutingKey(), false, false, env.Publishing())
			require.NoError(b, err)
			dcs = append(dcs, dc)
		}
		for _, dc := range dcs {
			ok, err := dc.WaitContext(context.Background())
			require.NoError(b, err)
			require.True(b, ok)
		}
	}
}

// benchBareConsumer is C: drain the preloaded quorum queue acking each
// delivery, nothing else, with the processor's default prefetch.
func benchBareConsumer(b *testing.B) float64 {
	vhost := testenv.RabbitMQ(b)
	preload(b, testenv.AMQPURLAs("", vhost, topology.Receiver), benchEvents)
	conn, err := amqp.Dial(testenv.AMQPURLAs("", vhost, topology.Processor))
	require.NoError(b, err)
	defer conn.Close()
	ch, err := conn.Channel()
	require.NoError(b, err)
	require.NoError(b, ch.Qos(config.DefaultPrefetch, 0, false))
	start := time.Now()
	ds, err := ch.Consume(topology.Queue, "bare", false, false, false, false, nil)
	require.NoError(b, err)
	for n := 0; n < benchEvents; n++ {
		d := <-ds
		require.NoError(b, d.Ack(false))
	}
	return benchEvents / time.Since(start).Seconds()
}

// baselineDB is a migrated database of its own with a pool of
// benchInserter plain connections on the processor's driver settings
// (autocommitted; multiStatements for one-round-trip batches), for the
// baselines that write without the processor.
func baselineDB(b *testing.B, multiStatements bool) *sql.DB {
	dsn := testenv.MySQLDSN("", testenv.MySQL(b))
	_, err := store.Migrate(context.Background(), dsn)
	require.NoError(b, err)
	mc, err := store.Config(dsn)
	require.NoError(b, err)
	mc.MultiStatements = multiStatements
	connector, err := mysql.NewConnector(mc)
	require.NoError(b, err)
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(benchInserter)
	db.SetMaxIdleConns(benchInserter)
	return db
}

// benchInserts is I: 16 connections, single-row autocommitted inserts of the
// same payloads into webhook_events, through the processor's driver settings.
func benchInserts(b *testing.B) float64 {
	db := baselineDB(b, false)
	defer db.Close()
	var wg sync.WaitGroup
	errs := make(chan error, benchInserter)
	now := time.Now().UTC()
	start := time.Now()
	for w := range benchInserter {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < benchEvents; i += benchInserter {
				env, body := benchEvent(i, benchEntities, now)
				if _, err := db.Exec("INSERT INTO webhook_events (source, event_id, event_type, entity_key, request_id, content_type, payload, received_at, processed_at) VALUES (?,?,?,?,?,?,?,?,?)",
					env.Source, env.ID, env.EventType, fmt.Sprintf("ent-%05d", i%benchEntities), env.RequestID, env.ContentType, body, now, time.Now().UTC()); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(b, err)
	}
	return benchEvents / time.Since(start).Seconds()
}

// benchBatchInserts is I_b: 16 connections, each committing transactions
// of batch events with two writes per event, the work the processor's
// transaction cannot avoid, in as few round trips as a client can: START
// TRANSACTION, a multi-row INSERT of the event rows, a multi-row upsert of
// their entity rows and COMMIT in one multi-statement query (20,000 events
// over 10,000 entities: every entity is written twice). It returns rows
// written per second (two per event).
func benchBatchInserts(b *testing.B, batch int) float64 {
	db := baselineDB(b, true)
	defer db.Close()
	const events = "INSERT INTO webhook_events (source, event_id, event_type, entity_key, request_id, content_type, payload, received_at, processed_at) VALUES "
	const entities = "INSERT INTO webhook_entities (source, entity_key, version, last_event_id, last_event_type, last_received_at, state, updated_at) VALUES "
	const upsert = " ON DUPLICATE KEY UPDATE version = version + 1, last_event_id = VALUES(last_event_id), last_event_type = VALUES(last_event_type), last_received_at = VALUES(last_received_at), state = VALUES(state), updated_at = VALUES(updated_at)"
	txn := func(ctx context.Context, conn *sql.Conn, from int) error {
		var qe, qn strings.Builder
		qe.WriteString(events)
		qn.WriteString(entities)
		var ae, an []any
		now := time.Now().UTC()
		for i := from; i < min(from+batch, benchEvents); i++ {
			env, body := benchEvent(i, benchEntities, now)
			key := fmt.Sprintf("ent-%05d", i%benchEntities)
			if i > from {
				qe.WriteByte(',')
				qn.WriteByte(',')
			}
			qe.WriteString("(?,?,?,?,?,?,?,?,?)")
			qn.WriteString("(?,?,?,?,?,?,?,?)")
			ae = append(ae, env.Source, env.ID, env.EventType, key, env.RequestID, env.ContentType, body, now, now)
			an = append(an, env.Source, key, 1, env.ID, env.EventType, now, body, now)
		}
		qn.WriteString(upsert)
		q := "START TRANSACTION; " + qe.String() + "; " + qn.String() + "; COMMIT"
		if _, err := conn.ExecContext(ctx, q, append(ae, an...)...); err != nil {
			_, _ = conn.ExecContext(ctx, "ROLLBACK")
			return err
		}
		return nil
	}
	var wg sync.WaitGroup
	errs := make(chan error, benchInserter)
	conns := make([]*sql.Conn, benchInserter)
	for w := range conns { // connected before the clock starts, as C's and the drain's are
		var err error
		conns[w], err = db.Conn(context.Background())
		require.NoError(b, err)
		defer conns[w].Close()
	}
	start := time.Now()
	for w := range benchInserter {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for from := w * batch; from < benchEvents; from += benchInserter * batch {
				// Two batches 10,000 events apart share their entities:
				// a deadlock between them is retried, as the processor does.
				for try := 0; ; try++ {
					err := txn(context.Background(), conns[w], from)
					if err == nil {
						break
					}
					if me := (*mysql.MySQLError)(nil); try < 8 && errors.As(err, &me) && (me.Number == 1213 || me.Number == 1205) {
						continue
					}
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(b, err)
	}
	return 2 * benchEvents / time.Since(start).Seconds()
}

// benchDrain is (a): the processor as its own process (the test binary
// re-executed as `processor run`, defaults for prefetch, workers, batch;
// BENCH_CONCURRENCY overrides CONCURRENCY, for tuning) draining the
// preloaded backlog; also its peak RSS.
func benchDrain(b *testing.B) (rate float64, peakRSS int64, writesPerEvent float64) {
	e := newEnv(b, envOpts{})
	preload(b, testenv.AMQPURLAs("", e.vhost, topology.Receiver), benchEvents)
	var tuning []string
	if v := os.Getenv("BENCH_CONCURRENCY"); v != "" {
		tuning = append(tuning, "CONCURRENCY="+v)
	}
	cmd := e.child(b, tuning...)
	// Timed from the first stored row (the process's start-up, which the
	// baselines do not pay either, is left out) to the last; polled every
	// 100 ms, since each COUNT(*) is work for the same database.
	var start time.Time
	var first int
	require.Eventually(b, func() bool {
		n := e.events()
		if n > 0 && start.IsZero() {
			start, first = time.Now(), n
		}
		return n == benchEvents
	}, 10*time.Minute, 100*time.Millisecond)
	rate = float64(benchEvents-first) / time.Since(start).Seconds()
	peakRSS = vmHWM(b, cmd.Process.Pid)
	// Write syscalls: a count the machine's load does not move.
	writesPerEvent = float64(procWrites(b, cmd.Process.Pid)) / benchEvents
	require.NoError(b, cmd.Process.Signal(syscall.SIGTERM))
	_ = cmd.Wait()
	// The speed counts only with the effect intact: every entity holds its
	// newest event (all share one received_at, so the larger id wins: the
	// second half of the backlog), nothing was dead-lettered.
	require.Equal(b, benchEntities, e.count("SELECT COUNT(*) FROM webhook_entities"))
	require.Equal(b, benchEntities, e.count("SELECT COUNT(*) FROM webhook_entities WHERE last_event_id >= ?", fmt.Sprintf("bench-%07d", benchEntities)))
	require.Equal(b, 0, e.depth(topology.DeadQueue))
	return rate, peakRSS, writesPerEvent
}

// procWrites is the write syscalls process pid has made (syscw).
func procWrites(b *testing.B, pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	require.NoError(b, err)
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "syscw: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			require.NoError(b, err)
			return n
		}
	}
	b.Fatal("no syscw")
	return 0
}

func vmHWM(b *testing.B, pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(b, err)
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			require.NoError(b, err)
			return kb << 10
		}
	}
	b.Fatal("no VmHWM")
	return 0
}

// benchLatency publishes at rate events/s for a while (x-received-at set at
// publish time, as the receiver does) to an in-process processor and
// measures x-received-at → commit for each event.
func benchLatency(b *testing.B, rate float64) (p50, p99 time.Duration, n int) {
	e := newEnv(b, envOpts{})
	var mu sync.Mutex
	var lats []time.Duration
	cfg := e.config(addrs{})
	cfg.LogLevel = "warn"
	if v, err := strconv.Atoi(os.Getenv("BENCH_CONCURRENCY")); err == nil { // tuning only
		cfg.Concurrency = v
	}
	p := e.startWith(cfg, command.Options{Committed: func(ev *handler.Event, at time.Time) {
		mu.Lock()
		lats = append(lats, at.Sub(ev.ReceivedAt))
		mu.Unlock()
	}})
	require.Eventually(b, func() bool { return p.health.Snapshot(nil).GlobalStatus }, time.Minute, 10*time.Millisecond)

	total := pace(b, testenv.AMQPURLAs("", e.vhost, topology.Receiver), rate)
	require.Eventually(b, func() bool { mu.Lock(); defer mu.Unlock(); return len(lats) >= total }, 5*time.Minute, 20*time.Millisecond)
	if os.Getenv("BENCH_DEBUG") != "" {
		mfs, _ := p.metrics.Registry.Gather()
		for _, mf := range mfs {
			if h := mf.GetMetric()[0].GetHistogram(); h != nil && strings.HasPrefix(mf.GetName(), "hookline") {
				fmt.Printf("%s: count %d avg %.4f\n", mf.GetName(), h.GetSampleCount(), h.GetSampleSum()/float64(max(h.GetSampleCount(), 1)))
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if os.Getenv("BENCH_DEBUG") != "" { // tail by second of the run
		for sec := range int(latencyWindow.Seconds()) {
			lo, hi := int(rate)*sec, min(int(rate)*(sec+1), len(lats))
			if lo >= hi {
				break
			}
			part := slices.Clone(lats[lo:hi])
			slices.Sort(part)
			fmt.Printf("second %d: p50 %v p99 %v max %v\n", sec, part[len(part)/2], part[len(part)*99/100], part[len(part)-1])
		}
	}
	slices.Sort(lats)
	return lats[len(lats)/2], lats[len(lats)*99/100], len(lats)
}

// latencyWindow is how long the latency phases publish.
const latencyWindow = 10 * time.Second

// pace publishes at rate events/s for latencyWindow, x-received-at set at
// publish time (as the receiver does), and returns how many it sent.
func pace(b *testing.B, url string, rate float64) int {
	b.Helper()
	ch, closeConn := confirmChannel(b, url)
	defer closeConn()
	total := int(rate * latencyWindow.Seconds())
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, total))
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	sent := 0
	start := time.Now()
	for sent < total {
		<-t.C
		due := rate * time.Since(start).Seconds()
		for float64(sent) < due && sent < total {
			env, _ := benchEvent(sent, benchEntities, time.Now().UTC())
			env.ID = fmt.Sprintf("lat-%07d", sent)
			env.ReceivedAt = time.Now().UTC()
			require.NoError(b, ch.PublishWithContext(context.Background(), topology.Exchange, env.RoutingKey(), false, false, env.Publishing()))
			sent++
		}
	}
	for range total {
		c := <-confirms
		require.True(b, c.Ack)
	}
	return total
}

// benchBaselineLatency is the latency baseline: a consumer with the
// processor's prefetch and 16 workers (as many as I_1's connections: with
// the processor's 4 it falls behind at half of (a) and its latency grows
// without bound, which would flatter the processor) that, per message, does
// one single-row committed insert of the event and acks it; x-received-at
// -> commit at the same offered rate.
func benchBaselineLatency(b *testing.B, rate float64) (p50, p99 time.Duration) {
	vhost := testenv.RabbitMQ(b)
	db := baselineDB(b, false)
	defer db.Close()
	conn, err := amqp.Dial(testenv.AMQPURLAs("", vhost, topology.Processor))
	require.NoError(b, err)
	defer conn.Close()
	ch, err := conn.Channel()
	require.NoError(b, err)
	require.NoError(b, ch.Qos(config.DefaultPrefetch, 0, false))
	ds, err := ch.Consume(topology.Queue, "baseline", false, false, false, false, nil)
	require.NoError(b, err)
	total := int(rate * latencyWindow.Seconds())
	var mu sync.Mutex
	lats := make([]time.Duration, 0, total)
	done := make(chan struct{})
	errs := make(chan error, benchInserter)
	var wg sync.WaitGroup
	for range benchInserter {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range ds {
				env, err := envelope.FromDelivery(d)
				if err != nil {
					errs <- err
					return
				}
				if _, err := db.Exec("INSERT INTO webhook_events (source, event_id, event_type, entity_key, request_id, content_type, payload, received_at, processed_at) VALUES (?,?,?,?,?,?,?,?,?)",
					env.Source, env.ID, env.EventType, "", env.RequestID, env.ContentType, env.Body, env.ReceivedAt, time.Now().UTC()); err != nil {
					errs <- err
					return
				}
				lat := time.Since(env.ReceivedAt)
				if err := d.Ack(false); err != nil {
					errs <- err
					return
				}
				mu.Lock()
				lats = append(lats, lat)
				if len(lats) == total {
					close(done)
				}
				mu.Unlock()
			}
		}()
	}
	pace(b, testenv.AMQPURLAs("", vhost, topology.Receiver), rate)
	select {
	case <-done:
	case err := <-errs:
		b.Fatal(err)
	case <-time.After(5 * time.Minute):
		b.Fatal("baseline consumer did not finish")
	}
	require.NoError(b, ch.Cancel("baseline", false))
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lats)
	return lats[len(lats)/2], lats[len(lats)*99/100]
}
