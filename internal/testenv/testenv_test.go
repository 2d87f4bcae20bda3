package testenv

import (
	"database/sql"
	"net"
	"testing"
	"time"
)

func TestMySQLIsolatedAndProxyCut(t *testing.T) {
	t.Parallel()
	database := MySQL(t)
	p := NewProxy(t, MySQLAddr())
	db, err := sql.Open("mysql", MySQLDSN(p.Addr(), database))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var name string
	if err := db.QueryRow("SELECT DATABASE()").Scan(&name); err != nil || name != database {
		t.Fatalf("DATABASE() = %q, %v; want %q", name, err, database)
	}
	p.Cut()
	if _, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		t.Fatal("dial through a cut proxy succeeded")
	}
	p.Restore()
	db.SetConnMaxLifetime(0)
	if err := db.Ping(); err != nil {
		t.Fatalf("ping after restore: %v", err)
	}
}

func TestRabbitMQVhost(t *testing.T) {
	t.Parallel()
	if v := RabbitMQ(t); v == "" {
		t.Fatal("empty vhost")
	}
}
