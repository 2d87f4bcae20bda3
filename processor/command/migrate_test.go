package command

import (
	"bytes"
	"context"
	"database/sql"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/hookline/hookline/internal/testenv"
	"github.com/hookline/hookline/processor/store"
)

// `processor migrate` as the privileged identity applies the schema and
// makes the processor's own user, which can then write rows but not DDL.
func TestMigrateCreatesProcessorUser(t *testing.T) {
	t.Parallel()
	root := testenv.MySQLDSN("", testenv.MySQL(t))
	user := testenv.Name(t)
	t.Cleanup(func() { require.NoError(t, store.DropUser(context.Background(), root, user)) })
	env := map[string]string{"MYSQL_DSN": root, "PROCESSOR_DB_USER": user, "PROCESSOR_DB_PASSWORD": "first-password-0123456789"}
	getenv := func(k string) string { return env[k] }
	for range 2 { // idempotent
		var out, errb bytes.Buffer
		require.Equal(t, 0, Main([]string{"migrate"}, getenv, &out, &errb), errb.String())
		require.Contains(t, out.String(), "processor user "+user)
		require.NotContains(t, out.String()+errb.String(), env["PROCESSOR_DB_PASSWORD"])
	}
	cfg, err := mysql.ParseDSN(root)
	require.NoError(t, err)
	cfg.User, cfg.Passwd = user, env["PROCESSOR_DB_PASSWORD"]
	db, err := sql.Open("mysql", cfg.FormatDSN())
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Exec("INSERT INTO webhook_events (source, event_id, event_type, payload, received_at, processed_at) VALUES ('s', 'e', 't', '', NOW(), NOW())")
	require.NoError(t, err)
	_, err = db.Exec("ALTER TABLE webhook_events ADD COLUMN x INT")
	var me *mysql.MySQLError
	require.ErrorAs(t, err, &me)
	require.Equal(t, uint16(1142), me.Number)

	delete(env, "PROCESSOR_DB_PASSWORD")
	var out, errb bytes.Buffer
	require.Equal(t, 1, Main([]string{"migrate"}, getenv, &out, &errb))
	require.Contains(t, errb.String(), "PROCESSOR_DB_PASSWORD: required")
}
