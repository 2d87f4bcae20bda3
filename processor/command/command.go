// Package command is the processor's command line: `run` (default),
// `migrate`, `dlq list`, `dlq replay [--all|--id ID]` and `healthcheck`, all
// configured from the environment (processor/config).
package command

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/redis/go-redis/v9"

	"github.com/hookline/hookline/internal/secrets"
	"github.com/hookline/hookline/internal/sources"
	"github.com/hookline/hookline/internal/topology"
	"github.com/hookline/hookline/processor/callback"
	"github.com/hookline/hookline/processor/collector"
	"github.com/hookline/hookline/processor/config"
	"github.com/hookline/hookline/processor/consume"
	"github.com/hookline/hookline/processor/dlq"
	"github.com/hookline/hookline/processor/handler"
	"github.com/hookline/hookline/processor/health"
	"github.com/hookline/hookline/processor/lock"
	"github.com/hookline/hookline/processor/metrics"
	"github.com/hookline/hookline/processor/store"
)

const usage = `usage: processor [run | migrate | queues migrate | dlq list | dlq replay (--all | --id ID) | healthcheck]
configuration from the environment: RABBITMQ_URL, REDIS_URL, MYSQL_DSN
(MYSQL_USER, MYSQL_PASSWORD, MYSQL_PASSWORD_SECRET_ARN or MYSQL_PASSWORD_FILE, MYSQL_CA;
migrate: PROCESSOR_DB_USER, PROCESSOR_DB_PASSWORD),
WEBHOOK_SOURCES_FILE (or WEBHOOK_SOURCES_SECRET_ARN, or WEBHOOK_SOURCES), SOURCES_RELOAD_INTERVAL, HTTP_ADDR (:9090), PREFETCH, BODY_BUDGET, CONCURRENCY, BATCH_SIZE,
MAX_ATTEMPTS, SHUTDOWN_TIMEOUT, LOCK_TTL, LOCK_WAIT, LOCK_PREFIX,
CALLBACK_TIMEOUT, CALLBACK_RETRIES, CALLBACK_HOST_CONCURRENCY, LOG_LEVEL; the queue metrics collector:
QUEUE_METRICS_ENDPOINTS, QUEUE_METRICS_MANAGEMENT, QUEUE_METRICS_USERNAME, QUEUE_METRICS_PASSWORD,
QUEUE_METRICS_CA, QUEUE_METRICS_STACK, QUEUE_METRICS_VHOST, QUEUE_METRICS_INTERVAL`

// Main runs one subcommand and returns the process exit code.
func Main(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, args, getenv, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "processor:", err)
		return 1
	}
	return 0
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := "run"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "run":
		cfg, err := config.FromEnv(getenv, config.Need{RabbitMQ: true, Redis: true, MySQL: true, Sources: true})
		if err != nil {
			return err
		}
		return Run(ctx, cfg, Options{Log: Logger(stderr, cfg.LogLevel)})
	case "migrate":
		cfg, err := config.FromEnv(getenv, config.Need{MySQL: true})
		if err != nil {
			return err
		}
		mctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		applied, err := store.Migrate(mctx, cfg.MySQLDSN)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "migrate: applied %d migration(s) %v\n", len(applied), applied)
		if cfg.ProcessorDBUser == "" {
			fmt.Fprintln(stdout, "migrate: PROCESSOR_DB_USER not set: no processor database user managed")
			return nil
		}
		if err := store.EnsureUser(mctx, cfg.MySQLDSN, store.User{Name: cfg.ProcessorDBUser, Password: cfg.ProcessorDBPassword}); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "migrate: processor user %s has %v on the processor's tables, nothing else\n", cfg.ProcessorDBUser, store.ProcessorPrivileges)
		return nil
	case "queues":
		// Re-creates queues an older version declared with x-arguments so
		// that their policies govern them (docs/broker-contract.md, "Migrating
		// queues"). Run with RABBITMQ_URL as the broker admin, processors
		// stopped.
		if len(args) != 1 || args[0] != "migrate" {
			return errors.New("usage: processor queues migrate")
		}
		cfg, err := config.FromEnv(getenv, config.Need{RabbitMQ: true})
		if err != nil {
			return err
		}
		conn, err := amqp.Dial(cfg.RabbitMQURL)
		if err != nil {
			return fmt.Errorf("queues migrate: %w", err)
		}
		defer conn.Close()
		if err := topology.Migrate(ctx, conn, topology.Queues(), Logger(stderr, cfg.LogLevel)); err != nil {
			return fmt.Errorf("queues migrate: %w", err)
		}
		fmt.Fprintln(stdout, "queues migrate: every queue is governed by its policy")
		return nil
	case "dlq":
		cfg, err := config.FromEnv(getenv, config.Need{RabbitMQ: true})
		if err != nil {
			return err
		}
		return dlqCommand(ctx, cfg, args, stdout, stderr)
	case "healthcheck":
		cfg, err := config.FromEnv(getenv, config.Need{})
		if err != nil {
			return err
		}
		hctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		return health.Check(hctx, cfg.HTTPAddr)
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n%s", cmd, usage)
}

func dlqCommand(ctx context.Context, cfg config.Config, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("dlq: want list or replay\n" + usage)
	}
	switch args[0] {
	case "list":
		n, err := dlq.List(ctx, cfg.RabbitMQURL, stdout)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "dlq: %d dead letter(s)\n", n)
		return nil
	case "replay":
		fs := flag.NewFlagSet("dlq replay", flag.ContinueOnError)
		all := fs.Bool("all", false, "replay every dead letter")
		id := fs.String("id", "", "replay the dead letter(s) with this message id")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *all == (*id != "") {
			return errors.New("dlq replay: give exactly one of --all or --id ID")
		}
		n, err := dlq.Replay(ctx, cfg.RabbitMQURL, *all, *id)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "dlq: replayed %d message(s)\n", n)
		return nil
	}
	return fmt.Errorf("dlq: unknown subcommand %q", args[0])
}

// Logger is the processor's JSON logger.
func Logger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})).With("service", "processor")
}

// Options are what Run takes besides the configuration (tests set them).
type Options struct {
	Handlers *handler.Registry // nil: handler.Builtin()
	Log      *slog.Logger
	Metrics  *metrics.Metrics
	Health   *health.State
	HTTPAddr func(addr string) // told the bound probe address
	Callback *callback.Options // overrides for callback delivery (tests)
	// QueueMetrics receives the collector's data instead of CloudWatch (tests).
	QueueMetrics collector.Publisher
	// EMF receives the metrics' EMF lines when cfg.Stack is set (nil:
	// stdout, which the awslogs driver ships to CloudWatch Logs).
	EMF io.Writer
	// Committed is called after each stored event's commit (benchmarks).
	Committed func(ev *handler.Event, at time.Time)
}

// Run is `processor run`: it serves until ctx ends, then shuts down
// gracefully within cfg.ShutdownTimeout.
func Run(ctx context.Context, cfg config.Config, o Options) error {
	if o.Log == nil {
		o.Log = Logger(os.Stderr, cfg.LogLevel)
	}
	if o.Handlers == nil {
		o.Handlers = handler.Builtin()
	}
	if o.Metrics == nil {
		o.Metrics = metrics.New()
	}
	if o.Health == nil {
		o.Health = &health.State{}
	}
	// Without GOMEMLIMIT, let the garbage collector see the container's
	// limit: it works harder near it instead of letting the kernel kill us.
	if limit := config.MemoryLimit(); limit > 0 && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(limit / 10 * 9)
	}
	// The sources document is read again when a delivery names a source
	// it does not have (one the receiver already accepts), at most once per
	// SOURCES_RELOAD_INTERVAL. The secret wins when several are set, as in
	// the receiver; an inline WEBHOOK_SOURCES cannot change while we run.
	var load sources.Loader
	switch {
	case cfg.SourcesSecret != "":
		load = sources.SecretLoader(cfg.SourcesSecret, secrets.Read)
	case cfg.SourcesFile != "":
		load = sources.FileLoader(cfg.SourcesFile)
	default:
		load = sources.DocumentLoader([]byte(cfg.SourcesDoc))
	}
	lctx, lcancel := context.WithTimeout(ctx, 30*time.Second)
	srcs, err := sources.NewLive(lctx, load, cfg.SourcesReload)
	lcancel()
	if err != nil {
		return err
	}
	srcs.OnReload = func(set *sources.Set, err error) {
		if err != nil {
			o.Log.Error("sources document: re-read failed, keeping the current one", "err", err)
			return
		}
		o.Log.Info("sources document re-read", "sources", len(set.Names()))
	}
	st, err := store.OpenWith(cfg.MySQLDSN, cfg.Concurrency*2+2, cfg.MySQLPassword())
	if err != nil {
		return err
	}
	defer st.Close()
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	if err := st.CheckSchema(sctx); errors.Is(err, store.ErrNoSchema) {
		// Not fatal: a migration may be running; until it lands every
		// batch waits in the retry queues like in a database outage.
		o.Log.Error("database schema missing: deliveries will wait until `processor migrate` has run", "err", err)
	}
	cancel()
	ropts, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return fmt.Errorf("REDIS_URL: %w", err)
	}
	ropts.DialTimeout = 2 * time.Second
	ropts.ReadTimeout = 2 * time.Second
	ropts.WriteTimeout = 2 * time.Second
	ropts.MaxRetries = 1
	ropts.PoolSize = max(ropts.PoolSize, cfg.Concurrency*2+4)
	rdb := redis.NewClient(ropts)
	defer rdb.Close()

	var wg sync.WaitGroup
	aux, stopAux := context.WithCancel(context.WithoutCancel(ctx))
	defer func() { stopAux(); wg.Wait() }()

	httpErr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		httpErr <- health.Server(aux, cfg.HTTPAddr, health.Handler(o.Health, o.Metrics), o.HTTPAddr)
	}()

	if cfg.Stack != "" {
		w := o.EMF
		if w == nil {
			w = os.Stdout
		}
		emf := metrics.NewEMF(o.Metrics, w, cfg.Stack, cfg.EMFInterval)
		wg.Add(1)
		go func() {
			defer wg.Done()
			emf.Run(aux, func(err error) { o.Log.Error("metrics: EMF lines not written", "err", err) })
		}()
	}

	if qm := cfg.QueueMetrics; len(qm.Endpoints) > 0 {
		pub := o.QueueMetrics
		if pub == nil {
			awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
			if err != nil {
				return fmt.Errorf("queue metrics: AWS config: %w", err)
			}
			pub = &collector.CloudWatch{Client: cloudwatch.NewFromConfig(awsCfg), Stack: qm.Stack}
		}
		col, err := collector.New(collector.Options{
			Endpoints: qm.Endpoints, Management: qm.Management, Username: qm.Username, Password: qm.Password, CA: qm.CA,
			HealthError: o.Metrics.BrokerHealthError,
			Vhost:       qm.Vhost, Stack: qm.Stack, Interval: qm.Interval,
			Redis: rdb, KeyPrefix: cfg.LockPrefix, Publisher: pub, Log: o.Log,
		})
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() { defer wg.Done(); col.Run(aux) }()
	}

	// Callbacks: the outbox rows are written with the events (store) and
	// sent by one sender per processor, which also picks up rows left
	// pending by an earlier run or another task.
	st.WantsCallback = func(source string) bool {
		src, ok := srcs.Lookup(source)
		return ok && src.CallbackURL != ""
	}
	co := callback.Options{Timeout: cfg.CallbackTimeout, Attempts: cfg.CallbackRetries, PerHost: cfg.CallbackPerHost}
	if o.Callback != nil {
		co = *o.Callback
	}
	co.Metrics, co.Log = o.Metrics, o.Log
	cb := callback.New(st, srcs, co)
	wg.Add(1)
	go func() { defer wg.Done(); cb.Run(aux) }()

	c := consume.New(consume.Options{
		URL: cfg.RabbitMQURL, Prefetch: cfg.Prefetch, BodyBudget: cfg.BodyBudget, Workers: cfg.Concurrency, BatchSize: cfg.BatchSize,
		MaxAttempts: cfg.MaxAttempts, LockWait: cfg.LockWait, ShutdownTimeout: cfg.ShutdownTimeout,
		WedgeAfter: cfg.WedgeTimeout,
	}, consume.Deps{
		Store: st, Redis: rdb, Locker: lock.New(rdb, cfg.LockPrefix, cfg.LockTTL), Sources: srcs,
		Handlers: o.Handlers, Callbacks: cb, Metrics: o.Metrics, Health: o.Health, Log: o.Log,
		Committed: o.Committed,
	})
	cctx, cancelConsumer := context.WithCancel(ctx)
	defer cancelConsumer()
	done := make(chan error, 1)
	go func() { done <- c.Run(cctx) }()
	select {
	case err = <-done:
	case err = <-httpErr:
		// Without its probe port ECS cannot see the task: stop
		// (gracefully) and say why.
		cancelConsumer()
		<-done
		return fmt.Errorf("HTTP_ADDR %s: %w", cfg.HTTPAddr, err)
	}
	o.Log.Info("processor stopped")
	return err
}
