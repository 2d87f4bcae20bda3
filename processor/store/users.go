package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/go-sql-driver/mysql"
)

// User is the processor's own database identity: it may read and write the
// rows of the processor's tables and nothing else (no DDL, no other
// database, not the migration history).
type User struct {
	Name     string
	Password string
}

// ProcessorPrivileges are the only privileges the processor user holds, on
// each of the processor's tables.
var ProcessorPrivileges = []string{"SELECT", "INSERT", "UPDATE", "DELETE"}

// userHost is the host part of the processor user: the database is reachable
// only from inside the VPC (its security group admits the processor).
const userHost = "%"

// migrationTable is goose's history, which only `processor migrate` writes.
const migrationTable = "goose_db_version"

// MariaDB allows 80 characters in a user name, MySQL 32; the name is also
// kept to characters that need no quoting anywhere it is written.
var userNameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}$`)

// CheckUser validates u before anything is sent to the server.
func CheckUser(u User) error {
	if !userNameRE.MatchString(u.Name) {
		return fmt.Errorf("user name %q: want 1-80 characters of A-Z, a-z, 0-9, '_', '.', '-' (MySQL allows 32)", u.Name)
	}
	if len(u.Password) < 16 {
		return errors.New("password: at least 16 characters")
	}
	return nil
}

// EnsureUser creates the processor user of dsn's database if it is missing,
// sets its password, grants it ProcessorPrivileges on every table of the
// database except the migration history, and revokes anything else it holds
// (globally, on other databases and tables, or on columns), so running it
// again converges grants an operator widened by hand. Run it as the
// privileged (migrating) identity, after Migrate: a table a migration adds
// is granted by the same run.
func EnsureUser(ctx context.Context, dsn string, u User) error {
	if err := CheckUser(u); err != nil {
		return err
	}
	cfg, err := Config(dsn)
	if err != nil {
		return err
	}
	if cfg.DBName == "" {
		return errors.New("MYSQL_DSN: no database name (…/dbname)")
	}
	if cfg.User == u.Name {
		return fmt.Errorf("processor user %q: must differ from the migrating user", u.Name)
	}
	cfg.MultiStatements = false
	cfg.InterpolateParams = true // user names and passwords as escaped literals: these statements cannot be prepared everywhere
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return err
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	exec := func(q string, args ...any) error {
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			verb := strings.Join(strings.Fields(q)[:2], " ") // never the password
			return fmt.Errorf("processor user %s: %s: %w", u.Name, verb, err)
		}
		return nil
	}
	if err := exec("CREATE USER IF NOT EXISTS ?@? IDENTIFIED BY ?", u.Name, userHost, u.Password); err != nil {
		return err
	}
	if err := exec("ALTER USER ?@? IDENTIFIED BY ?", u.Name, userHost, u.Password); err != nil {
		return err
	}
	tables, err := strings1(ctx, db, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' AND TABLE_NAME <> ?", migrationTable)
	if err != nil {
		return fmt.Errorf("processor user %s: list tables: %w", u.Name, err)
	}
	privs := strings.Join(ProcessorPrivileges, ", ")
	for _, t := range tables {
		if err := exec("GRANT "+privs+" ON "+ident(cfg.DBName)+"."+ident(t)+" TO ?@?", u.Name, userHost); err != nil {
			return err
		}
	}
	return revokeExtras(ctx, db, u.Name, cfg.DBName, tables)
}

// revokeExtras revokes every privilege of user other than
// ProcessorPrivileges on db's tables.
func revokeExtras(ctx context.Context, db *sql.DB, user, dbName string, tables []string) error {
	grantee := "'" + user + "'@'" + userHost + "'" // the information_schema spelling; user matched userNameRE
	var revokes []string
	global, err := strings1(ctx, db, "SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = ? AND PRIVILEGE_TYPE <> 'USAGE'", grantee)
	if err != nil {
		return fmt.Errorf("processor user %s: read grants: %w", user, err)
	}
	for _, p := range global {
		revokes = append(revokes, p+" ON *.*")
	}
	rows, err := db.QueryContext(ctx, "SELECT TABLE_SCHEMA, PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = ?", grantee)
	if err != nil {
		return fmt.Errorf("processor user %s: read grants: %w", user, err)
	}
	for rows.Next() {
		var schema, p string
		if err := rows.Scan(&schema, &p); err != nil {
			rows.Close()
			return err
		}
		revokes = append(revokes, p+" ON "+ident(schema)+".*")
	}
	rows.Close()
	rows, err = db.QueryContext(ctx, "SELECT TABLE_SCHEMA, TABLE_NAME, PRIVILEGE_TYPE FROM information_schema.TABLE_PRIVILEGES WHERE GRANTEE = ?", grantee)
	if err != nil {
		return fmt.Errorf("processor user %s: read grants: %w", user, err)
	}
	for rows.Next() {
		var schema, table, p string
		if err := rows.Scan(&schema, &table, &p); err != nil {
			rows.Close()
			return err
		}
		if schema == dbName && slices.Contains(tables, table) && slices.Contains(ProcessorPrivileges, p) {
			continue
		}
		revokes = append(revokes, p+" ON "+ident(schema)+"."+ident(table))
	}
	rows.Close()
	rows, err = db.QueryContext(ctx, "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, PRIVILEGE_TYPE FROM information_schema.COLUMN_PRIVILEGES WHERE GRANTEE = ?", grantee)
	if err != nil {
		return fmt.Errorf("processor user %s: read grants: %w", user, err)
	}
	for rows.Next() {
		var schema, table, col, p string
		if err := rows.Scan(&schema, &table, &col, &p); err != nil {
			rows.Close()
			return err
		}
		revokes = append(revokes, p+" ("+ident(col)+") ON "+ident(schema)+"."+ident(table))
	}
	rows.Close()
	for _, r := range revokes {
		if _, err := db.ExecContext(ctx, "REVOKE "+r+" FROM ?@?", user, userHost); err != nil {
			return fmt.Errorf("processor user %s: REVOKE %s: %w", user, r, err)
		}
	}
	// GRANT OPTION is not listed per privilege above; revoking it where it
	// was never granted is harmless on both engines.
	if _, err := db.ExecContext(ctx, "REVOKE GRANT OPTION ON *.* FROM ?@?", user, userHost); err != nil && !isNoSuchGrant(err) {
		return fmt.Errorf("processor user %s: REVOKE GRANT OPTION: %w", user, err)
	}
	return nil
}

func isNoSuchGrant(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && (me.Number == 1141 || me.Number == 1147) // no such grant (global, table)
}

// DropUser removes the processor user (tests; an operator retiring it).
func DropUser(ctx context.Context, dsn, name string) error {
	if !userNameRE.MatchString(name) {
		return fmt.Errorf("user name %q is not valid", name)
	}
	cfg, err := Config(dsn)
	if err != nil {
		return err
	}
	cfg.InterpolateParams = true
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return err
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	_, err = db.ExecContext(ctx, "DROP USER IF EXISTS ?@?", name, userHost)
	return err
}

func ident(s string) string { return "`" + escapeIdent(s) + "`" }

func strings1(ctx context.Context, db *sql.DB, q string, args ...any) ([]string, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
