// Package dlq lets an operator inspect and re-inject dead letters
// (`processor dlq list`, `processor dlq replay`).
package dlq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/hookline/hookline/internal/brokertls"
	"github.com/hookline/hookline/internal/confirm"
	"github.com/hookline/hookline/internal/envelope"
	"github.com/hookline/hookline/internal/topology"
)

// Message is one dead letter as `dlq list` prints it (one JSON object a line).
type Message struct {
	ID         string `json:"id"`
	Source     string `json:"source,omitempty"`
	EventType  string `json:"event_type,omitempty"`
	RoutingKey string `json:"routing_key"`
	ReceivedAt string `json:"received_at,omitempty"`
	Attempt    int64  `json:"attempt,omitempty"`
	Reason     string `json:"reason"`
	BodyBytes  int    `json:"body_bytes"`
}

func describe(d amqp.Delivery) Message {
	m := Message{ID: d.MessageId, RoutingKey: d.RoutingKey, BodyBytes: len(d.Body)}
	m.Source, _ = d.Headers[envelope.HeaderSource].(string)
	m.EventType, _ = d.Headers[envelope.HeaderEventType].(string)
	m.ReceivedAt, _ = d.Headers[envelope.HeaderReceivedAt].(string)
	m.Attempt = int64(envelope.HeaderInt(d.Headers, envelope.HeaderAttempt))
	m.Reason, _ = d.Headers[envelope.HeaderDeadReason].(string)
	if m.Reason == "" { // dead-lettered by the broker (delivery limit)
		if r, ok := d.Headers["x-first-death-reason"].(string); ok {
			m.Reason = "broker: " + r
		}
	}
	return m
}

// session opens a channel with the topology in place and returns the dead
// queue's depth.
func session(url string) (*amqp.Connection, *amqp.Channel, int, error) {
	conn, err := amqp.DialConfig(url, amqp.Config{Heartbeat: 10 * time.Second, TLSClientConfig: brokertls.Client(), Properties: amqp.Table{"connection_name": "hookline-processor-dlq"}})
	if err != nil {
		return nil, nil, 0, err
	}
	err = topology.Check(conn, []string{topology.Exchange}, []string{topology.DeadQueue})
	var ch *amqp.Channel
	if err == nil {
		ch, err = conn.Channel()
	}
	var q amqp.Queue
	if err == nil {
		q, err = ch.QueueDeclarePassive(topology.DeadQueue, true, false, false, false, nil)
	}
	if err != nil {
		_ = conn.Close()
		return nil, nil, 0, err
	}
	return conn, ch, q.Messages, nil
}

// walk gets up to the queue's depth of dead letters (unacked, so none is
// lost if we die), calls f on each, and finally returns the ones f did not
// take with basic.nack requeue (which RabbitMQ 4.3+ does not count toward a
// delivery limit; closing the channel would).
func walk(ctx context.Context, url string, f func(d amqp.Delivery) (taken bool, err error)) error {
	conn, ch, n, err := session(url)
	if err != nil {
		return err
	}
	defer conn.Close()
	var last uint64
	var held bool
	defer func() {
		if held {
			_ = ch.Nack(last, true, true)
		}
	}()
	for range n {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		d, ok, err := ch.Get(topology.DeadQueue, false)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		taken, err := f(d)
		if err != nil {
			_ = d.Nack(false, true)
			return err
		}
		if taken {
			if err := d.Ack(false); err != nil {
				return err
			}
		} else {
			last, held = d.DeliveryTag, true
		}
	}
	return nil
}

// List writes each dead letter as a JSON line to w and returns how many.
func List(ctx context.Context, url string, w io.Writer) (int, error) {
	enc := json.NewEncoder(w)
	n := 0
	err := walk(ctx, url, func(d amqp.Delivery) (bool, error) {
		n++
		return false, enc.Encode(describe(d))
	})
	return n, err
}

// ErrNoMatch means replay found nothing to replay.
var ErrNoMatch = errors.New("no dead letter matched")

// Replay re-publishes dead letters (all, or those whose message id is id) to
// the webhooks exchange with their original routing key and a fresh attempt
// count, each confirmed by the broker before its dead copy is acked. It
// returns how many it replayed.
func Replay(ctx context.Context, url string, all bool, id string) (int, error) {
	if !all && id == "" {
		return 0, errors.New("dlq replay: give --all or --id ID")
	}
	conn, err := amqp.DialConfig(url, amqp.Config{Heartbeat: 10 * time.Second, TLSClientConfig: brokertls.Client(), Properties: amqp.Table{"connection_name": "hookline-processor-dlq-replay"}})
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return 0, err
	}
	pub, err := confirm.New(ch, 1)
	if err != nil {
		return 0, err
	}
	n := 0
	err = walk(ctx, url, func(d amqp.Delivery) (bool, error) {
		if !all && d.MessageId != id {
			return false, nil
		}
		key := d.RoutingKey
		if src, _ := d.Headers[envelope.HeaderSource].(string); src != "" {
			et, _ := d.Headers[envelope.HeaderEventType].(string)
			key = src + "." + envelope.CleanEventType(et)
		}
		// A fresh start: no reason, no attempts, no parking history.
		p := envelope.Republish(d, envelope.HeaderDeadReason, envelope.HeaderAttempt, envelope.HeaderParked)
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		// Mandatory: a replay nothing routes (no binding for its key) is
		// not confirmed, and its dead copy stays.
		if err := pub.Publish(cctx, topology.Exchange, key, p); err != nil {
			return false, fmt.Errorf("replay %s: not confirmed by the broker: %w", d.MessageId, err)
		}
		n++
		return true, nil
	})
	if err == nil && n == 0 {
		err = ErrNoMatch
	}
	return n, err
}
