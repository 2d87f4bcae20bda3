package testenv

import (
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"sort"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/hookline/hookline/internal/topology"
)

// TestGuestHasNoGrant: as in production, where the bootstrap deletes guest,
// guest cannot open a test's vhost; its admin user can.
func TestGuestHasNoGrant(t *testing.T) {
	t.Parallel()
	vhost := RabbitMQ(t)
	if c, err := amqp.Dial("amqp://guest:guest@" + amqpHost + "/" + url.PathEscape(vhost)); err == nil {
		c.Close()
		t.Fatal("guest opened the test's vhost")
	}
	c, err := amqp.Dial(AMQPURL("", vhost))
	if err != nil {
		t.Fatalf("the test's admin user: %v", err)
	}
	c.Close()
}

// TestBothCredentialsPerRole: every role has its a and b users in the
// vhost, as production creates them: the b user is the a user's name with
// "-b", same tags, same grant, its own password (a's is refused for b), and
// the vhost has no other grant.
func TestBothCredentialsPerRole(t *testing.T) {
	t.Parallel()
	vhost := RabbitMQ(t)
	for _, u := range topology.Users() {
		name := u.Credential.Login(UserName(t, vhost, u.Role))
		var user struct{ Tags []string }
		mgmtGet(t, "/api/users/"+url.PathEscape(name), &user)
		want := append([]string{}, u.Tags...)
		sort.Strings(user.Tags)
		if !reflect.DeepEqual(append([]string{}, user.Tags...), want) {
			t.Errorf("%s tags %v; want %v", name, user.Tags, want)
		}
		var perm struct{ Configure, Write, Read string }
		mgmtGet(t, "/api/permissions/"+url.PathEscape(vhost)+"/"+url.PathEscape(name), &perm)
		if perm.Configure != u.Grant.Configure || perm.Write != u.Grant.Write || perm.Read != u.Grant.Read {
			t.Errorf("%s grant %+v; want %+v", name, perm, u.Grant)
		}
		c, err := amqp.Dial(AMQPURLAsCredential("", vhost, u.Role, u.Credential))
		if err != nil {
			t.Errorf("%s (%s %s) cannot connect: %v", name, u.Role, u.Credential, err)
			continue
		}
		c.Close()
	}
	var perms []struct{ User string }
	mgmtGet(t, "/api/vhosts/"+url.PathEscape(vhost)+"/permissions", &perms)
	if len(perms) != len(topology.Users()) {
		t.Errorf("%d grants in %s (%v); want one per user (%d)", len(perms), vhost, perms, len(topology.Users()))
	}
	_, aPassword := Credentials(t, vhost, topology.Receiver)
	b := url.UserPassword(topology.B.Login(UserName(t, vhost, topology.Receiver)), aPassword)
	if c, err := amqp.Dial((&url.URL{Scheme: "amqp", User: b, Host: amqpHost, Path: "/" + vhost}).String()); err == nil {
		c.Close()
		t.Error("the receiver's b user accepts the a user's password")
	}
}

func mgmtGet(t *testing.T, path string, into any) {
	t.Helper()
	resp, err := http.Get(mgmtURL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}
