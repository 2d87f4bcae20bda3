package envelope_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/hookline/hookline/internal/envelope"
)

func TestRoundTrip(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 123456789, time.FixedZone("x", 3600))
	e := envelope.New("github", "d-1", "push", "req-1", "application/json", []byte(`{"a":1}`), now)
	e.Attempt = 2
	p := e.Publishing()
	require.Equal(t, amqp.Persistent, p.DeliveryMode)
	require.Equal(t, "github.push", e.RoutingKey())
	require.Equal(t, "2026-11-22T09:00:00.123456789Z", p.Headers[envelope.HeaderReceivedAt])

	got, err := envelope.FromDelivery(amqp.Delivery{MessageId: p.MessageId, Headers: p.Headers, Body: p.Body, ContentType: p.ContentType})
	require.NoError(t, err)
	require.Equal(t, e.Body, got.Body)
	require.Equal(t, "d-1", got.ID)
	require.Equal(t, 2, got.Attempt)
	require.True(t, got.ReceivedAt.Equal(now))
}

func TestNewFillsIDAndType(t *testing.T) {
	e := envelope.New("s", "", "", "", "", nil, time.Now())
	id, err := uuid.Parse(e.ID)
	require.NoError(t, err)
	require.Equal(t, uuid.Version(7), id.Version())
	require.Equal(t, "unknown", e.EventType)
}

func TestCleanEventType(t *testing.T) {
	require.Equal(t, "invoice.paid", envelope.CleanEventType("invoice.paid"))
	require.Equal(t, "a_b_c", envelope.CleanEventType("a b#c"))
	require.Len(t, envelope.CleanEventType(strings.Repeat("x", 500)), 128)
}

func TestFromDeliveryRejects(t *testing.T) {
	good := envelope.New("s", "id", "t", "r", "", nil, time.Now()).Publishing()
	cases := map[string]func(d *amqp.Delivery){
		"no id":         func(d *amqp.Delivery) { d.MessageId = "" },
		"no source":     func(d *amqp.Delivery) { delete(d.Headers, envelope.HeaderSource) },
		"no event type": func(d *amqp.Delivery) { d.Headers[envelope.HeaderEventType] = "" },
		"bad time":      func(d *amqp.Delivery) { d.Headers[envelope.HeaderReceivedAt] = "yesterday" },
		"time not str":  func(d *amqp.Delivery) { d.Headers[envelope.HeaderReceivedAt] = int64(5) },
		"bad attempt":   func(d *amqp.Delivery) { d.Headers[envelope.HeaderAttempt] = "two" },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			h := amqp.Table{}
			for k, v := range good.Headers {
				h[k] = v
			}
			d := amqp.Delivery{MessageId: good.MessageId, Headers: h}
			mutate(&d)
			_, err := envelope.FromDelivery(d)
			require.True(t, errors.Is(err, envelope.ErrInvalid), "%v", err)
		})
	}
}

func TestRepublishDropsBrokerAndNamedHeaders(t *testing.T) {
	d := amqp.Delivery{
		MessageId: "m", ContentType: "application/json", Body: []byte("body"), CorrelationId: "c",
		Headers: amqp.Table{
			envelope.HeaderSource: "s", envelope.HeaderAttempt: int32(3), envelope.HeaderDeadReason: "why",
			"x-delivery-count": int64(2), "x-death": []any{}, "x-first-death-reason": "rejected", "x-last-death-queue": "q",
		},
	}
	p := envelope.Republish(d, envelope.HeaderDeadReason)
	require.Equal(t, amqp.Table{envelope.HeaderSource: "s", envelope.HeaderAttempt: int32(3)}, p.Headers)
	require.Equal(t, amqp.Persistent, p.DeliveryMode)
	require.Equal(t, []byte("body"), p.Body)
	require.Equal(t, "m", p.MessageId)
	require.Equal(t, "c", p.CorrelationId)
	require.Len(t, d.Headers, 7, "the delivery's own headers are left alone")
}

func TestHeaderInt(t *testing.T) {
	h := amqp.Table{"a": int32(4), "b": int64(5), "c": "6"}
	require.Equal(t, 4, envelope.HeaderInt(h, "a"))
	require.Equal(t, 5, envelope.HeaderInt(h, "b"))
	require.Equal(t, 0, envelope.HeaderInt(h, "c"))
	require.Equal(t, 0, envelope.HeaderInt(h, "missing"))
}
