package topology

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/hookline/hookline/internal/confirm"
)

// migrating is the suffix of the holding queue a migration moves a queue's
// messages into while it re-creates the queue.
const migrating = ".migrating"

// queueBindings are the bindings the definitions give each queue.
func queueBindings(queue string) [][2]string { // (exchange, key)
	switch queue {
	case Queue:
		return [][2]string{{Exchange, "#"}}
	case DeadQueue:
		return [][2]string{{DeadLetters, ""}}
	}
	return [][2]string{{RetryExchange, queue}}
}

// Queues lists every queue of the topology.
func Queues() []string {
	q := []string{Queue, DeadQueue}
	for _, r := range RetryTiers {
		q = append(q, r.Queue())
	}
	return q
}

// Migrate re-creates, one at a time, each queue in names that carries
// x-arguments beyond its type (declared by a version before tunables moved
// into policies), so that its policy governs it: quorum-queue arguments
// cannot change in place, and for delivery-limit RabbitMQ applies the
// smaller of argument and policy. Messages are kept: they wait in a holding
// queue bound like the original while it is re-created, then move back,
// each copy confirmed before its original is acked. Queues already
// policy-only are left alone, so running it again changes nothing.
//
// Run it as the admin user after the definitions are applied, with the
// processors stopped: a queue with consumers is refused (deleting it would
// drop what they hold unacked), with an error that says so. Receivers may
// keep publishing throughout (a message arriving in the switch-over may be
// copied twice; dedupe absorbs it).
func Migrate(ctx context.Context, conn *amqp.Connection, names []string, log *slog.Logger) error {
	for _, q := range names {
		args, err := queueArgs(conn, q)
		if err != nil {
			return fmt.Errorf("migrate %s: %w", q, err)
		}
		if len(args) == 0 {
			log.Info("queue already governed by its policy", "queue", q)
			continue
		}
		log.Info("migrating queue to policy-only arguments", "queue", q, "arguments", args)
		if err := migrate(ctx, conn, q); err != nil {
			return fmt.Errorf("migrate %s: %w", q, err)
		}
	}
	return nil
}

// queueArgs reports the x-arguments q was declared with, beyond its type.
// AMQP does not return a queue's arguments, so it compares: a passive
// declare accepts any, an active one with just the type succeeds only if
// there are no others (406 otherwise).
func queueArgs(conn *amqp.Connection, q string) (amqp.Table, error) {
	ch, err := conn.Channel()
	if err != nil {
		return nil, err
	}
	defer ch.Close()
	if _, err := ch.QueueDeclare(q, true, false, false, false, amqp.Table{"x-queue-type": "quorum"}); err != nil {
		var ae *amqp.Error
		if errors.As(err, &ae) && ae.Code == amqp.PreconditionFailed {
			return amqp.Table{"inequivalent": ae.Reason}, nil
		}
		return nil, fmt.Errorf("check %s: %w", q, err)
	}
	return nil, nil
}

func migrate(ctx context.Context, conn *amqp.Connection, q string) error {
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	defer ch.Close()
	hold := q + migrating
	if _, err := ch.QueueDeclare(hold, true /* durable */, false /* autoDelete */, false /* exclusive */, false /* noWait */, amqp.Table{"x-queue-type": "quorum"}); err != nil {
		return err
	}
	// 1. New messages go to the holding queue; the original stops
	// receiving.
	for _, b := range queueBindings(q) {
		if err := ch.QueueBind(hold, b[1], b[0], false /* noWait */, nil); err != nil {
			return err
		}
		if err := ch.QueueUnbind(q, b[1], b[0], nil); err != nil {
			return err
		}
	}
	// 2. Whatever the original holds moves to the holding queue.
	if err := move(ctx, conn, q, hold); err != nil {
		return err
	}
	// 3. Re-create the original without arguments, so its policy governs
	// it. Quorum queues refuse delete's if-unused and if-empty flags (540,
	// closing the connection), so check first: deleting a queue whose
	// consumers hold deliveries would drop those.
	if err := deletable(ch, q); err != nil {
		return err
	}
	if _, err := ch.QueueDelete(q, false /* ifUnused */, false /* ifEmpty */, false /* noWait */); err != nil {
		return err
	}
	if ch, err = conn.Channel(); err != nil {
		return err
	}
	defer ch.Close()
	if _, err := ch.QueueDeclare(q, true, false, false, false, amqp.Table{"x-queue-type": "quorum"}); err != nil {
		return err
	}
	for _, b := range queueBindings(q) {
		if err := ch.QueueBind(q, b[1], b[0], false, nil); err != nil {
			return err
		}
		if err := ch.QueueUnbind(hold, b[1], b[0], nil); err != nil {
			return err
		}
	}
	// 4. Back from the holding queue, which is then removed.
	if err := move(ctx, conn, hold, q); err != nil {
		return err
	}
	if err := deletable(ch, hold); err != nil {
		return err
	}
	_, err = ch.QueueDelete(hold, false, false, false)
	return err
}

// deletable refuses a queue that has consumers or messages.
func deletable(ch *amqp.Channel, q string) error {
	st, err := ch.QueueDeclarePassive(q, true, false, false, false, nil)
	if err != nil {
		return err
	}
	if st.Consumers > 0 {
		return fmt.Errorf("%s has %d consumer(s): stop the processors first (scale the service to 0), then run the migration again", q, st.Consumers)
	}
	if st.Messages > 0 {
		return fmt.Errorf("%s still holds %d message(s) (a publisher that bypasses its bindings?); run the migration again", q, st.Messages)
	}
	return nil
}

// move drains from into to through the default exchange (the admin's
// grant), each copy confirmed and routed before its original is acked.
func move(ctx context.Context, conn *amqp.Connection, from, to string) error {
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	defer ch.Close()
	pub, err := conn.Channel()
	if err != nil {
		return err
	}
	defer pub.Close()
	cp, err := confirm.New(pub, 1)
	if err != nil {
		return err
	}
	for {
		d, ok, err := ch.Get(from, false /* autoAck */)
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		p := amqp.Publishing{
			Headers: d.Headers, ContentType: d.ContentType, ContentEncoding: d.ContentEncoding,
			DeliveryMode: amqp.Persistent, MessageId: d.MessageId, Timestamp: d.Timestamp,
			CorrelationId: d.CorrelationId, Type: d.Type, AppId: d.AppId, Body: d.Body,
		}
		pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err = cp.Publish(pctx, "", to, p)
		cancel()
		if err != nil {
			_ = d.Nack(false, true /* requeue */)
			return fmt.Errorf("move %s to %s: %w", from, to, err)
		}
		if err := d.Ack(false); err != nil {
			return err
		}
	}
}
