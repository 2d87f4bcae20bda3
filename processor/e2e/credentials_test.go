package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookline/hookline/internal/testenv"
	"github.com/hookline/hookline/processor/health"
	"github.com/hookline/hookline/processor/store"
)

// TestPasswordRotationUnderTraffic changes the processor user's password
// while a processor runs and events flow, the way a rotation does it: the
// database first (new connections are refused meanwhile), then the secret the
// processor reads (here MYSQL_PASSWORD_FILE, as the secret stands in for it).
// Connections are killed so that new ones must log in. Nothing is lost,
// nothing is dead-lettered, and new connections use the new password.
func TestPasswordRotationUnderTraffic(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	root := testenv.MySQLDSN("", e.db)
	pwFile := filepath.Join(t.TempDir(), "db-password")
	require.NoError(t, os.WriteFile(pwFile, []byte(`{"username":"`+e.dbUser.Name+`","password":"`+e.dbUser.Password+`"}`), 0o600))
	cfg := e.config(addrs{})
	cfg.MySQLDSN = e.processorDSN("") // carries the first password too; the file wins
	cfg.MySQLPasswordFile = pwFile
	p := e.start(cfg, nil)

	unique, all := workload("rot", 900, 20)
	third := len(all) / 3
	e.publish(all[:third]...)
	require.Eventually(t, func() bool { return e.events() >= 100 }, time.Minute, 20*time.Millisecond)

	// Rotate the database password; kill the processor's connections.
	rotated := e.dbUser
	rotated.Password = randomHex(t)
	require.NoError(t, store.EnsureUser(ctx, root, rotated))
	e.killConnections(rotated.Name)
	e.publish(all[third : 2*third]...) // traffic while only the old password is readable
	require.Eventually(t, func() bool { return !p.health.OK(health.MySQL) }, time.Minute, 20*time.Millisecond,
		"new connections are refused until the secret has the new password")
	// Then the secret.
	require.NoError(t, os.WriteFile(pwFile, []byte(`{"username":"`+e.dbUser.Name+`","password":"`+rotated.Password+`"}`), 0o600))
	e.publish(all[2*third:]...)

	e.waitDrained(unique, 3*time.Minute)
	e.requireExactlyOnce(unique)
	require.Eventually(t, func() bool { return p.health.OK(health.MySQL) }, time.Minute, 50*time.Millisecond)
	require.Positive(t, e.count("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = ?", rotated.Name),
		"the processor is connected again, with the new password (the old one is refused)")
}

func (e *env) killConnections(user string) {
	e.t.Helper()
	rows, err := e.db_.Query("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ?", user)
	require.NoError(e.t, err)
	var ids []int64
	for rows.Next() {
		var id int64
		require.NoError(e.t, rows.Scan(&id))
		ids = append(ids, id)
	}
	require.NoError(e.t, rows.Err())
	rows.Close()
	require.NotEmpty(e.t, ids, "the processor was connected")
	for _, id := range ids {
		_, _ = e.db_.Exec("KILL CONNECTION ?", id) // may have closed already
	}
}
