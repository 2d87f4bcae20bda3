package topology_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/hookline/hookline/internal/testenv"
	"github.com/hookline/hookline/internal/topology"
)

func channel(t *testing.T, vhost string) *amqp.Channel {
	t.Helper()
	conn, err := amqp.Dial(testenv.AMQPURL("", vhost))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	require.NoError(t, err)
	return ch
}

func TestDeclareIsIdempotent(t *testing.T) {
	t.Parallel()
	vhost := testenv.RabbitMQ(t)
	for range 2 {
		require.NoError(t, topology.Declare(channel(t, vhost)))
	}
	// Passive declares prove the queues exist with the contract's names.
	ch := channel(t, vhost)
	for _, q := range []string{topology.Queue, topology.DeadQueue, "webhooks.retry.1", "webhooks.retry.600"} {
		_, err := ch.QueueDeclarePassive(q, true, false, false, false, nil)
		require.NoError(t, err, q)
	}
}

func TestRoutingAndRetryDeadLettersBack(t *testing.T) {
	t.Parallel()
	vhost := testenv.RabbitMQ(t)
	ch := channel(t, vhost)
	require.NoError(t, topology.Declare(ch))

	// Any routing key reaches the inbound queue.
	require.NoError(t, ch.Publish(topology.Exchange, "github.push", false, false, amqp.Publishing{Body: []byte("a")}))
	// A message parked in the 1 s retry queue comes back to the inbound queue.
	require.NoError(t, ch.Publish("", topology.RetryQueue(1), false, false, amqp.Publishing{Body: []byte("b")}))

	got := map[string]bool{}
	deadline := time.Now().Add(10 * time.Second)
	for len(got) < 2 && time.Now().Before(deadline) {
		d, ok, err := ch.Get(topology.Queue, true)
		require.NoError(t, err)
		if !ok {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		got[string(d.Body)] = true
	}
	require.Equal(t, map[string]bool{"a": true, "b": true}, got)
}

func TestDeliveryLimitDeadLetters(t *testing.T) {
	t.Parallel()
	vhost := testenv.RabbitMQ(t)
	ch := channel(t, vhost)
	require.NoError(t, topology.Declare(ch))
	require.NoError(t, ch.Publish(topology.Exchange, "x.y", false, false, amqp.Publishing{Body: []byte("poison")}))
	for i := 0; i <= topology.DeliveryLimit; i++ {
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
	require.Eventually(t, func() bool {
		d, ok, err := ch.Get(topology.DeadQueue, true)
		require.NoError(t, err)
		return ok && string(d.Body) == "poison"
	}, 10*time.Second, 50*time.Millisecond)
}

func TestRetryQueueTiers(t *testing.T) {
	require.Equal(t, "webhooks.retry.1", topology.RetryQueue(0))
	require.Equal(t, "webhooks.retry.1", topology.RetryQueue(1))
	require.Equal(t, "webhooks.retry.5", topology.RetryQueue(2))
	require.Equal(t, "webhooks.retry.600", topology.RetryQueue(99))
}

// TestQueueArguments reads the declared arguments back from the management
// API: every queue is quorum with at-least-once dead-lettering where it
// dead-letters, and both delivery limits are explicit (4.x defaults to 20,
// which would silently drop dead letters after a few inspections).
func TestQueueArguments(t *testing.T) {
	t.Parallel()
	vhost := testenv.RabbitMQ(t)
	require.NoError(t, topology.Declare(channel(t, vhost)))
	args := func(queue string) map[string]any {
		resp, err := http.Get(testenv.RabbitMQMgmt() + "/api/queues/" + url.PathEscape(vhost) + "/" + url.PathEscape(queue))
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, queue)
		var q struct {
			Arguments map[string]any `json:"arguments"`
		}
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&q))
		return q.Arguments
	}
	in := args(topology.Queue)
	require.Equal(t, "quorum", in["x-queue-type"])
	require.EqualValues(t, topology.DeliveryLimit, in["x-delivery-limit"])
	require.Equal(t, topology.DeadLetters, in["x-dead-letter-exchange"])
	require.Equal(t, "at-least-once", in["x-dead-letter-strategy"])
	require.Equal(t, "reject-publish", in["x-overflow"])

	dead := args(topology.DeadQueue)
	require.Equal(t, "quorum", dead["x-queue-type"])
	require.EqualValues(t, 1_000_000, dead["x-delivery-limit"])

	for _, d := range topology.RetryDelays {
		r := args(topology.RetryQueueFor(d))
		require.Equal(t, "quorum", r["x-queue-type"])
		require.EqualValues(t, d.Milliseconds(), r["x-message-ttl"])
		require.Equal(t, topology.Exchange, r["x-dead-letter-exchange"])
		require.Equal(t, "at-least-once", r["x-dead-letter-strategy"])
	}
}
