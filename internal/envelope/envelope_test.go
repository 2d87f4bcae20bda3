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
