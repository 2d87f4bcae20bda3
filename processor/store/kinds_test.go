package store_test

import (
	"database/sql/driver"
	"fmt"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/hookline/hookline/processor/store"
)

// TestErrorKinds: the consumer's classification rests on these; a wrapped
// server error keeps its kind.
func TestErrorKinds(t *testing.T) {
	my := func(n uint16) error { return fmt.Errorf("write events: %w", &mysql.MySQLError{Number: n}) }
	for _, c := range []struct {
		name                                   string
		err                                    error
		deterministic, contention, unavailable bool
	}{
		{"deadlock", my(1213), false, true, false},
		{"lock wait timeout", my(1205), false, true, false},
		{"read-only (failover)", my(1290), false, false, true},
		{"read-only transaction", my(1792), false, false, true},
		{"disk full", my(1021), false, false, true},
		{"too many connections", my(1040), false, false, true},
		{"table missing", my(1146), false, false, true},
		{"command denied", my(1142), false, false, true},
		{"schema missing", fmt.Errorf("check: %w", store.ErrNoSchema), false, false, true},
		{"data too long", my(1406), true, false, false},
		{"fence conflicts exhausted", fmt.Errorf("%w (9 attempts): %w", store.ErrConflictRetries, my(1062)), true, false, false},
		{"bad connection (names no culprit)", driver.ErrBadConn, false, false, false},
		{"unknown server error", my(1105), false, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.deterministic, store.IsDeterministic(c.err), "deterministic")
			require.Equal(t, c.contention, store.IsContention(c.err), "contention")
			require.Equal(t, c.unavailable, store.IsUnavailable(c.err), "unavailable")
		})
	}
}
