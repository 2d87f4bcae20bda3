package store_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/hookline/hookline/internal/testenv"
	"github.com/hookline/hookline/processor/handler"
	"github.com/hookline/hookline/processor/store"
)

func secret(t *testing.T) string {
	var b [16]byte
	_, err := rand.Read(b[:])
	require.NoError(t, err)
	return hex.EncodeToString(b[:])
}

// processorUser creates a unique processor user for t's database dsn
// (dropped at cleanup) and returns it with the DSN to connect as it.
func processorUser(t *testing.T, dsn string) (store.User, string) {
	t.Helper()
	u := store.User{Name: testenv.Name(t), Password: secret(t)}
	require.NoError(t, store.EnsureUser(context.Background(), dsn, u))
	t.Cleanup(func() { require.NoError(t, store.DropUser(context.Background(), dsn, u.Name)) })
	return u, as(t, dsn, u.Name, u.Password)
}

func as(t *testing.T, dsn, user, pass string) string {
	cfg, err := mysql.ParseDSN(dsn)
	require.NoError(t, err)
	cfg.User, cfg.Passwd = user, pass
	return cfg.FormatDSN()
}

func mysqlErr(t *testing.T, err error) uint16 {
	t.Helper()
	var me *mysql.MySQLError
	require.True(t, errors.As(err, &me), "want a server error, got %v", err)
	return me.Number
}

// The processor user reads and writes its tables' rows and can do nothing
// else: no DDL, no other database, not the migration history. Running
// EnsureUser again takes back privileges an operator added by hand, and
// changes the password.
func TestProcessorUserLeastPrivilege(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.MySQL(t)
	root := testenv.MySQLDSN("", db)
	_, err := store.Migrate(ctx, root)
	require.NoError(t, err)
	u, dsn := processorUser(t, root)

	s, err := store.Open(dsn, 2)
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.CheckSchema(ctx))
	res, err := s.Apply(ctx, []*handler.Event{ev("a", "X", 0), ev("b", "X", time.Second)}, pickDefault)
	require.NoError(t, err, "the processor's own path works with its grants")
	require.Equal(t, []store.Outcome{store.Stored, store.Stored}, res.Outcomes)
	_, err = s.DB.ExecContext(ctx, "DELETE FROM webhook_events WHERE event_id = 'a'")
	require.NoError(t, err)

	refused := func(what string) {
		t.Helper()
		for _, q := range []string{
			"ALTER TABLE webhook_events ADD COLUMN x INT",
			"CREATE TABLE t (x INT)",
			"DROP TABLE webhook_entities",
			"TRUNCATE TABLE webhook_events",
			"CREATE INDEX ix ON webhook_events (event_type)",
			"SELECT * FROM goose_db_version",
			"INSERT INTO goose_db_version (version_id, is_applied) VALUES (99, 1)",
			"CREATE DATABASE hl_should_not_exist",
			"SELECT * FROM mysql.user",
			"GRANT SELECT ON webhook_events TO CURRENT_USER()",
		} {
			_, err := s.DB.ExecContext(ctx, q)
			require.Error(t, err, "%s: %s", what, q)
			require.Contains(t, []uint16{1044, 1142, 1045, 1227}, mysqlErr(t, err), "%s: %s: %v", what, q, err)
		}
	}
	refused("as created")

	// An operator widens the grants by hand; the next migrate converges.
	rootDB := open(t).DB // any root connection
	for _, q := range []string{
		"GRANT ALL PRIVILEGES ON `" + db + "`.* TO '" + u.Name + "'@'%'",
		"GRANT SELECT ON mysql.user TO '" + u.Name + "'@'%'",
		"GRANT ALTER ON `" + db + "`.webhook_events TO '" + u.Name + "'@'%'",
		"GRANT SELECT (version_id) ON `" + db + "`.goose_db_version TO '" + u.Name + "'@'%'",
		"GRANT PROCESS ON *.* TO '" + u.Name + "'@'%'",
	} {
		_, err := rootDB.ExecContext(ctx, q)
		require.NoError(t, err, q)
	}
	s.DB.SetMaxIdleConns(0) // database-level grants apply to new connections
	_, err = s.DB.ExecContext(ctx, "CREATE TABLE widened (x INT)")
	require.NoError(t, err, "the hand-made grants took effect")
	_, err = rootDB.ExecContext(ctx, "DROP TABLE `"+db+"`.widened")
	require.NoError(t, err)

	u.Password = secret(t) // and a new password
	require.NoError(t, store.EnsureUser(ctx, root, u))
	_, err = s.DB.ExecContext(ctx, "SELECT 1")
	require.Equal(t, uint16(1045), mysqlErr(t, err), "the old password is refused")
	require.True(t, store.IsAuth(err))
	require.True(t, store.IsTransient(err))
	s2, err := store.Open(as(t, root, u.Name, u.Password), 2)
	require.NoError(t, err)
	defer s2.Close()
	s = s2
	refused("after converging")
	_, err = s.Apply(ctx, []*handler.Event{ev("c", "X", 2*time.Second)}, pickDefault)
	require.NoError(t, err)
	var grants, tables int
	require.NoError(t, rootDB.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.TABLE_PRIVILEGES WHERE GRANTEE = ?", "'"+u.Name+"'@'%'").Scan(&grants))
	require.NoError(t, rootDB.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME <> 'goose_db_version'", db).Scan(&tables))
	require.GreaterOrEqual(t, tables, 2)
	require.Equal(t, tables*len(store.ProcessorPrivileges), grants, "four privileges on each of the processor's tables, nothing else")
}

func TestCheckUser(t *testing.T) {
	long := make([]byte, 81)
	for i := range long {
		long[i] = 'a'
	}
	for _, name := range []string{"", "a'b", "a b", "`x`", string(long), "x@y"} {
		require.Error(t, store.CheckUser(store.User{Name: name, Password: "0123456789abcdef"}), name)
	}
	require.NoError(t, store.CheckUser(store.User{Name: string(long[:80]), Password: "0123456789abcdef"}))
	require.Error(t, store.CheckUser(store.User{Name: "hookline_processor", Password: "short"}))
	require.ErrorContains(t, store.EnsureUser(context.Background(), "hookline_processor:x@tcp(127.0.0.1:3306)/d", store.User{Name: "hookline_processor", Password: "0123456789abcdef"}), "must differ")
}

// A password changed under an open store: connections already open keep
// working; new ones are refused with the old password, the store reads the
// password again and connects with the new one.
func TestRotatingPassword(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	root := testenv.MySQLDSN("", testenv.MySQL(t))
	_, err := store.Migrate(ctx, root)
	require.NoError(t, err)
	u, _ := processorUser(t, root)
	var mu sync.Mutex
	current, reads := u.Password, 0
	read := func(context.Context) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		reads++
		return current, nil
	}
	s, err := store.OpenWith(as(t, root, u.Name, "not-this-one"), 4, read)
	require.NoError(t, err)
	defer s.Close()
	_, err = s.Apply(ctx, []*handler.Event{ev("a", "X", 0)}, pickDefault)
	require.NoError(t, err)
	require.Equal(t, 1, reads, "read once, not per connection")

	for round := range 2 {
		// Rotate: the database first, then the secret (a rotation
		// function's order); new connections in between are refused.
		u.Password = secret(t)
		require.NoError(t, store.EnsureUser(ctx, root, u))
		killConnections(t, root, u.Name)
		s.DB.SetMaxIdleConns(0)
		_, err = s.DB.ExecContext(ctx, "SELECT 1")
		require.True(t, store.IsAuth(err), "round %d: still the old password: %v", round, err)
		mu.Lock()
		current = u.Password
		mu.Unlock()
		// The refusal made it read again (at most once a second).
		require.Eventually(t, func() bool { return s.Ping(ctx) == nil }, 10*time.Second, 50*time.Millisecond, "round %d", round)
		s.DB.SetMaxIdleConns(4)
		_, err = s.Apply(ctx, []*handler.Event{ev(secret(t), "X", time.Duration(round+1)*time.Second)}, pickDefault)
		require.NoError(t, err)
	}
	mu.Lock()
	require.LessOrEqual(t, reads, 30, "re-reads are throttled")
	mu.Unlock()
}

func killConnections(t *testing.T, root, user string) {
	t.Helper()
	s, err := store.Open(root, 2)
	require.NoError(t, err)
	defer s.Close()
	rows, err := s.DB.Query("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ?", user)
	require.NoError(t, err)
	var ids []int64
	for rows.Next() {
		var id int64
		require.NoError(t, rows.Scan(&id))
		ids = append(ids, id)
	}
	rows.Close()
	for _, id := range ids {
		_, _ = s.DB.Exec("KILL CONNECTION ?", id) // may have gone already
	}
}
