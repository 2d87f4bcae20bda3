// Package store is the processor's MySQL/MariaDB side: the embedded
// migrations and the batch transaction that records events (deduplicated on
// UNIQUE(source, event_id)), runs their handlers and applies fenced entity
// writes.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/pressly/goose/v3"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is a connection pool to the processor's database.
type Store struct {
	DB *sql.DB
	// WantsCallback, when set, says whether a source's stored events get a
	// callback: Apply then writes their outbox rows in their transaction.
	WantsCallback func(source string) bool
}

// Config parses a go-sql-driver DSN and sets what the store relies on:
// parseTime with UTC, client-side interpolation (one round trip per statement
// instead of prepare/execute/close), and dial/read/write timeouts so a hung
// server surfaces as an error instead of a stuck worker.
func Config(dsn string) (*mysql.Config, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("MYSQL_DSN: %w", err)
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	cfg.InterpolateParams = true
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = 30 * time.Second
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = 30 * time.Second
	}
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	// Session time zone UTC so DATETIME values mean UTC on every server.
	cfg.Params["time_zone"] = "'+00:00'"
	return cfg, nil
}

// Open returns a Store for dsn. It does not connect: database/sql dials on
// first use and redials after failures, which is the store's reconnect loop.
func Open(dsn string, maxConns int) (*Store, error) { return OpenWith(dsn, maxConns, nil) }

// OpenWith is Open with the password read by password (nil: the DSN's) for
// every new connection, and read again when the server refuses it: a
// rotated password reaches the processor without a restart.
func OpenWith(dsn string, maxConns int, password Password) (*Store, error) {
	cfg, err := Config(dsn)
	if err != nil {
		return nil, err
	}

	// A batch opens its transaction, inserts its events and locks its
	// entity rows in one round trip (a multi-statement query); arguments
	// are still escaped by the driver, never pasted into SQL.
	cfg.MultiStatements = true
	var conn driver.Connector
	if password != nil {
		conn, err = newRotating(cfg, password)
	} else {
		conn, err = mysql.NewConnector(cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("MYSQL_DSN: %w", err)
	}
	db := sql.OpenDB(readCommitted{conn})
	if maxConns < 2 {
		maxConns = 2
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxLifetime(10 * time.Minute)
	db.SetConnMaxIdleTime(2 * time.Minute)
	return &Store{DB: db}, nil
}

// readCommitted sets every new connection to READ COMMITTED: entity rows are
// locked explicitly (SELECT ... FOR UPDATE), and without gap locks
// concurrent batches inserting new entities do not deadlock each other. Doing
// it once per connection (this statement works on MySQL and MariaDB alike)
// saves the round trip a per-transaction isolation level costs.
type readCommitted struct{ driver.Connector }

func (c readCommitted) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	ex, ok := conn.(driver.ExecerContext)
	if !ok {
		conn.Close()
		return nil, errors.New("mysql driver connection cannot execute statements")
	}
	if _, err := ex.ExecContext(ctx, "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED", nil); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// Close closes the pool.
func (s *Store) Close() error { return s.DB.Close() }

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.DB.PingContext(ctx) }

// Migrate creates the DSN's database if it does not exist and applies every
// embedded migration not yet applied (goose, versioned, recorded in
// goose_db_version). It returns the versions it applied.
func Migrate(ctx context.Context, dsn string) ([]int64, error) {
	return MigrateTo(ctx, dsn, math.MaxInt64)
}

// MigrateTo is Migrate up to and including version (tests of a migration
// start from the schema before it).
func MigrateTo(ctx context.Context, dsn string, version int64) ([]int64, error) {
	cfg, err := Config(dsn)
	if err != nil {
		return nil, err
	}
	if cfg.DBName == "" {
		return nil, errors.New("MYSQL_DSN: no database name (…/dbname)")
	}
	if err := createDatabase(ctx, cfg); err != nil {
		return nil, err
	}
	cfg.MultiStatements = false
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	p, err := goose.NewProvider(goose.DialectMySQL, db, fsys)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	res, err := p.UpTo(ctx, version)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	var applied []int64
	for _, r := range res {
		applied = append(applied, r.Source.Version)
	}
	return applied, nil
}

func createDatabase(ctx context.Context, cfg *mysql.Config) error {
	root := cfg.Clone()
	root.DBName = ""
	conn, err := mysql.NewConnector(root)
	if err != nil {
		return err
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	q := "CREATE DATABASE IF NOT EXISTS `" + escapeIdent(cfg.DBName) + "` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
	if _, err := db.ExecContext(ctx, q); err != nil {
		// Without the privilege to create databases, the database must
		// already exist (RDS creates it); migrating will say if it does not.
		var me *mysql.MySQLError
		if errors.As(err, &me) && (me.Number == 1044 || me.Number == 1045 || me.Number == 1227) {
			return nil
		}
		return fmt.Errorf("create database %s: %w", cfg.DBName, err)
	}
	return nil
}

func escapeIdent(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '`' {
			out = append(out, '`')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// ErrNoSchema means the tables are missing: `processor migrate` has not run.
var ErrNoSchema = errors.New("webhook tables missing: run `processor migrate`")

// CheckSchema reports ErrNoSchema when the tables are missing (and any
// connection error as is).
func (s *Store) CheckSchema(ctx context.Context) error {
	_, err := s.DB.ExecContext(ctx, "SELECT 1 FROM webhook_events, webhook_entities, webhook_callbacks LIMIT 0")
	var me *mysql.MySQLError
	if errors.As(err, &me) && me.Number == 1146 {
		return ErrNoSchema
	}
	return err
}

// Error classes, for the consumer's retry policy.

// Kind is how a store error should be retried.
type Kind int

const (
	// Transient: the database could not be reached, the connection broke,
	// the server is failing over, read-only, out of connections, or refuses
	// the credentials or a grant (a rotation or a migration in progress).
	// Nothing about the message is wrong: retry, without limit in time.
	Transient Kind = iota
	// Deterministic: the data itself is refused (too long, out of range, a
	// bad string, a constraint violation), or the batch kept colliding with
	// itself until the conflict retries ran out (ErrConflictRetries).
	// Retrying the same message the same way fails the same way: count the
	// attempt and dead-letter after a bound.
	Deterministic
)

func (k Kind) String() string {
	if k == Deterministic {
		return "deterministic"
	}
	return "transient"
}

// ErrConflictRetries means Apply redid a batch maxConflictRetry times and
// every time its writes collided (a duplicate key its dedupe lookup did not
// see, entity rows that changed under their lock): the batch's own data
// makes it collide, so it is Deterministic. Deadlocks and lock-wait timeouts
// that outlast the retries are returned as they are (Transient).
var ErrConflictRetries = errors.New("store: conflicts persisted after retries")

// Classify tells the consumer how to retry err (nil is Transient; test err
// first). Unknown server errors are Transient: the message is not known to be
// at fault, and a wrong Deterministic would dead-letter good data.
func Classify(err error) Kind {
	if errors.Is(err, ErrConflictRetries) {
		return Deterministic
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1048, 1264, 1265, 1292, 1364, 1366, 1406, // null, out of range, truncated, bad date, no default, bad string, too long
			1062, 1451, 1452, 1690, // duplicate key, foreign key (parent, child), value out of range in an expression
			3819, 4025: // CHECK constraint (MySQL, MariaDB)
			return Deterministic
		}
	}
	return Transient
}

// IsDeterministic reports whether err is Deterministic.
func IsDeterministic(err error) bool { return err != nil && Classify(err) == Deterministic }

// IsTransient reports whether err is Transient (an outage: retry).
func IsTransient(err error) bool { return err != nil && Classify(err) == Transient }

// IsPermanent is IsDeterministic (the consumer's older name for it).
func IsPermanent(err error) bool { return IsDeterministic(err) }

// IsAuth reports whether err is the server refusing the credentials (1045):
// with rotating passwords the connector re-reads its password on it.
func IsAuth(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == 1045
}

// isConnection reports whether err is about the connection, not the query.
func isConnection(err error) bool {
	var ne net.Error
	var me *mysql.MySQLError
	switch {
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, mysql.ErrInvalidConn), errors.Is(err, sql.ErrConnDone),
		errors.As(err, &ne):
		return true
	case errors.As(err, &me):
		switch me.Number {
		case 1040, 1045, 1053, 2002, 2003, 2006, 2013, 1927:
			return true
		}
	}
	return false
}

func isDuplicateKey(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == 1062
}

// isConflict reports a collision Apply retries: a concurrent writer got in
// first (duplicate key, entity rows changed) or the server broke a lock cycle.
func isConflict(err error) bool {
	var me *mysql.MySQLError
	if errors.Is(err, errFenceRace) {
		return true
	}
	if errors.As(err, &me) {
		switch me.Number {
		case 1062, 1213, 1205: // duplicate key (a concurrent insert), deadlock, lock wait timeout
			return true
		}
	}
	return false
}

// isLockWait reports the server-side lock errors, which stay Transient when
// retries run out.
func isLockWait(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && (me.Number == 1213 || me.Number == 1205)
}
