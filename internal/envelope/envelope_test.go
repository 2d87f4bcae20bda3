package envelope_test

import (
	"context"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/hookline/hookline/internal/envelope"
	"github.com/hookline/hookline/internal/webhooksig"
)

func TestRoundTrip(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 123456789, time.FixedZone("x", 3600))
	e := envelope.New("github", webhooksig.Delivery{ID: "d-1", IDSigned: true, EventType: "push"}, "req-1", "application/json", []byte(`{"a":1}`), now)
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

// TestNewFillsIDAndType: a delivery no verifier made (no signed id, no MAC)
// has nothing to derive an id from.
func TestNewFillsIDAndType(t *testing.T) {
	e := envelope.New("s", webhooksig.Delivery{}, "", "", nil, time.Now())
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
	good := envelope.New("s", webhooksig.Delivery{ID: "id", IDSigned: true, EventType: "t"}, "r", "", nil, time.Now()).Publishing()
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

func TestEventIDBoundsProviderIDs(t *testing.T) {
	long := strings.Repeat("i", 300)
	cases := []struct {
		name, id string
		hashed   bool
	}{
		{"short id as sent", "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", false},
		{"255 bytes as sent", strings.Repeat("a", 255), false},
		{"256 bytes hashed", strings.Repeat("a", 256), true},
		{"300 bytes hashed", long, true},
		{"multi-byte UTF-8 within 255 bytes as sent", strings.Repeat("é", 127), false},
		{"multi-byte UTF-8 over 255 bytes hashed", strings.Repeat("é", 128), true},
		{"invalid UTF-8 hashed", "evt_\xff\xfe", true},
		{"control character hashed", "evt\x01", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := webhooksig.Delivery{ID: c.id, IDSigned: true}
			id := envelope.EventID("src", d)
			require.Equal(t, id, envelope.EventID("src", d), "deterministic: a redelivery dedupes")
			require.LessOrEqual(t, len(id), envelope.MaxShortString)
			if !c.hashed {
				require.Equal(t, c.id, id)
				return
			}
			require.Regexp(t, `^sha256:[0-9a-f]{64}$`, id)
			require.NotEqual(t, id, envelope.EventID("other", d), "the source is part of the digest")
			e := envelope.New("src", d, "r", "", nil, time.Now())
			require.Equal(t, id, e.ID)
			require.Equal(t, c.id, e.Publishing().Headers[envelope.HeaderProviderID], "original kept as a long string")
		})
	}
	require.NotEqual(t, envelope.EventID("s", webhooksig.Delivery{ID: long, IDSigned: true}), envelope.EventID("s", webhooksig.Delivery{ID: long + "x", IDSigned: true}))
	e := envelope.New("src", webhooksig.Delivery{ID: "short", IDSigned: true}, "r", "", nil, time.Now())
	require.NotContains(t, e.Publishing().Headers, envelope.HeaderProviderID, "no copy when the message id is the provider's id")
}

func TestCleanContentType(t *testing.T) {
	params := "application/json; charset=utf-8; x=" + strings.Repeat("p", 300)
	for in, want := range map[string]string{
		"":                                "",
		"application/json":                "application/json",
		"application/json; charset=utf-8": "application/json; charset=utf-8",
		params:                            "application/json",
		strings.Repeat("t", 300):          "",
		"text/plain; charset=\xff":        "text/plain",
		"\xff/x":                          "",
	} {
		got := envelope.CleanContentType(in)
		require.Equal(t, want, got, "%.40q", in)
		require.LessOrEqual(t, len(got), envelope.MaxShortString)
	}
}

func TestCheckPublishing(t *testing.T) {
	long := strings.Repeat("k", 256)
	ok := envelope.New("s", webhooksig.Delivery{ID: strings.Repeat("i", 300), IDSigned: true}, "r", strings.Repeat("c", 300), nil, time.Now())
	require.NoError(t, envelope.CheckPublishing("webhooks", ok.RoutingKey(), ok.Publishing()), "New bounds every short string")
	require.NoError(t, envelope.CheckPublishing("webhooks", strings.Repeat("k", 255), amqp.Publishing{Headers: amqp.Table{"h": long}}), "255 bytes and long header values are fine")
	for name, c := range map[string]struct {
		exchange, key string
		p             amqp.Publishing
	}{
		"exchange":          {exchange: long},
		"routing key":       {key: long},
		"message_id":        {p: amqp.Publishing{MessageId: long}},
		"content_type":      {p: amqp.Publishing{ContentType: long}},
		"type":              {p: amqp.Publishing{Type: long}},
		"app_id":            {p: amqp.Publishing{AppId: long}},
		"header name":       {p: amqp.Publishing{Headers: amqp.Table{long: "v"}}},
		"nested table name": {p: amqp.Publishing{Headers: amqp.Table{"x": amqp.Table{long: int64(1)}}}},
		"table in array":    {p: amqp.Publishing{Headers: amqp.Table{"x": []any{"a", amqp.Table{long: "v"}}}}},
	} {
		err := envelope.CheckPublishing(c.exchange, c.key, c.p)
		require.ErrorIs(t, err, envelope.ErrUnencodable, name)
	}
}

// TestFromDeliveryKeepsTheCause: an unparsable x-received-at is ErrInvalid
// (the processor dead-letters on it) and still carries the parse error for
// whoever logs or inspects it.
func TestFromDeliveryKeepsTheCause(t *testing.T) {
	p := envelope.New("github", webhooksig.Delivery{ID: "d-1", IDSigned: true, EventType: "push"}, "req-1", "", []byte(`{}`), time.Now()).Publishing()
	p.Headers[envelope.HeaderReceivedAt] = "yesterday"
	_, err := envelope.FromDelivery(amqp.Delivery{MessageId: p.MessageId, Headers: p.Headers, Body: p.Body})
	require.ErrorIs(t, err, envelope.ErrInvalid)
	var perr *time.ParseError
	require.ErrorAs(t, err, &perr)
	require.Equal(t, "yesterday", perr.Value)
}

// TestEventIDFromWhatIsSigned: for schemes that sign no id, the event id is
// derived from the source and the verified MAC, so the same signed GitHub
// body sent with three different (unsigned) delivery ids, or none, is one
// event; the delivery id is kept for tracing.
func TestEventIDFromWhatIsSigned(t *testing.T) {
	const secret = "gh-secret"
	v, err := webhooksig.New(webhooksig.GitHub, []string{secret}, 0)
	require.NoError(t, err)
	body := []byte(`{"action":"opened","number":7}`)
	verify := func(delivery string, body []byte) webhooksig.Delivery {
		h, err := webhooksig.Sign(webhooksig.GitHub, secret, delivery, time.Now(), body)
		require.NoError(t, err)
		d, err := v.Verify(context.Background(), &webhooksig.Request{Method: "POST", Header: h, Body: body}, time.Now())
		require.NoError(t, err)
		require.False(t, d.IDSigned)
		return d
	}
	first := envelope.EventID("gh", verify("d-1", body))
	require.Regexp(t, `^mac:[0-9a-f]{64}$`, first)
	for _, delivery := range []string{"d-2", "d-3", "", strings.Repeat("d", 300)} {
		d := verify(delivery, body)
		require.Equal(t, first, envelope.EventID("gh", d), "delivery %.10q", delivery)
		e := envelope.New("gh", d, "r", "", body, time.Now())
		require.Equal(t, first, e.ID)
		if delivery == "" {
			require.NotContains(t, e.Publishing().Headers, envelope.HeaderProviderID)
		} else {
			require.Equal(t, delivery, e.Publishing().Headers[envelope.HeaderProviderID], "delivery id kept for tracing")
		}
	}
	require.NotEqual(t, first, envelope.EventID("gh", verify("d-1", []byte(`{"action":"closed","number":7}`))), "other content, other event")
	require.NotEqual(t, first, envelope.EventID("gh2", verify("d-1", body)), "the source is part of the digest")
	d := verify("d-1", body)
	require.NotContains(t, first, hex.EncodeToString(d.MAC[:]), "the MAC itself is not exposed")

	// hmac-sha256 has no id at all, and a stripe body without one: the same rule.
	hv, err := webhooksig.New(webhooksig.HMACSHA256, []string{"k"}, 0)
	require.NoError(t, err)
	h, err := webhooksig.Sign(webhooksig.HMACSHA256, "k", "", time.Now(), body)
	require.NoError(t, err)
	hd, err := hv.Verify(context.Background(), &webhooksig.Request{Method: "POST", Header: h, Body: body}, time.Now())
	require.NoError(t, err)
	require.Regexp(t, `^mac:[0-9a-f]{64}$`, envelope.EventID("plain", hd))
	require.Equal(t, envelope.EventID("plain", hd), envelope.EventID("plain", hd))

	// A signed id wins over the MAC: standard's webhook-id.
	sd := webhooksig.Delivery{ID: "msg_1", IDSigned: true, MAC: d.MAC}
	require.Equal(t, "msg_1", envelope.EventID("std", sd))
}
