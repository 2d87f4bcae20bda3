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
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql" // MariaDB driver for database/sql

	"github.com/hookline/hookline/internal/topology"
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

// RabbitMQ creates a fresh vhost for t as production has it: the broker
// definitions of internal/topology applied (exchanges, queues, bindings,
// policies) and, per role, both users (credentials a and b) with exactly the
// production tags and grants, under names unique to the test. guest has no
// grant in it (production deletes guest); the test's own set-up and
// inspection go through its admin user (AMQPURL, MgmtURL). Everything is
// deleted at cleanup. Connect the code under test as a role with AMQPURLAs
// (credential a) or AMQPURLAsCredential (through a Proxy to inject faults).
func RabbitMQ(t testing.TB, opts ...BrokerOption) (vhost string) {
	t.Helper()
	var o brokerOptions
	for _, f := range opts {
		f(&o)
	}
	vhost = Name(t)
	names := map[topology.Role]string{}
	creds := map[login]*url.Userinfo{}
	t.Cleanup(func() {
		mgmt(t, http.MethodDelete, "/api/vhosts/"+url.PathEscape(vhost), "")
		for _, u := range creds {
			mgmt(t, http.MethodDelete, "/api/users/"+url.PathEscape(u.Username()), "")
		}
	})
	for _, u := range topology.Users() {
		base := vhost + "_" + string(u.Role)
		name, pass := u.Credential.Login(base), randomHex(t, 16)
		body, _ := json.Marshal(map[string]string{"password": pass, "tags": strings.Join(u.Tags, ",")})
		mgmt(t, http.MethodPut, "/api/users/"+url.PathEscape(name), string(body))
		names[u.Role] = base
		creds[login{u.Role, u.Credential}] = url.UserPassword(name, pass)
	}
	brokers.Store(vhost, creds)
	t.Cleanup(func() { brokers.Delete(vhost) })
	doc, err := topology.Definitions(topology.Spec{Vhost: vhost, Names: names, DeliveryLimit: o.deliveryLimit})
	if err != nil {
		t.Fatal(err)
	}
	if o.noTopology {
		doc = topology.Document{Vhosts: doc.Vhosts, Permissions: doc.Permissions}
	}
	mgmt(t, http.MethodPost, "/api/definitions", string(doc.JSON()))
	// Creating the vhost through the API granted guest everything in it.
	mgmt(t, http.MethodDelete, "/api/permissions/"+url.PathEscape(vhost)+"/guest", "")
	return vhost
}

// login is one broker user of a test vhost: a role as one credential.
type login struct {
	role topology.Role
	cred topology.Credential
}

// BrokerOption changes what RabbitMQ sets up.
type BrokerOption func(*brokerOptions)

type brokerOptions struct {
	noTopology    bool
	deliveryLimit int
}

// WithoutTopology creates the vhost, users and grants but no exchanges,
// queues or policies: a broker whose definitions were never applied, or one
// a test fills as an older version did.
func WithoutTopology() BrokerOption { return func(o *brokerOptions) { o.noTopology = true } }

// WithDeliveryLimit renders the definitions with another delivery limit.
func WithDeliveryLimit(n int) BrokerOption { return func(o *brokerOptions) { o.deliveryLimit = n } }

// ApplyDefinitions applies the topology's definitions for spec (its Vhost
// made by RabbitMQ) through the management API, as the bootstrap's reconcile
// step does on a running broker.
func ApplyDefinitions(t testing.TB, spec topology.Spec) {
	t.Helper()
	if spec.Names == nil {
		spec.Names = map[topology.Role]string{}
		for l, u := range roleUsers(t, spec.Vhost) {
			if l.cred == topology.A {
				spec.Names[l.role] = u.Username()
			}
		}
	}
	doc, err := topology.Definitions(spec)
	if err != nil {
		t.Fatal(err)
	}
	mgmt(t, http.MethodPost, "/api/definitions", string(doc.JSON()))
}

var brokers sync.Map // vhost -> map[login]*url.Userinfo

func roleUsers(t testing.TB, vhost string) map[login]*url.Userinfo {
	t.Helper()
	v, ok := brokers.Load(vhost)
	if !ok {
		t.Fatalf("testenv: vhost %s was not made by testenv.RabbitMQ", vhost)
	}
	return v.(map[login]*url.Userinfo)
}

// AMQPURLAs is the URL of vhost on the broker at addr ("" = the real broker)
// for the test's user with role r (credential a), whose grants are
// production's.
func AMQPURLAs(addr, vhost string, r topology.Role) string {
	return AMQPURLAsCredential(addr, vhost, r, topology.A)
}

// AMQPURLAsCredential is AMQPURLAs for role r's user with credential c.
func AMQPURLAsCredential(addr, vhost string, r topology.Role, c topology.Credential) string {
	if addr == "" {
		addr = amqpHost
	}
	v, ok := brokers.Load(vhost)
	if !ok {
		panic("testenv: vhost " + vhost + " was not made by testenv.RabbitMQ")
	}
	u := url.URL{Scheme: "amqp", User: v.(map[login]*url.Userinfo)[login{r, c}], Host: addr, Path: "/" + vhost}
	return u.String()
}

// Credentials are the user name and password of the test's broker user
// with role r (credential a) in vhost (for clients that take them apart,
// such as HTTP basic auth to the management API).
func Credentials(t testing.TB, vhost string, r topology.Role) (user, password string) {
	t.Helper()
	u := roleUsers(t, vhost)[login{r, topology.A}]
	p, _ := u.Password()
	return u.Username(), p
}

// UserName is the name of the test's broker user with role r (credential
// a) in vhost.
func UserName(t testing.TB, vhost string, r topology.Role) string {
	t.Helper()
	return roleUsers(t, vhost)[login{r, topology.A}].Username()
}

// AMQPURL is the URL of vhost on the broker at addr ("" = the real broker)
// as the test's admin user, who may do anything there: for a test's own
// set-up and inspection, never for the code under test.
func AMQPURL(addr, vhost string) string { return AMQPURLAs(addr, vhost, topology.Admin) }

// MgmtURL is the management API base URL with the credentials of vhost's
// admin user, for reading the vhost's state back.
func MgmtURL(t testing.TB, vhost string) string {
	t.Helper()
	u, err := url.Parse(mgmtURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = roleUsers(t, vhost)[login{topology.Admin, topology.A}]
	return u.String()
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
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
