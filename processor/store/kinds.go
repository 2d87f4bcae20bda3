package store

import (
	"errors"

	"github.com/go-sql-driver/mysql"
)

// IsContention reports a server-side lock conflict (deadlock, lock wait
// timeout) that outlasted Apply's own retries: another transaction holds
// what this batch needs. The consumer retries it later and never
// dead-letters it for that.
func IsContention(err error) bool { return isLockWait(err) }

// IsUnavailable reports the server answering but refusing every write for
// now, whatever the batch: read-only (a failover in progress), disk or table
// full, out of connections, shutting down, the schema or a grant missing.
// An outage, even though the server answers a ping.
func IsUnavailable(err error) bool {
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		return errors.Is(err, ErrNoSchema)
	}
	switch me.Number {
	case 1021, 1114, // disk full, table full
		1290, 1792, 1836, // --read-only, read-only transaction, read-only mode
		1040, 1053, 1927, // too many connections, shutdown in progress, connection killed
		1044, 1045, 1142, 1146: // access denied (database, user), command denied, no such table
		return true
	}
	return false
}
