package topology_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/hookline/hookline/internal/testenv"
	"github.com/hookline/hookline/internal/topology"
)

func dial(t *testing.T, url string) *amqp.Connection {
	t.Helper()
	conn, err := amqp.Dial(url)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn
}

func channel(t *testing.T, url string) *amqp.Channel {
	t.Helper()
	ch, err := dial(t, url).Channel()
	require.NoError(t, err)
	return ch
}

// confirmed publishes with mandatory and a confirm, and reports what the
// broker said: nil, a return (unroutable) or the channel error.
func confirmed(t *testing.T, ch *amqp.Channel, exchange, key string, body string) error {
	t.Helper()
	require.NoError(t, ch.Confirm(false))
	returns := ch.NotifyReturn(make(chan amqp.Return, 1))
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	dc, err := ch.PublishWithDeferredConfirm(exchange, key, true /* mandatory */, false /* immediate */, amqp.Publishing{Body: []byte(body)})
	if err != nil {
		return err
	}
	select {
	case <-dc.Done():
	case e := <-closed:
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no confirm within 10 s")
	}
	select {
	case r := <-returns:
		return errors.New("returned: " + r.ReplyText)
	default:
	}
	if !dc.Acked() {
		// A channel closed by an access refusal nacks what was pending.
		select {
		case e := <-closed:
			return e
		case <-time.After(time.Second):
		}
		return errors.New("nacked")
	}
	return nil
}

func get(t *testing.T, ch *amqp.Channel, queue string, want int) []string {
	t.Helper()
	var got []string
	require.Eventually(t, func() bool {
		d, ok, err := ch.Get(queue, true)
		require.NoError(t, err)
		if ok {
			got = append(got, string(d.Body))
		}
		return len(got) >= want
	}, 15*time.Second, 20*time.Millisecond, "waiting for %d messages in %s", want, queue)
	return got
}

// TestPublishPathsUnderProductionGrants sends every copy hookline publishes
// as the user production gives that path: accept (receiver), retry and park
// (processor, through the retry exchange), dead letter and DLQ replay
// (processor), and reads them where they must arrive.
func TestPublishPathsUnderProductionGrants(t *testing.T) {
	t.Parallel()
	vhost := testenv.RabbitMQ(t)
	recv := channel(t, testenv.AMQPURLAs("", vhost, topology.Receiver))
	proc := channel(t, testenv.AMQPURLAs("", vhost, topology.Processor))
	consume := channel(t, testenv.AMQPURLAs("", vhost, topology.Processor))

	require.NoError(t, confirmed(t, recv, topology.Exchange, "github.push", "accept"))
	require.Equal(t, []string{"accept"}, get(t, consume, topology.Queue, 1))

	require.NoError(t, confirmed(t, proc, topology.RetryExchange, topology.Retry1s.Queue(), "retry"))
	require.Equal(t, []string{"retry"}, get(t, consume, topology.Queue, 1), "a retry comes back to the inbound queue after its TTL")

	require.NoError(t, confirmed(t, proc, topology.DeadLetters, "github.push", "dead"))
	require.Equal(t, []string{"dead"}, get(t, consume, topology.DeadQueue, 1))

	require.NoError(t, confirmed(t, proc, topology.Exchange, "github.push", "replay"))
	require.Equal(t, []string{"replay"}, get(t, consume, topology.Queue, 1))
}

// TestGrantsRefuse proves the grants are least privilege: what a role must
// not do is refused by the broker (403 ACCESS_REFUSED).
func TestGrantsRefuse(t *testing.T) {
	t.Parallel()
	vhost := testenv.RabbitMQ(t)
	refused := func(t *testing.T, err error) {
		t.Helper()
		var ae *amqp.Error
		require.ErrorAs(t, err, &ae)
		require.Equal(t, amqp.AccessRefused, ae.Code, ae.Error())
	}
	as := func(r topology.Role, c topology.Credential) *amqp.Channel {
		return channel(t, testenv.AMQPURLAsCredential("", vhost, r, c))
	}
	cases := []struct {
		name string
		role topology.Role
		do   func(ch *amqp.Channel) error
	}{
		{"receiver publishes to the default exchange", topology.Receiver, func(ch *amqp.Channel) error {
			return confirmed(t, ch, "", topology.Queue, "x")
		}},
		{"receiver publishes to the retry exchange", topology.Receiver, func(ch *amqp.Channel) error {
			return confirmed(t, ch, topology.RetryExchange, topology.Retry1s.Queue(), "x")
		}},
		{"receiver consumes", topology.Receiver, func(ch *amqp.Channel) error {
			_, err := ch.Consume(topology.Queue, "", false, false, false, false, nil)
			return err
		}},
		{"receiver declares a queue", topology.Receiver, func(ch *amqp.Channel) error {
			_, err := ch.QueueDeclare("webhooks.mine", true, false, false, false, nil)
			return err
		}},
		{"processor publishes to the default exchange", topology.Processor, func(ch *amqp.Channel) error {
			return confirmed(t, ch, "", topology.Retry1s.Queue(), "x")
		}},
		{"processor declares a queue", topology.Processor, func(ch *amqp.Channel) error {
			_, err := ch.QueueDeclare("webhooks.mine", true, false, false, false, nil)
			return err
		}},
		{"processor deletes the inbound queue", topology.Processor, func(ch *amqp.Channel) error {
			_, err := ch.QueueDelete(topology.Queue, false, false, false)
			return err
		}},
		{"processor binds a queue to the exchange", topology.Processor, func(ch *amqp.Channel) error {
			return ch.QueueBind(topology.DeadQueue, "#", topology.Exchange, false, nil)
		}},
		{"processor reads a retry queue", topology.Processor, func(ch *amqp.Channel) error {
			_, _, err := ch.Get(topology.Retry1s.Queue(), false)
			return err
		}},
		{"collector publishes", topology.Collector, func(ch *amqp.Channel) error {
			return confirmed(t, ch, topology.Exchange, "a.b", "x")
		}},
		{"collector reads", topology.Collector, func(ch *amqp.Channel) error {
			_, _, err := ch.Get(topology.Queue, false)
			return err
		}},
	}
	for _, c := range cases {
		for _, cred := range topology.Credentials { // both users of a role are refused alike
			t.Run(c.name+" as "+string(cred), func(t *testing.T) { refused(t, c.do(as(c.role, cred))) })
		}
	}
}

// TestCheck passes as every client role on an applied vhost (passive
// declares need no configure grant) and names what is missing on a vhost
// whose definitions were never applied.
func TestCheck(t *testing.T) {
	t.Parallel()
	vhost := testenv.RabbitMQ(t)
	for _, r := range []topology.Role{topology.Receiver, topology.Processor} {
		conn := dial(t, testenv.AMQPURLAs("", vhost, r))
		require.NoError(t, topology.Check(conn, []string{topology.Exchange, topology.RetryExchange, topology.DeadLetters}, []string{topology.Queue, topology.DeadQueue}), r)
	}
	bare := testenv.RabbitMQ(t, testenv.WithoutTopology())
	conn := dial(t, testenv.AMQPURLAs("", bare, topology.Processor))
	err := topology.Check(conn, []string{topology.Exchange}, nil)
	require.ErrorContains(t, err, "exchange webhooks")
	require.ErrorContains(t, err, "NOT_FOUND")
	// The connection survives a failed check: it ran on its own channel.
	_, err = conn.Channel()
	require.NoError(t, err)
}

func TestDeliveryLimitDeadLetters(t *testing.T) {
	t.Parallel()
	const limit = 3
	vhost := testenv.RabbitMQ(t, testenv.WithDeliveryLimit(limit))
	pub := channel(t, testenv.AMQPURLAs("", vhost, topology.Receiver))
	ch := channel(t, testenv.AMQPURLAs("", vhost, topology.Processor))
	require.NoError(t, confirmed(t, pub, topology.Exchange, "x.y", "poison"))
	for i := 0; i <= limit; i++ {
		var d amqp.Delivery
		require.Eventually(t, func() bool {
			var ok bool
			var err error
			d, ok, err = ch.Get(topology.Queue, false)
			require.NoError(t, err)
			return ok
		}, 5*time.Second, 10*time.Millisecond)
		require.NoError(t, d.Reject(true))
	}
	require.Equal(t, []string{"poison"}, get(t, ch, topology.DeadQueue, 1))
}

func TestBackoffTiers(t *testing.T) {
	require.Equal(t, "webhooks.retry.1", topology.Backoff(0).Queue())
	require.Equal(t, "webhooks.retry.1", topology.Backoff(1).Queue())
	require.Equal(t, "webhooks.retry.5", topology.Backoff(2).Queue())
	require.Equal(t, "webhooks.retry.600", topology.Backoff(99).Queue())
	require.Equal(t, topology.Retry30s, topology.Backoff(3))
}

type queueInfo struct {
	Arguments map[string]any `json:"arguments"`
	Policy    string         `json:"policy"`
	Effective map[string]any `json:"effective_policy_definition"`
}

func queueState(t *testing.T, vhost, queue string) queueInfo {
	t.Helper()
	var q queueInfo
	require.Eventually(t, func() bool {
		resp, err := http.Get(testenv.MgmtURL(t, vhost) + "/api/queues/" + url.PathEscape(vhost) + "/" + url.PathEscape(queue))
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, queue)
		q = queueInfo{}
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&q))
		return q.Policy != "" // policies apply asynchronously
	}, 10*time.Second, 50*time.Millisecond, "no policy on %s", queue)
	return q
}

// TestTunablesLiveInPolicies reads the applied state back from the
// management API: every queue is quorum with no other argument, and its
// tunables come from hookline's policy, so changing one never makes a
// redeclare fail with 406.
func TestTunablesLiveInPolicies(t *testing.T) {
	t.Parallel()
	vhost := testenv.RabbitMQ(t)
	in := queueState(t, vhost, topology.Queue)
	require.Equal(t, map[string]any{"x-queue-type": "quorum"}, in.Arguments)
	require.Equal(t, "hookline-inbound", in.Policy)
	require.EqualValues(t, topology.DeliveryLimit, in.Effective["delivery-limit"])
	require.Equal(t, topology.DeadLetters, in.Effective["dead-letter-exchange"])
	require.Equal(t, "at-least-once", in.Effective["dead-letter-strategy"])
	require.Equal(t, "reject-publish", in.Effective["overflow"])

	dead := queueState(t, vhost, topology.DeadQueue)
	require.Equal(t, map[string]any{"x-queue-type": "quorum"}, dead.Arguments)
	require.EqualValues(t, 1_000_000, dead.Effective["delivery-limit"])

	for _, r := range topology.RetryTiers {
		q := queueState(t, vhost, r.Queue())
		require.Equal(t, map[string]any{"x-queue-type": "quorum"}, q.Arguments, r.Queue())
		require.EqualValues(t, r.Delay.Milliseconds(), q.Effective["message-ttl"], r.Queue())
		require.Equal(t, topology.Exchange, q.Effective["dead-letter-exchange"], r.Queue())
		require.Equal(t, "at-least-once", q.Effective["dead-letter-strategy"], r.Queue())
	}
}

// TestDefinitionsAreIdempotent applies the same document again, and one
// with another delivery limit: both succeed, and the limit changes in place.
func TestDefinitionsAreIdempotent(t *testing.T) {
	t.Parallel()
	vhost := testenv.RabbitMQ(t)
	testenv.ApplyDefinitions(t, topology.Spec{Vhost: vhost})
	testenv.ApplyDefinitions(t, topology.Spec{Vhost: vhost, DeliveryLimit: 7})
	require.Eventually(t, func() bool {
		return queueState(t, vhost, topology.Queue).Effective["delivery-limit"] == float64(7)
	}, 10*time.Second, 50*time.Millisecond)
}

func TestDefinitionsRefuseBadSpecs(t *testing.T) {
	_, err := topology.Definitions(topology.Spec{})
	require.ErrorContains(t, err, "vhost")
	_, err = topology.Definitions(topology.Spec{Vhost: "v", DeliveryLimit: -1})
	require.ErrorContains(t, err, "delivery limit")
}

// TestNoGrantOnTheDefaultExchange: only the admin may write amq.default.
func TestNoGrantOnTheDefaultExchange(t *testing.T) {
	for _, u := range topology.Users() {
		if u.Role == topology.Admin {
			continue
		}
		ok, err := regexpMatch(u.Grant.Write, "amq.default")
		require.NoError(t, err)
		require.False(t, ok, "%s may write amq.default", u.Role)
	}
}

func regexpMatch(pattern, s string) (bool, error) { return regexp.MatchString(pattern, s) }

// TestTwoCredentialsPerRole: every role has exactly an a and a b user,
// named hookline-<role> and hookline-<role>-b, with the same tags and
// grant, and the definitions grant both (with a test's base names too).
func TestTwoCredentialsPerRole(t *testing.T) {
	byRole := map[topology.Role][]topology.User{}
	for _, u := range topology.Users() {
		byRole[u.Role] = append(byRole[u.Role], u)
	}
	require.Len(t, byRole, 4)
	for r, us := range byRole {
		require.Len(t, us, 2, r)
		a, b := us[0], us[1]
		require.Equal(t, topology.A, a.Credential)
		require.Equal(t, topology.B, b.Credential)
		require.Equal(t, "hookline-"+string(r), a.Name)
		require.Equal(t, "hookline-"+string(r)+"-b", b.Name)
		require.Equal(t, a.Name, topology.UserName(r, topology.A))
		require.Equal(t, b.Name, topology.UserName(r, topology.B))
		require.Equal(t, a.Tags, b.Tags, r)
		require.Equal(t, a.Grant, b.Grant, r)
		require.Equal(t, b, topology.UserFor(r, topology.B))
	}
	require.Panics(t, func() { topology.UserFor(topology.Receiver, "c") })
	require.Panics(t, func() { topology.Credential("c").Login("x") })

	for _, names := range []map[topology.Role]string{nil, {topology.Receiver: "t_receiver"}} {
		doc, err := topology.Definitions(topology.Spec{Vhost: "v", Names: names})
		require.NoError(t, err)
		granted := map[string]topology.Permission{}
		for _, p := range doc.Permissions {
			granted[p.User] = p
		}
		require.Len(t, granted, len(topology.Users()))
		for _, u := range topology.Users() {
			name := u.Name
			if n := names[u.Role]; n != "" {
				name = u.Credential.Login(n)
			}
			p, ok := granted[name]
			require.True(t, ok, "no grant for %s", name)
			require.Equal(t, u.Grant, topology.Grant{Configure: p.Configure, Write: p.Write, Read: p.Read}, name)
		}
		if names != nil {
			require.Contains(t, granted, "t_receiver-b")
		}
	}
}
