package topology_test

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/hookline/hookline/internal/testenv"
	"github.com/hookline/hookline/internal/topology"
)

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// declareV1 declares the topology exactly as the previous version did
// (tunables as queue x-arguments, retry queues reached via the default
// exchange), with the given delivery limit.
func declareV1(t *testing.T, vhost string, deliveryLimit int) {
	t.Helper()
	ch := channel(t, testenv.AMQPURL("", vhost))
	require.NoError(t, ch.ExchangeDeclare(topology.Exchange, amqp.ExchangeTopic, true, false, false, false, nil))
	require.NoError(t, ch.ExchangeDeclare(topology.DeadLetters, amqp.ExchangeFanout, true, false, false, false, nil))
	_, err := ch.QueueDeclare(topology.Queue, true, false, false, false, amqp.Table{
		"x-queue-type": "quorum", "x-delivery-limit": int64(deliveryLimit), "x-dead-letter-exchange": topology.DeadLetters,
		"x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish",
	})
	require.NoError(t, err)
	_, err = ch.QueueDeclare(topology.DeadQueue, true, false, false, false, amqp.Table{"x-queue-type": "quorum", "x-delivery-limit": int64(1_000_000)})
	require.NoError(t, err)
	for _, d := range []time.Duration{time.Second, 5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute} {
		_, err = ch.QueueDeclare("webhooks.retry."+strconv.Itoa(int(d/time.Second)), true, false, false, false, amqp.Table{
			"x-queue-type": "quorum", "x-message-ttl": d.Milliseconds(), "x-dead-letter-exchange": topology.Exchange,
			"x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish",
		})
		require.NoError(t, err)
	}
	require.NoError(t, ch.QueueBind(topology.Queue, "#", topology.Exchange, false, nil))
	require.NoError(t, ch.QueueBind(topology.DeadQueue, "", topology.DeadLetters, false, nil))
}

// TestDefinitionsOverV1 applies the definitions to a broker the previous
// version set up: the import succeeds, and every publish path works under
// the production grants.
func TestDefinitionsOverV1(t *testing.T) {
	t.Parallel()
	vhost := testenv.RabbitMQ(t, testenv.WithoutTopology())
	declareV1(t, vhost, 7)
	testenv.ApplyDefinitions(t, topology.Spec{Vhost: vhost})
	proc := channel(t, testenv.AMQPURLAs("", vhost, topology.Processor))
	require.NoError(t, confirmed(t, proc, topology.RetryExchange, topology.Retry1s.Queue(), "retry"))
	require.Equal(t, []string{"retry"}, get(t, proc, topology.Queue, 1))
}

func depth(t *testing.T, vhost, queue string) int {
	t.Helper()
	ch := channel(t, testenv.AMQPURL("", vhost))
	q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
	require.NoError(t, err)
	return q.Messages
}

// TestMigrateV1Queues: queues declared by the previous version are
// re-created policy-only with every message kept; a second run changes
// nothing; a queue with a consumer is refused and keeps its messages.
func TestMigrateV1Queues(t *testing.T) {
	t.Parallel()
	vhost := testenv.RabbitMQ(t, testenv.WithoutTopology())
	declareV1(t, vhost, 7)
	testenv.ApplyDefinitions(t, topology.Spec{Vhost: vhost})
	guest := channel(t, testenv.AMQPURL("", vhost))
	for i := range 3 {
		require.NoError(t, confirmed(t, guest, topology.Exchange, "s.t", "in"+strconv.Itoa(i)))
	}
	require.NoError(t, confirmed(t, guest, "", topology.Retry10m.Queue(), "parked"))
	require.NoError(t, confirmed(t, guest, topology.DeadLetters, "s.t", "dead"))

	admin, err := amqp.Dial(testenv.AMQPURLAs("", vhost, topology.Admin))
	require.NoError(t, err)
	defer admin.Close()

	// A consumer on the inbound queue: refused, nothing lost.
	cons := channel(t, testenv.AMQPURLAs("", vhost, topology.Processor))
	require.NoError(t, cons.Qos(1, 0, false))
	_, err = cons.Consume(topology.Queue, "busy", false, false, false, false, nil)
	require.NoError(t, err)
	err = topology.Migrate(context.Background(), admin, []string{topology.Queue}, quietLog)
	require.ErrorContains(t, err, "stop the processors first")
	require.NoError(t, cons.Cancel("busy", false))
	require.NoError(t, cons.Close()) // returns its one unacked delivery
	// The refused run left the messages in the holding queue, bound; a
	// second run finishes the job.
	require.NoError(t, topology.Migrate(context.Background(), admin, topology.Queues(), quietLog))

	for _, q := range topology.Queues() {
		require.Equal(t, map[string]any{"x-queue-type": "quorum"}, queueState(t, vhost, q).Arguments, q)
	}
	require.EqualValues(t, topology.DeliveryLimit, queueState(t, vhost, topology.Queue).Effective["delivery-limit"])
	require.Equal(t, 3, depth(t, vhost, topology.Queue))
	require.Equal(t, 1, depth(t, vhost, topology.Retry10m.Queue()))
	require.Equal(t, 1, depth(t, vhost, topology.DeadQueue))
	_, err = guest.QueueDeclarePassive(topology.Queue+".migrating", true, false, false, false, nil)
	require.Error(t, err, "the holding queue is gone")

	// Idempotent, and the paths still route.
	require.NoError(t, topology.Migrate(context.Background(), admin, topology.Queues(), quietLog))
	recv := channel(t, testenv.AMQPURLAs("", vhost, topology.Receiver))
	require.NoError(t, confirmed(t, recv, topology.Exchange, "s.t", "after"))
	require.Equal(t, 4, depth(t, vhost, topology.Queue))
}
