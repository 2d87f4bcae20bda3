// Package config is the processor's one configuration loader: environment
// variables (DESIGN.md's names plus the processor's tuning knobs), validated
// once at start-up with errors that name the variable.
package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/hookline/hookline/internal/brokertls"
)

// Config is everything the processor reads from its environment.
type Config struct {
	RabbitMQURL     string        // RABBITMQ_URL
	RedisURL        string        // REDIS_URL (redis:// or rediss://)
	MySQLDSN        string        // MYSQL_DSN (go-sql-driver format)
	SourcesFile     string        // WEBHOOK_SOURCES_FILE
	SourcesDoc      string        // WEBHOOK_SOURCES: the document itself (ECS injects secrets as variables, not files)
	SourcesSecret   string        // WEBHOOK_SOURCES_SECRET_ARN: the document in Secrets Manager (re-readable; wins over the others)
	SourcesReload   time.Duration // SOURCES_RELOAD_INTERVAL: an unknown source re-reads the document at most this often
	HTTPAddr        string        // HTTP_ADDR, default :9090
	Prefetch        int           // PREFETCH: per-consumer unacked deliveries (quorum queues cap it at 2000)
	BodyBudget      int64         // BODY_BUDGET: bytes of bodies held at once (default: a quarter of the container's memory); 0 turns it off
	Concurrency     int           // CONCURRENCY: workers; deliveries are sharded to them by entity
	BatchSize       int           // BATCH_SIZE: deliveries per transaction, at most
	MaxAttempts     int           // MAX_ATTEMPTS: handler attempts before the DLQ
	ShutdownTimeout time.Duration // SHUTDOWN_TIMEOUT: SIGTERM to exit
	LockTTL         time.Duration // LOCK_TTL: Redis entity lock TTL, refreshed at TTL/3 while work runs
	LockWait        time.Duration // LOCK_WAIT: how long a batch waits for a busy entity before delaying it
	LockPrefix      string        // LOCK_PREFIX: Redis key prefix for entity locks
	WedgeTimeout    time.Duration // WEDGE_TIMEOUT: /health/live fails after a loop holds work this long without progress, dependencies up
	CallbackTimeout time.Duration // CALLBACK_TIMEOUT: per callback request
	CallbackRetries int           // CALLBACK_RETRIES: attempts per callback (410 stops early)
	CallbackPerHost int           // CALLBACK_HOST_CONCURRENCY: concurrent callback requests per destination host
	LogLevel        string        // LOG_LEVEL: debug|info|warn|error

	QueueMetrics QueueMetrics // the queue metrics collector (off without QUEUE_METRICS_ENDPOINTS)

	// HOOKLINE_STACK: the stack's name (the Stack dimension); set, the
	// processor writes its metrics as EMF lines on stdout every
	// METRICS_EMF_INTERVAL (default 60s), which the awslogs driver ships to
	// CloudWatch. Unset (local runs), it writes none.
	Stack       string
	EMFInterval time.Duration

	// MYSQL_PASSWORD_SECRET_ARN or MYSQL_PASSWORD_FILE: where the current
	// database password is read, at the first connection and again whenever
	// the server refuses it, so a rotation needs no restart (the secret wins
	// over the file, both over MYSQL_PASSWORD).
	MySQLPasswordSecretArn string
	MySQLPasswordFile      string
	// PROCESSOR_DB_USER and PROCESSOR_DB_PASSWORD: the processor's own
	// least-privilege database user, which `processor migrate` creates and
	// grants; unset, migrate manages no user.
	ProcessorDBUser     string
	ProcessorDBPassword string
}

// QueueMetrics configures the collector that publishes the broker's queue
// figures to CloudWatch (processor/collector); every task runs it, a Redis
// lease picks the one that collects.
type QueueMetrics struct {
	Endpoints []string // QUEUE_METRICS_ENDPOINTS: comma-separated rabbitmq_prometheus base URLs, one per broker node
	// QUEUE_METRICS_MANAGEMENT: comma-separated management API base URLs,
	// one per broker node (quorum membership, leaders, partitions); unset,
	// those three health counts are not published.
	Management []string
	Username   string        // QUEUE_METRICS_USERNAME: the collector's broker user (monitoring tag only)
	Password   string        // QUEUE_METRICS_PASSWORD
	CA         string        // QUEUE_METRICS_CA: PEM or a PEM file's path for https endpoints (default RABBITMQ_CA)
	Stack      string        // QUEUE_METRICS_STACK: the Stack dimension (required with endpoints)
	Vhost      string        // QUEUE_METRICS_VHOST: default RABBITMQ_URL's vhost
	Interval   time.Duration // QUEUE_METRICS_INTERVAL: default 60s
}

// Defaults, in one place.
const (
	DefaultHTTPAddr        = ":9090"
	DefaultPrefetch        = 400
	DefaultConcurrency     = 4
	DefaultBatchSize       = 100
	DefaultMaxAttempts     = 5
	DefaultShutdownTimeout = 25 * time.Second // under ECS's default 30 s stopTimeout
	// DefaultLockTTL is a short lease: the lock only spares contention (the
	// database's fence is what makes the effect exactly once), and a
	// crashed processor's locks must be gone by a redelivery's second try
	// (LOCK_WAIT + the 1 s tier + LOCK_WAIT = 2 s; docs/decisions.md).
	DefaultLockTTL         = 2 * time.Second
	DefaultLockWait        = 500 * time.Millisecond
	DefaultLockPrefix      = "hookline:lock:"
	DefaultWedgeTimeout    = 2 * time.Minute // health.DefaultWedgeAfter
	DefaultCallbackTimeout = 10 * time.Second
	DefaultCallbackRetries = 8 // 5 s × 4ⁿ apart, at most 1 h: about 2.5 h in all
	DefaultCallbackPerHost = 4
	DefaultSourcesReload   = 30 * time.Second
	maxPrefetch            = 2000
)

// Defaults returns a Config with every default filled in and no URLs.
func Defaults() Config {
	return Config{
		HTTPAddr: DefaultHTTPAddr, Prefetch: DefaultPrefetch, BodyBudget: DefaultBodyBudget(MemoryLimit()), Concurrency: DefaultConcurrency,
		BatchSize: DefaultBatchSize, MaxAttempts: DefaultMaxAttempts, ShutdownTimeout: DefaultShutdownTimeout,
		LockTTL: DefaultLockTTL, LockWait: DefaultLockWait, LockPrefix: DefaultLockPrefix, WedgeTimeout: DefaultWedgeTimeout,
		EMFInterval: time.Minute, CallbackTimeout: DefaultCallbackTimeout, CallbackRetries: DefaultCallbackRetries, CallbackPerHost: DefaultCallbackPerHost, SourcesReload: DefaultSourcesReload, LogLevel: "info",
	}
}

// Need says which connection settings a subcommand requires.
type Need struct{ RabbitMQ, Redis, MySQL, Sources, ProcessorUser bool }

// FromEnv loads the configuration with getenv (os.Getenv when nil).
func FromEnv(getenv func(string) string, need Need) (Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	c := Defaults()
	var errs []error
	str := func(name string, dst *string, required bool) {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			*dst = v
		} else if required {
			errs = append(errs, fmt.Errorf("%s: required", name))
		}
	}
	num := func(name string, dst *int, lo, hi int) {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			return
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			errs = append(errs, fmt.Errorf("%s: %q is not an integer in %d..%d", name, v, lo, hi))
			return
		}
		*dst = n
	}
	dur := func(name string, dst *time.Duration, lo time.Duration) {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			return
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			if n, nerr := strconv.Atoi(v); nerr == nil { // plain seconds
				d, err = time.Duration(n)*time.Second, nil
			}
		}
		if err != nil || d < lo {
			errs = append(errs, fmt.Errorf("%s: %q is not a duration like 30s (at least %v)", name, v, lo))
			return
		}
		*dst = d
	}
	str("RABBITMQ_URL", &c.RabbitMQURL, need.RabbitMQ)
	str("REDIS_URL", &c.RedisURL, need.Redis)
	str("MYSQL_DSN", &c.MySQLDSN, need.MySQL)
	str("MYSQL_PASSWORD_SECRET_ARN", &c.MySQLPasswordSecretArn, false)
	str("MYSQL_PASSWORD_FILE", &c.MySQLPasswordFile, false)
	str("PROCESSOR_DB_USER", &c.ProcessorDBUser, need.ProcessorUser)
	c.ProcessorDBPassword = getenv("PROCESSOR_DB_PASSWORD")
	if c.ProcessorDBUser != "" && c.ProcessorDBPassword == "" {
		errs = append(errs, errors.New("PROCESSOR_DB_PASSWORD: required with PROCESSOR_DB_USER"))
	}
	if c.MySQLPasswordSecretArn != "" && !strings.HasPrefix(c.MySQLPasswordSecretArn, "arn:") {
		errs = append(errs, fmt.Errorf("MYSQL_PASSWORD_SECRET_ARN: %q is not an ARN", c.MySQLPasswordSecretArn))
	}
	str("WEBHOOK_SOURCES_FILE", &c.SourcesFile, false)
	c.SourcesDoc = getenv("WEBHOOK_SOURCES")
	str("WEBHOOK_SOURCES_SECRET_ARN", &c.SourcesSecret, false)
	if need.Sources && c.SourcesFile == "" && c.SourcesSecret == "" && strings.TrimSpace(c.SourcesDoc) == "" {
		errs = append(errs, errors.New("WEBHOOK_SOURCES_FILE: required (or WEBHOOK_SOURCES_SECRET_ARN, or the document itself in WEBHOOK_SOURCES)"))
	}
	str("HTTP_ADDR", &c.HTTPAddr, false)
	str("LOCK_PREFIX", &c.LockPrefix, false)
	str("LOG_LEVEL", &c.LogLevel, false)
	num("PREFETCH", &c.Prefetch, 1, maxPrefetch)
	if v := strings.TrimSpace(getenv("BODY_BUDGET")); v != "" {
		n, err := parseBytes(v)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("BODY_BUDGET: %w", err))
		case n != 0 && n < 1<<20:
			errs = append(errs, fmt.Errorf("BODY_BUDGET: %q is under 1MiB (0 turns the budget off)", v))
		default:
			c.BodyBudget = n
		}
	}
	num("CONCURRENCY", &c.Concurrency, 1, 256)
	num("BATCH_SIZE", &c.BatchSize, 1, 1000)
	num("MAX_ATTEMPTS", &c.MaxAttempts, 1, 100)
	num("CALLBACK_RETRIES", &c.CallbackRetries, 1, 20)
	num("CALLBACK_HOST_CONCURRENCY", &c.CallbackPerHost, 1, 64)
	dur("SHUTDOWN_TIMEOUT", &c.ShutdownTimeout, time.Second)
	dur("LOCK_TTL", &c.LockTTL, time.Second)
	dur("LOCK_WAIT", &c.LockWait, 0)
	dur("WEDGE_TIMEOUT", &c.WedgeTimeout, time.Second)
	dur("CALLBACK_TIMEOUT", &c.CallbackTimeout, 100*time.Millisecond)
	if v := strings.TrimSpace(getenv("QUEUE_METRICS_ENDPOINTS")); v != "" {
		qm := &c.QueueMetrics
		urls := func(key, v string) []string {
			var out []string
			for _, e := range strings.Split(v, ",") {
				if e = strings.TrimSpace(e); e != "" {
					if u, err := url.Parse(e); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
						errs = append(errs, fmt.Errorf("%s: %q is not an http(s)://host:port URL", key, e))
					}
					out = append(out, e)
				}
			}
			return out
		}
		qm.Endpoints = urls("QUEUE_METRICS_ENDPOINTS", v)
		qm.Management = urls("QUEUE_METRICS_MANAGEMENT", getenv("QUEUE_METRICS_MANAGEMENT"))
		qm.Username, qm.Password = getenv("QUEUE_METRICS_USERNAME"), getenv("QUEUE_METRICS_PASSWORD")
		qm.CA = strings.TrimSpace(getenv("QUEUE_METRICS_CA"))
		if qm.CA == "" {
			// The broker's one CA signs its AMQPS, management and Prometheus listeners.
			qm.CA = strings.TrimSpace(getenv("RABBITMQ_CA"))
		}
		str("QUEUE_METRICS_STACK", &qm.Stack, true)
		str("QUEUE_METRICS_VHOST", &qm.Vhost, false)
		qm.Interval = time.Minute
		dur("QUEUE_METRICS_INTERVAL", &qm.Interval, time.Second)
		if qm.Vhost == "" && c.RabbitMQURL != "" {
			if u, err := url.Parse(c.RabbitMQURL); err == nil {
				qm.Vhost = strings.TrimPrefix(u.Path, "/")
				if qm.Vhost == "" {
					qm.Vhost = "/"
				}
			}
		}
	}
	dur("SOURCES_RELOAD_INTERVAL", &c.SourcesReload, 100*time.Millisecond)
	str("HOOKLINE_STACK", &c.Stack, false)
	dur("METRICS_EMF_INTERVAL", &c.EMFInterval, time.Second)
	if c.RedisURL != "" && !strings.HasPrefix(c.RedisURL, "redis://") && !strings.HasPrefix(c.RedisURL, "rediss://") {
		errs = append(errs, errors.New("REDIS_URL: must start with redis:// or rediss://"))
	}
	if err := c.mergeCredentials(getenv); err != nil {
		errs = append(errs, err)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("LOG_LEVEL: %q is not one of debug, info, warn, error", c.LogLevel))
	}
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("config: %w", err)
	}
	return c, nil
}

// mysqlTLSName is the go-sql-driver TLS configuration registered for
// MYSQL_CA.
const mysqlTLSName = "hookline-mysql-ca"

// mergeCredentials puts credentials that arrive in variables of their own
// (ECS injects each secret's JSON key as one variable, so the URLs in the
// task definition carry none) into the connection settings:
// RABBITMQ_USERNAME/RABBITMQ_PASSWORD into RABBITMQ_URL, MYSQL_USER/
// MYSQL_PASSWORD into MYSQL_DSN, REDIS_PASSWORD (and REDIS_USERNAME) into
// REDIS_URL. A variable that is set wins over what the URL holds. MYSQL_CA
// (PEM, or the path of a PEM file; e.g. the RDS CA bundle, which is not in
// public trust stores) makes the DSN's TLS verify against it.
func (c *Config) mergeCredentials(getenv func(string) string) error {
	var errs []error
	if user, pass := getenv("RABBITMQ_USERNAME"), getenv("RABBITMQ_PASSWORD"); c.RabbitMQURL != "" && (user != "" || pass != "") {
		u, err := url.Parse(c.RabbitMQURL)
		if err != nil {
			errs = append(errs, errors.New("RABBITMQ_URL: not a URL"))
		} else {
			u.User = url.UserPassword(user, pass)
			c.RabbitMQURL = u.String()
		}
	}
	if user, pass := getenv("REDIS_USERNAME"), getenv("REDIS_PASSWORD"); c.RedisURL != "" && (user != "" || pass != "") {
		u, err := url.Parse(c.RedisURL)
		if err != nil {
			errs = append(errs, errors.New("REDIS_URL: not a URL"))
		} else {
			u.User = url.UserPassword(user, pass)
			c.RedisURL = u.String()
		}
	}
	// RABBITMQ_CA: the broker CA amqps:// verifies against (PEM or a path;
	// in ECS the stack's broker CA secret); empty keeps the system roots.
	if err := brokertls.Use(getenv("RABBITMQ_CA")); err != nil {
		errs = append(errs, fmt.Errorf("RABBITMQ_CA: %w", err))
	}
	user, pass, ca := getenv("MYSQL_USER"), getenv("MYSQL_PASSWORD"), strings.TrimSpace(getenv("MYSQL_CA"))
	if c.MySQLDSN != "" && (user != "" || pass != "" || ca != "") {
		cfg, err := mysql.ParseDSN(c.MySQLDSN)
		if err != nil {
			errs = append(errs, fmt.Errorf("MYSQL_DSN: %w", err))
		} else {
			if user != "" || pass != "" {
				cfg.User, cfg.Passwd = user, pass
			}
			if ca != "" {
				if err := registerCA(ca, cfg.Addr); err != nil {
					errs = append(errs, fmt.Errorf("MYSQL_CA: %w", err))
				}
				cfg.TLSConfig = mysqlTLSName
			}
			c.MySQLDSN = cfg.FormatDSN()
		}
	}
	return errors.Join(errs...)
}

func registerCA(ca, addr string) error {
	pemBytes := []byte(ca)
	if !strings.HasPrefix(ca, "-----BEGIN") {
		b, err := os.ReadFile(ca)
		if err != nil {
			return err
		}
		pemBytes = b
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return errors.New("no PEM certificate in it")
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	return mysql.RegisterTLSConfig(mysqlTLSName, &tls.Config{RootCAs: pool, ServerName: host, MinVersion: tls.VersionTLS12})
}
