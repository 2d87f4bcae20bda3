package e2e

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
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
	"github.com/hookline/hookline/processor/health"
	"github.com/hookline/hookline/processor/metrics"
	"github.com/hookline/hookline/processor/store"
)

// childEnv makes the test binary run `processor run` instead of tests (the
// whole-process kill test re-executes itself).
const childEnv = "HOOKLINE_E2E_PROCESSOR_CHILD"

// killAfterCommitEnv makes the child kill itself (SIGKILL) right after its
// first transaction commits, before anything else runs: a crash between
// commit and callback.
const killAfterCommitEnv = "HOOKLINE_E2E_KILL_AFTER_COMMIT"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		if os.Getenv(killAfterCommitEnv) == "1" {
			cfg, err := config.FromEnv(os.Getenv, config.Need{RabbitMQ: true, Redis: true, MySQL: true, Sources: true})
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
			kill := func(*handler.Event, time.Time) { _ = syscall.Kill(os.Getpid(), syscall.SIGKILL) }
			err = command.Run(context.Background(), cfg, command.Options{Log: command.Logger(os.Stderr, cfg.LogLevel), Committed: kill})
			fmt.Fprintln(os.Stderr, "child not killed:", err)
			os.Exit(2)
		}
		os.Exit(command.Main([]string{"run"}, os.Getenv, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

const (
	secret         = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	callbackSecret = "whsec_C2FtcGxlIGNhbGxiYWNrIHNlY3JldCAxMjM0NTY="
)

// callbackSecretLine gives the source a callback_secret when it has a
// callback_url (sources refuse one without the other).
func callbackSecretLine(url string) string {
	if url == "" {
		return ""
	}
	// The test endpoints listen on 127.0.0.1, which the callback client
	// refuses without the allowance.
	return "\n    callback_secret: " + callbackSecret + "\n    callback_allow_private: true"
}

func maxBodyLine(n int64) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("\n    max_body_bytes: %d", n)
}

func orderKeyLine(p string) string {
	if p == "" {
		return ""
	}
	return "\n    order_key: " + p
}

// env is one test's slice of the services.
type env struct {
	t           testing.TB
	vhost, db   string
	lockPrefix  string
	sourcesFile string
	dbUser      store.User // the processor's least-privilege user, as `processor migrate` makes it
	db_         *sql.DB
	conn        *amqp.Connection
	pub         *amqp.Channel
	mu          sync.Mutex
}

type envOpts struct {
	callbackURL string // for source "shop"
	orderKey    string // for source "shop": the sender's order (e.g. /seq)
	maxBody     int64  // for source "shop": max_body_bytes (0: the default)
}

func newEnv(t testing.TB, o envOpts) *env {
	t.Helper()
	e := &env{t: t, vhost: testenv.RabbitMQ(t), db: testenv.MySQL(t), lockPrefix: testenv.Redis(t)}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := store.Migrate(ctx, testenv.MySQLDSN("", e.db))
	require.NoError(t, err)
	// The processor connects as its own user with only the grants
	// migrate gives it (unique per test; MariaDB allows 80 characters).
	e.dbUser = store.User{Name: testenv.Name(t), Password: randomHex(t)}
	require.NoError(t, store.EnsureUser(ctx, testenv.MySQLDSN("", e.db), e.dbUser))
	t.Cleanup(func() {
		if err := store.DropUser(context.Background(), testenv.MySQLDSN("", e.db), e.dbUser.Name); err != nil {
			t.Errorf("drop processor user: %v", err)
		}
	})
	doc := fmt.Sprintf(`sources:
  - name: shop
    hosts: [localhost]
    scheme: standard
    secrets: [%q]
    entity_key: /entity%s%s
    callback_url: %q%s
  - name: plain
    hosts: [localhost]
    scheme: github
    secrets: ["a-github-secret-that-is-long-enough"]
`, secret, orderKeyLine(o.orderKey), maxBodyLine(o.maxBody), o.callbackURL, callbackSecretLine(o.callbackURL))
	e.sourcesFile = filepath.Join(t.TempDir(), "sources.yaml")
	require.NoError(t, os.WriteFile(e.sourcesFile, []byte(doc), 0o600))
	e.db_, err = sql.Open("mysql", testenv.MySQLDSN("", e.db))
	require.NoError(t, err)
	t.Cleanup(func() { e.db_.Close() })
	// The test publishes as the receiver does, with the receiver's grant
	// (and inspects queues with passive declares, which need none).
	e.conn, err = amqp.Dial(testenv.AMQPURLAs("", e.vhost, topology.Receiver))
	require.NoError(t, err)
	t.Cleanup(func() { e.conn.Close() })
	ch, err := e.conn.Channel()
	require.NoError(t, err)
	require.NoError(t, ch.Confirm(false))
	e.pub = ch
	return e
}

// addrs are the service addresses a processor connects to ("" = direct).
type addrs struct{ rabbitmq, redis, mysql string }

func (e *env) config(a addrs) config.Config {
	c := config.Defaults()
	c.RabbitMQURL = testenv.AMQPURLAs(a.rabbitmq, e.vhost, topology.Processor)
	c.RedisURL = testenv.RedisURL(a.redis)
	c.MySQLDSN = e.processorDSN(a.mysql)
	c.SourcesFile = e.sourcesFile
	c.HTTPAddr = "127.0.0.1:0"
	c.LockPrefix = e.lockPrefix
	c.ShutdownTimeout = 10 * time.Second
	c.LockTTL = 3 * time.Second
	c.LockWait = 500 * time.Millisecond
	c.LogLevel = "debug"
	return c
}

// processorDSN is the DSN of the test's database at addr ("" = direct) as
// the processor's user.
func (e *env) processorDSN(addr string) string {
	e.t.Helper()
	cfg, err := mysql.ParseDSN(testenv.MySQLDSN(addr, e.db))
	require.NoError(e.t, err)
	cfg.User, cfg.Passwd = e.dbUser.Name, e.dbUser.Password
	return cfg.FormatDSN()
}

func randomHex(t testing.TB) string {
	var b [16]byte
	_, err := rand.Read(b[:])
	require.NoError(t, err)
	return hex.EncodeToString(b[:])
}

// proc is one in-process processor.
type proc struct {
	cancel  context.CancelFunc
	done    chan error
	metrics *metrics.Metrics
	health  *health.State
	addr    chan string
}

func (e *env) start(cfg config.Config, h *handler.Registry) *proc {
	e.t.Helper()
	return e.startWith(cfg, command.Options{Handlers: h})
}

// startWith runs a processor with o (its Log, Metrics, Health and HTTPAddr
// are filled in here).
func (e *env) startWith(cfg config.Config, o command.Options) *proc {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &proc{cancel: cancel, done: make(chan error, 1), metrics: metrics.New(), health: &health.State{}, addr: make(chan string, 1)}
	log := slog.New(slog.NewJSONHandler(testWriter{e.t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	go func() {
		o.Log, o.Metrics, o.Health, o.HTTPAddr = log, p.metrics, p.health, func(a string) { p.addr <- a }
		p.done <- command.Run(ctx, cfg, o)
	}()
	e.t.Cleanup(func() { p.stop(e.t) })
	return p
}

// stop cancels the processor and waits for it (idempotent).
func (p *proc) stop(t testing.TB) {
	p.cancel()
	select {
	case err, ok := <-p.done:
		if ok {
			require.NoError(t, err)
			close(p.done)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("processor did not stop")
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// event is a test webhook for source "shop".
type event struct {
	id, entity string
	seq        int
	at         time.Time
}

var base = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func body(ev event, pad int) []byte {
	b, _ := json.Marshal(map[string]any{"entity": ev.entity, "seq": ev.seq, "id": ev.id, "pad": strings.Repeat("x", pad)})
	return b
}

func (e *env) publish(evs ...event) {
	e.t.Helper()
	e.publishPadded(0, evs...)
}

func (e *env) publishPadded(pad int, evs ...event) {
	e.t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	var dcs []*amqp.DeferredConfirmation
	for _, ev := range evs {
		env := envelope.Envelope{ID: ev.id, Source: "shop", EventType: "order.updated", ReceivedAt: ev.at,
			RequestID: "req-" + ev.id, ContentType: "application/json", Body: body(ev, pad)}
		dc, err := e.pub.PublishWithDeferredConfirmWithContext(context.Background(), topology.Exchange, env.RoutingKey(), false, false, env.Publishing())
		require.NoError(e.t, err)
		dcs = append(dcs, dc)
	}
	for _, dc := range dcs {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		ok, err := dc.WaitContext(ctx)
		cancel()
		require.NoError(e.t, err)
		require.True(e.t, ok, "publish nacked")
	}
}

// publishRaw sends an arbitrary message to the webhooks exchange.
func (e *env) publishRaw(key string, p amqp.Publishing) {
	e.t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	dc, err := e.pub.PublishWithDeferredConfirmWithContext(context.Background(), topology.Exchange, key, false, false, p)
	require.NoError(e.t, err)
	ok, err := dc.WaitContext(context.Background())
	require.NoError(e.t, err)
	require.True(e.t, ok)
}

func (e *env) count(q string, args ...any) int {
	e.t.Helper()
	var n int
	require.NoError(e.t, e.db_.QueryRow(q, args...).Scan(&n))
	return n
}

func (e *env) events() int { return e.count("SELECT COUNT(*) FROM webhook_events") }

// depth is a queue's ready message count.
func (e *env) depth(q string) int {
	e.t.Helper()
	ch, err := e.conn.Channel()
	require.NoError(e.t, err)
	defer ch.Close()
	qq, err := ch.QueueDeclarePassive(q, true, false, false, false, nil)
	require.NoError(e.t, err)
	return qq.Messages
}

// settled reports whether nothing is waiting anywhere: inbound, retry tiers.
func (e *env) settled() bool {
	n := e.depth(topology.Queue)
	for _, r := range topology.RetryTiers {
		n += e.depth(r.Queue())
	}
	return n == 0
}

// workload builds n distinct events over k entities, each entity's events at
// increasing times, plus duplicates of every third event.
func workload(prefix string, n, k int) (unique []event, withDups []event) {
	for i := range n {
		ev := event{id: fmt.Sprintf("%s-%05d", prefix, i), entity: fmt.Sprintf("ent-%03d", i%k), seq: i, at: base.Add(time.Duration(i) * time.Millisecond)}
		unique = append(unique, ev)
		withDups = append(withDups, ev)
		if i%3 == 0 {
			withDups = append(withDups, ev)
		}
	}
	return unique, withDups
}

// requireExactlyOnce checks the effect: one row per unique event, each
// entity's state from its newest event, nothing dead-lettered.
func (e *env) requireExactlyOnce(unique []event) {
	e.t.Helper()
	require.Equal(e.t, len(unique), e.events(), "one row per unique event")
	newest := map[string]event{}
	for _, ev := range unique {
		if cur, ok := newest[ev.entity]; !ok || ev.at.After(cur.at) {
			newest[ev.entity] = ev
		}
	}
	rows, err := e.db_.Query("SELECT entity_key, last_event_id, state FROM webhook_entities WHERE source = 'shop'")
	require.NoError(e.t, err)
	defer rows.Close()
	got := 0
	for rows.Next() {
		var k, id string
		var state []byte
		require.NoError(e.t, rows.Scan(&k, &id, &state))
		want, ok := newest[k]
		require.True(e.t, ok, "unexpected entity %s", k)
		require.Equal(e.t, want.id, id, "entity %s holds the newest event", k)
		var s struct{ ID string }
		require.NoError(e.t, json.Unmarshal(state, &s))
		require.Equal(e.t, want.id, s.ID)
		got++
	}
	require.NoError(e.t, rows.Err())
	require.Equal(e.t, len(newest), got, "one row per entity")
	require.Equal(e.t, 0, e.depth(topology.DeadQueue), "nothing dead-lettered")
}

func (e *env) waitDrained(unique []event, within time.Duration) {
	e.t.Helper()
	require.Eventually(e.t, func() bool { return e.events() == len(unique) && e.settled() }, within, 100*time.Millisecond,
		"all %d events stored and no queue holds messages", len(unique))
}

var _ = io.Discard
