package bootstrap_test

import (
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/hookline/hookline/internal/testenv"
	"github.com/hookline/hookline/internal/topology"
)

// client is one role's clients during a rotation: it holds a connection
// open from the start (a long-lived consumer or a warm Lambda) and, until
// stopped, opens and closes a new one as fast as it can (cold starts,
// reconnects) with the credential it was last pointed at, recording every
// attempt by phase and every refusal.
type client struct {
	f    *fixture
	role topology.Role

	mu       sync.Mutex
	user, pw string         // what the client read from its secret
	phase    string         // what the operator is doing
	attempts map[string]int // per phase
	refused  []string

	stop chan struct{}
	done chan struct{}
}

func startClient(t *testing.T, f *fixture, role topology.Role) *client {
	a := login{role, topology.A}
	c := &client{f: f, role: role, user: f.name(a), pw: f.passwords[a], phase: "start", attempts: map[string]int{}, stop: make(chan struct{}), done: make(chan struct{})}
	go c.loop()
	t.Cleanup(c.halt)
	return c
}

func (c *client) loop() {
	defer close(c.done)
	for {
		select {
		case <-c.stop:
			return
		default:
		}
		c.mu.Lock()
		user, pw, phase := c.user, c.pw, c.phase
		c.mu.Unlock()
		conn, err := c.f.open(user, pw)
		c.mu.Lock()
		c.attempts[phase]++
		if err != nil {
			c.refused = append(c.refused, fmt.Sprintf("%s during %q: %v", user, phase, err))
		}
		c.mu.Unlock()
		if err == nil {
			conn.Close()
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// switchTo points new connections at l's user with the password its
// secret holds now, as a deploy that changes broker.credentials does.
func (c *client) switchTo(l login) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.user, c.pw = c.f.name(l), c.f.passwords[l]
}

func (c *client) setPhase(p string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.phase = p
}

func (c *client) halt() {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	<-c.done
}

// connectionsOf counts the broker's connections by user name with the
// command docs/broker.md gives an operator for the same question.
func connectionsOf(t *testing.T, user string) int {
	t.Helper()
	out, err := exec.Command("rabbitmqctl", "list_connections", "--silent", "user").CombinedOutput()
	if err != nil {
		t.Fatalf("rabbitmqctl list_connections: %v\n%s", err, out)
	}
	n := 0
	for _, line := range strings.Split(string(out), "\n") {
		if strings.TrimSpace(line) == user {
			n++
		}
	}
	return n
}

// Item 7's rotation with overlap, the sequence of docs/broker.md ("Rotating
// a broker password") run as the users the bootstrap creates: every role's
// clients connect and reconnect as credential a while b's password is
// changed and reconciled, are switched to b, and a's password is changed
// only once no connection uses a. No connection attempt is refused at any
// point; an open connection survives every reconcile; each stale password
// is refused once its rotation is reconciled.
func TestRotationWithTwoCredentialsRefusesNoConnection(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.configure(t)
	roles := []topology.Role{topology.Receiver, topology.Processor, topology.Collector, topology.Admin}
	clients := map[topology.Role]*client{}
	held := map[topology.Role]*amqp.Connection{}
	for _, r := range roles {
		a := login{r, topology.A}
		conn, err := f.open(f.name(a), f.passwords[a])
		if err != nil {
			t.Fatalf("%s before the rotation: %v", a, err)
		}
		t.Cleanup(func() { conn.Close() })
		held[r] = conn
		clients[r] = startClient(t, f, r)
	}
	phase := func(p string) {
		for _, c := range clients {
			c.setPhase(p)
		}
	}
	stale := func(l login, pw string) {
		t.Helper()
		if err := f.dial(l, pw); err == nil {
			t.Errorf("%s's old password still works after its rotation was reconciled", l)
		}
		if err := f.dial(l, f.passwords[l]); err != nil {
			t.Errorf("%s's new password is refused after reconcile: %v", l, err)
		}
	}

	// 1–2. The inactive credential b gets a new password; make deploy
	// writes its secret and reconciles.
	phase("b's password set and reconciled")
	oldB := map[topology.Role]string{}
	for _, r := range roles {
		b := login{r, topology.B}
		oldB[r] = f.passwords[b]
		f.setPassword(t, b, testenv.Name(t)+"-b2")
	}
	f.configure(t)
	for _, r := range roles {
		stale(login{r, topology.B}, oldB[r])
	}

	// 3. broker.credentials.<role>: b, make deploy: new clients read b's
	// secret; the reconcile of that deploy changes nothing.
	phase("clients switched to b")
	for _, c := range clients {
		c.switchTo(login{c.role, topology.B})
	}
	f.configure(t)

	// 4. The old clients go (tasks replaced, Lambda environments retired);
	// the operator waits until no connection uses a.
	phase("old clients retired")
	for _, r := range roles {
		if held[r].IsClosed() {
			t.Errorf("%s's open connection as a was closed by a reconcile", r)
		}
		held[r].Close()
	}
	for _, r := range roles {
		a := f.name(login{r, topology.A})
		deadline := time.Now().Add(10 * time.Second)
		for connectionsOf(t, a) > 0 && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if n := connectionsOf(t, a); n > 0 {
			t.Fatalf("%d connections still use %s after its clients left", n, a)
		}
	}

	// 5. Now a may rotate: nothing uses it.
	phase("a's password set and reconciled")
	oldA := map[topology.Role]string{}
	for _, r := range roles {
		a := login{r, topology.A}
		oldA[r] = f.passwords[a]
		f.setPassword(t, a, testenv.Name(t)+"-a2")
	}
	f.configure(t)
	for _, r := range roles {
		stale(login{r, topology.A}, oldA[r])
	}
	phase("after")
	time.Sleep(50 * time.Millisecond)

	for _, r := range roles {
		c := clients[r]
		c.halt()
		for _, p := range []string{"b's password set and reconciled", "clients switched to b", "a's password set and reconciled"} {
			if c.attempts[p] == 0 {
				t.Errorf("%s: no connection attempt while %s: the test proved nothing there", r, p)
			}
		}
		for _, e := range c.refused {
			t.Errorf("%s: refused: %s", r, e)
		}
		t.Logf("%s: attempts by phase %v", r, c.attempts)
	}
}
