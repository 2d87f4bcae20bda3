// Package testenv gives each test its own slice of the real local services:
// a RabbitMQ vhost, a MariaDB database and a Redis key prefix, all removed when
// the test ends, plus a TCP proxy (toxiproxy) for injecting network faults
// without touching the shared services. Tests using it can run in parallel and
// twice in a row.
package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql" // MariaDB driver for database/sql
)

// Defaults match `make services`; each can be overridden from the environment.
var (
	amqpHost  = env("TEST_RABBITMQ_ADDR", "127.0.0.1:5672")
	mgmtURL   = env("TEST_RABBITMQ_MGMT", "http://guest:guest@127.0.0.1:15672")
	mysqlRoot = env("TEST_MYSQL_ROOT_DSN", "root@tcp(127.0.0.1:3306)/")
	redisAddr = env("TEST_REDIS_ADDR", "127.0.0.1:6379")
)

func env(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// Name returns a short unique, lowercase identifier for t, safe as a vhost,
// database or key-prefix name.
func Name(t testing.TB) string {
	t.Helper()
	var b [5]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	base := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '_'
	}, t.Name())
	if len(base) > 32 {
		base = base[:32]
	}
	return "hl_" + base + "_" + hex.EncodeToString(b[:])
}

// RabbitMQ creates a fresh vhost for t, with guest allowed in it, and deletes
// it at cleanup. Connect with AMQPURL (through a Proxy to inject faults).
func RabbitMQ(t testing.TB) (vhost string) {
	t.Helper()
	vhost = Name(t)
	mgmt(t, http.MethodPut, "/api/vhosts/"+url.PathEscape(vhost), "")
	mgmt(t, http.MethodPut, "/api/permissions/"+url.PathEscape(vhost)+"/guest",
		`{"configure":".*","write":".*","read":".*"}`)
	t.Cleanup(func() { mgmt(t, http.MethodDelete, "/api/vhosts/"+url.PathEscape(vhost), "") })
	return vhost
}

// AMQPURL is the URL of vhost on the broker at addr ("" = the real broker).
func AMQPURL(addr, vhost string) string {
	if addr == "" {
		addr = amqpHost
	}
	return "amqp://guest:guest@" + addr + "/" + url.PathEscape(vhost)
}

// RabbitMQAddr is the real broker's host:port, the upstream for a Proxy.
func RabbitMQAddr() string { return amqpHost }

// RabbitMQMgmt is the management API base URL (with credentials).
func RabbitMQMgmt() string { return mgmtURL }

func mgmt(t testing.TB, method, path, body string) {
	t.Helper()
	u, err := url.Parse(mgmtURL + path)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(method, u.String(), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatalf("RabbitMQ management API %s %s: %v (run `make services`)", method, path, err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 && !(method == http.MethodDelete && resp.StatusCode == http.StatusNotFound) {
		t.Fatalf("RabbitMQ management API %s %s: %s", method, path, resp.Status)
	}
}

// MySQL creates a fresh database for t and drops it at cleanup. Connect with
// MySQLDSN (through a Proxy to inject faults).
func MySQL(t testing.TB) (database string) {
	t.Helper()
	database = Name(t)
	db, err := sql.Open("mysql", mysqlRoot)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE `"+database+"`"); err != nil {
		t.Fatalf("create database %s: %v (run `make services`)", database, err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("mysql", mysqlRoot)
		if err != nil {
			t.Error(err)
			return
		}
		defer db.Close()
		if _, err := db.Exec("DROP DATABASE IF EXISTS `" + database + "`"); err != nil {
			t.Errorf("drop database %s: %v", database, err)
		}
	})
	return database
}

// MySQLDSN is the DSN of database on the server at addr ("" = the real one).
func MySQLDSN(addr, database string) string {
	if addr == "" {
		addr = MySQLAddr()
	}
	return fmt.Sprintf("root@tcp(%s)/%s?parseTime=true&multiStatements=true", addr, database)
}

// MySQLAddr is the real database server's host:port.
func MySQLAddr() string {
	const marker = "tcp("
	if i := strings.Index(mysqlRoot, marker); i >= 0 {
		rest := mysqlRoot[i+len(marker):]
		if j := strings.IndexByte(rest, ')'); j >= 0 {
			return rest[:j]
		}
	}
	return "127.0.0.1:3306"
}

// Redis returns a key prefix unique to t; keys under it are left to expire
// (Redis here keeps nothing on disk).
func Redis(t testing.TB) (prefix string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", redisAddr, 5*time.Second)
	if err != nil {
		t.Fatalf("redis at %s: %v (run `make services`)", redisAddr, err)
	}
	c.Close()
	return Name(t) + ":"
}

// RedisAddr is the real Redis server's host:port.
func RedisAddr() string { return redisAddr }

// RedisURL is a redis:// URL for the server at addr ("" = the real one).
func RedisURL(addr string) string {
	if addr == "" {
		addr = redisAddr
	}
	return "redis://" + addr + "/0"
}
