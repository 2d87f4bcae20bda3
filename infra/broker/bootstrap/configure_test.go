package bootstrap_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/hookline/hookline/infra/broker/bootstrap"
	"github.com/hookline/hookline/internal/testenv"
	"github.com/hookline/hookline/internal/topology"
)

// fixture is one configuration run's inputs against the local broker: a
// throwaway vhost, both users of every role (credentials a and b, uniquely
// named) each with its secret, and the definitions document of
// internal/topology for them.
type fixture struct {
	vhost     string
	bases     map[topology.Role]string // credential a's name; b's is topology.B.Login of it
	passwords map[login]string
	arns      map[login]string
	stubs     *stubs
	config    bootstrap.Configure
}

// login is one broker user: a role as one credential.
type login struct {
	role topology.Role
	cred topology.Credential
}

func (l login) String() string { return string(l.role) + "/" + string(l.cred) }

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{
		vhost:     testenv.Name(t),
		bases:     map[topology.Role]string{},
		passwords: map[login]string{},
		arns:      map[login]string{},
		stubs:     newStubs(t),
	}
	var names []string
	for _, u := range topology.Users() {
		l := login{u.Role, u.Credential}
		f.bases[u.Role] = f.vhost + "-" + string(u.Role)
		f.arns[l] = "arn:aws:secretsmanager:us-east-1:123456789012:secret:" + f.name(l) + "-AbCdEf"
		f.setPassword(t, l, testenv.Name(t)+"-pw1")
		names = append(names, f.name(l))
		f.config.Users = append(f.config.Users, bootstrap.User{Name: f.name(l), Tags: u.Tags, SecretArn: f.arns[l]})
	}
	cleanupBroker(t, f.vhost, names...)
	doc, err := topology.Definitions(topology.Spec{Vhost: f.vhost, Names: f.bases, DeliveryLimit: 7})
	if err != nil {
		t.Fatal(err)
	}
	f.config.Region = "us-east-1"
	f.config.Stack = "test"
	f.config.Vhost = f.vhost
	f.config.Nodes = 1
	f.config.Definitions = doc.JSON()
	f.config.DeleteGuest = false // the local broker is shared: guest stays
	return f
}

// name is l's user name in the fixture's vhost.
func (f *fixture) name(l login) string { return l.cred.Login(f.bases[l.role]) }

// setPassword writes l's secret as pulumi up does; the broker learns it
// only when the configuration runs again.
func (f *fixture) setPassword(t *testing.T, l login, pw string) {
	f.passwords[l] = pw
	f.stubs.secret(t, f.arns[l], map[string]any{"username": f.name(l), "password": pw, "host": "127.0.0.1", "port": 5671, "vhost": f.vhost})
}

func (f *fixture) configure(t *testing.T) {
	t.Helper()
	script, err := bootstrap.RenderConfigure(f.config)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := f.stubs.run(t, script); err != nil {
		t.Fatalf("configure.sh: %v\n%s", err, out)
	}
}

// dial opens an AMQP connection to the fixture's vhost as l's user.
func (f *fixture) dial(l login, password string) error {
	conn, err := f.open(f.name(l), password)
	if err != nil {
		return err
	}
	return conn.Close()
}

// open is an AMQP connection to the fixture's vhost as user.
func (f *fixture) open(user, password string) (*amqp.Connection, error) {
	u := "amqp://" + url.PathEscape(user) + ":" + url.PathEscape(password) + "@" + testenv.RabbitMQAddr() + "/" + url.PathEscape(f.vhost)
	return amqp.DialConfig(u, amqp.Config{Dial: amqp.DefaultDial(5 * time.Second)})
}

// The configuration half, run twice as the node and the reconcile step run
// it, leaves the broker with exactly the users, tags, grants, topology and
// policies of internal/topology, read back through the management API; the
// passwords never reach a command line; nothing of the install half runs.
func TestConfigureAppliesTheTopologyToTheRealBroker(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.configure(t)
	f.configure(t) // idempotent: the second run (a reconcile) changes nothing and fails nothing

	var vhost struct{ Name string }
	if code := mgmtGet(t, "/api/vhosts/"+url.PathEscape(f.vhost), &vhost); code != 200 {
		t.Fatalf("vhost %s: %d", f.vhost, code)
	}
	for _, u := range topology.Users() {
		l := login{u.Role, u.Credential}
		name := f.name(l)
		var got struct{ Tags []string }
		if code := mgmtGet(t, "/api/users/"+url.PathEscape(name), &got); code != 200 {
			t.Errorf("user %s: %d", name, code)
			continue
		}
		if len(got.Tags) != len(u.Tags) || (len(u.Tags) > 0 && !jsonEqual(got.Tags, u.Tags)) {
			t.Errorf("user %s tags %v; want %v", name, got.Tags, u.Tags)
		}
		var perm struct{ Configure, Write, Read string }
		if code := mgmtGet(t, "/api/permissions/"+url.PathEscape(f.vhost)+"/"+url.PathEscape(name), &perm); code != 200 {
			t.Errorf("permissions of %s in %s: %d", name, f.vhost, code)
			continue
		}
		if perm.Configure != u.Grant.Configure || perm.Write != u.Grant.Write || perm.Read != u.Grant.Read {
			t.Errorf("permissions of %s: %+v; want %+v", name, perm, u.Grant)
		}
		if err := f.dial(l, f.passwords[l]); err != nil {
			t.Errorf("%s cannot connect with its password from the secret: %v", name, err)
		}
	}
	var perms []struct{ User string }
	mgmtGet(t, "/api/vhosts/"+url.PathEscape(f.vhost)+"/permissions", &perms)
	if len(perms) != len(topology.Users()) {
		t.Errorf("vhost %s has %d grants (%v); want exactly one per user (%d)", f.vhost, len(perms), perms, len(topology.Users()))
	}

	doc, _ := topology.Definitions(topology.Spec{Vhost: f.vhost, Names: f.bases, DeliveryLimit: 7})
	var policies []struct {
		Name       string
		Pattern    string
		ApplyTo    string `json:"apply-to"`
		Priority   int
		Definition map[string]any
	}
	mgmtGet(t, "/api/policies/"+url.PathEscape(f.vhost), &policies)
	byName := map[string]int{}
	for i, p := range policies {
		byName[p.Name] = i
	}
	if len(policies) != len(doc.Policies) {
		t.Errorf("%d policies; want %d", len(policies), len(doc.Policies))
	}
	for _, want := range doc.Policies {
		i, ok := byName[want.Name]
		if !ok {
			t.Errorf("policy %s missing", want.Name)
			continue
		}
		got := policies[i]
		if got.Pattern != want.Pattern || got.ApplyTo != want.ApplyTo || got.Priority != want.Priority || !jsonEqual(got.Definition, want.Definition) {
			t.Errorf("policy %s = %+v; want %+v", want.Name, got, want)
		}
	}
	var inbound struct{ Definition map[string]any }
	if i, ok := byName["hookline-inbound"]; ok {
		inbound.Definition = policies[i].Definition
	}
	if inbound.Definition["delivery-limit"] != float64(7) {
		t.Errorf("hookline-inbound delivery-limit %v; want the configured 7", inbound.Definition["delivery-limit"])
	}

	var queues []struct {
		Name      string
		Type      string
		Policy    string
		Arguments map[string]any
	}
	mgmtGet(t, "/api/queues/"+url.PathEscape(f.vhost), &queues)
	if len(queues) != len(doc.Queues) {
		t.Errorf("%d queues; want %d", len(queues), len(doc.Queues))
	}
	for _, q := range queues {
		if q.Type != "quorum" || q.Arguments["x-queue-type"] != "quorum" {
			t.Errorf("queue %s type %q arguments %v; want a quorum queue", q.Name, q.Type, q.Arguments)
		}
	}
	for _, x := range doc.Exchanges {
		var got struct{ Type string }
		if code := mgmtGet(t, "/api/exchanges/"+url.PathEscape(f.vhost)+"/"+url.PathEscape(x.Name), &got); code != 200 || got.Type != x.Type {
			t.Errorf("exchange %s: %d type %q; want %q", x.Name, code, got.Type, x.Type)
		}
	}
	var bindings []struct {
		Source, Destination string
		RoutingKey          string `json:"routing_key"`
	}
	mgmtGet(t, "/api/bindings/"+url.PathEscape(f.vhost), &bindings)
	for _, want := range doc.Bindings {
		found := false
		for _, b := range bindings {
			found = found || (b.Source == want.Source && b.Destination == want.Destination && b.RoutingKey == want.RoutingKey)
		}
		if !found {
			t.Errorf("binding %s -> %s (%q) missing", want.Source, want.Destination, want.RoutingKey)
		}
	}
	if code := mgmtGet(t, "/api/users/guest", nil); code != 200 {
		t.Errorf("guest is gone from the shared local broker (status %d): DeleteGuest=false must keep it", code)
	}

	calls := f.stubs.calls(t)
	for _, c := range calls {
		for _, pw := range f.passwords {
			if strings.Contains(c, pw) {
				t.Errorf("a password reached a command line: %s", c)
			}
		}
		if name := strings.Fields(c)[0]; name == "dnf" || name == "systemctl" || name == "curl" {
			t.Errorf("the configuration half ran %q; installing is the other half's job", c)
		}
	}
	if !containsPrefix(calls, "rabbitmqctl import_definitions") {
		t.Errorf("no import_definitions among the calls:\n%s", strings.Join(calls, "\n"))
	}
}

func containsPrefix(lines []string, prefix string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

// Item 7's reconcile: a password changed in Secrets Manager reaches the
// broker when the step runs again; the new password works, the old one is
// refused, and the other users (the role's other credential included) keep
// theirs.
func TestReconcileRotatesAPassword(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.configure(t)
	a, b := login{topology.Receiver, topology.A}, login{topology.Receiver, topology.B}
	old := f.passwords[a]
	if err := f.dial(a, old); err != nil {
		t.Fatalf("before rotation: %v", err)
	}
	f.setPassword(t, a, testenv.Name(t)+"-pw2")
	f.configure(t)
	if err := f.dial(a, f.passwords[a]); err != nil {
		t.Errorf("the new password is refused after reconcile: %v", err)
	}
	if err := f.dial(a, old); err == nil {
		t.Error("the old password still works after reconcile")
	}
	for _, other := range []login{b, {topology.Processor, topology.A}} {
		if err := f.dial(other, f.passwords[other]); err != nil {
			t.Errorf("%s lost its password in %s's rotation: %v", other, a, err)
		}
	}
}
