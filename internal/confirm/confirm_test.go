package confirm_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/hookline/hookline/internal/confirm"
	"github.com/hookline/hookline/internal/testenv"
	"github.com/hookline/hookline/internal/topology"
)

func channel(t *testing.T, vhost string) *confirm.Channel {
	t.Helper()
	conn, err := amqp.Dial(testenv.AMQPURLAs("", vhost, topology.Processor))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	require.NoError(t, err)
	c, err := confirm.New(ch, 64)
	require.NoError(t, err)
	return c
}

// TestRoutedAndReturned: with the retry queue's binding deleted, a publish
// to it is returned and reported as such; routed ones succeed, also when
// both kinds are in flight at once.
func TestRoutedAndReturned(t *testing.T) {
	t.Parallel()
	vhost := testenv.RabbitMQ(t)
	c := channel(t, vhost)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, c.Publish(ctx, topology.RetryExchange, topology.Retry5s.Queue(), amqp.Publishing{MessageId: "a"}))

	admin, err := amqp.Dial(testenv.AMQPURL("", vhost))
	require.NoError(t, err)
	defer admin.Close()
	ach, err := admin.Channel()
	require.NoError(t, err)
	require.NoError(t, ach.QueueUnbind(topology.Retry5s.Queue(), topology.Retry5s.Queue(), topology.RetryExchange, nil))

	var wg sync.WaitGroup
	errs := make([]error, 40)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tier := topology.Retry5s
			if i%2 == 0 {
				tier = topology.Retry30s
			}
			errs[i] = c.Publish(ctx, topology.RetryExchange, tier.Queue(), amqp.Publishing{MessageId: fmt.Sprint(i)})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if i%2 == 0 {
			require.NoError(t, err, i)
		} else {
			require.ErrorIs(t, err, confirm.ErrReturned, i)
		}
	}
}
