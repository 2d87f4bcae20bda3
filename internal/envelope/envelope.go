// Package envelope is the message format between receiver and processor: the
// raw request body plus the headers of DESIGN.md.
package envelope

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"
)

// Header names.
const (
	HeaderSource     = "x-source"
	HeaderEventType  = "x-event-type"
	HeaderReceivedAt = "x-received-at"
	HeaderRequestID  = "x-request-id"
	// HeaderAttempt counts processing attempts that ended in a retry; set by
	// the processor when it parks a message in a retry queue.
	HeaderAttempt = "x-attempt"
	// HeaderDeadReason says why the processor dead-lettered a message.
	HeaderDeadReason = "x-dead-reason"
	// HeaderParked counts how often the processor parked a message for an
	// outage or lock contention (not an attempt: it never leads to the DLQ).
	HeaderParked = "x-parked"
)

// UnknownEventType is used when the scheme gives no event type.
const UnknownEventType = "unknown"

// MaxEventType keeps <source>.<event type> well inside AMQP's 255-byte
// routing key.
const MaxEventType = 128

// Envelope is one accepted webhook.
type Envelope struct {
	ID          string // provider delivery id or a UUIDv7
	Source      string
	EventType   string
	ReceivedAt  time.Time
	RequestID   string
	ContentType string
	Body        []byte
	Attempt     int // retries so far (processor-owned)
}

// New builds an envelope for a freshly received webhook, filling in what the
// provider did not give: a UUIDv7 id and the "unknown" event type.
func New(source, id, eventType, requestID, contentType string, body []byte, now time.Time) Envelope {
	if id == "" {
		id = uuid.Must(uuid.NewV7()).String()
	}
	return Envelope{
		ID: id, Source: source, EventType: CleanEventType(eventType),
		ReceivedAt: now.UTC(), RequestID: requestID, ContentType: contentType, Body: body,
	}
}

// CleanEventType makes an untrusted event type safe as a routing-key segment
// and header: printable ASCII letters, digits and ._:- only, at most 128 bytes;
// empty becomes "unknown".
func CleanEventType(s string) string {
	if s == "" {
		return UnknownEventType
	}
	if len(s) > MaxEventType {
		s = s[:MaxEventType]
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == ':', r == '-':
			return r
		}
		return '_'
	}, s)
}

// RoutingKey is <source>.<event type>.
func (e Envelope) RoutingKey() string { return e.Source + "." + e.EventType }

// Publishing renders the envelope as a persistent AMQP message.
func (e Envelope) Publishing() amqp.Publishing {
	h := amqp.Table{
		HeaderSource:     e.Source,
		HeaderEventType:  e.EventType,
		HeaderReceivedAt: e.ReceivedAt.UTC().Format(time.RFC3339Nano),
		HeaderRequestID:  e.RequestID,
	}
	if e.Attempt > 0 {
		h[HeaderAttempt] = int64(e.Attempt)
	}
	return amqp.Publishing{
		Headers:      h,
		ContentType:  e.ContentType,
		DeliveryMode: amqp.Persistent,
		MessageId:    e.ID,
		Timestamp:    e.ReceivedAt.UTC().Truncate(time.Second),
		Body:         e.Body,
	}
}

// ErrInvalid marks a message that can never be processed (a missing or
// malformed header): it belongs in the dead-letter queue, not in a retry.
var ErrInvalid = errors.New("invalid envelope")

// FromDelivery reads an envelope back from a delivery, checking every header
// the contract requires.
func FromDelivery(d amqp.Delivery) (Envelope, error) {
	e := Envelope{ID: d.MessageId, ContentType: d.ContentType, Body: d.Body}
	if e.ID == "" {
		return e, fmt.Errorf("%w: no message_id", ErrInvalid)
	}
	var err error
	str := func(name string) string {
		v, ok := d.Headers[name].(string)
		if (!ok || v == "") && err == nil {
			err = fmt.Errorf("%w: header %s missing or not a string", ErrInvalid, name)
		}
		return v
	}
	e.Source = str(HeaderSource)
	e.EventType = str(HeaderEventType)
	received := str(HeaderReceivedAt)
	if err != nil {
		return e, err
	}
	e.RequestID, _ = d.Headers[HeaderRequestID].(string)
	if e.ReceivedAt, err = time.Parse(time.RFC3339Nano, received); err != nil {
		return e, fmt.Errorf("%w: header %s: %v", ErrInvalid, HeaderReceivedAt, err)
	}
	switch n := d.Headers[HeaderAttempt].(type) {
	case nil:
	case int64:
		e.Attempt = int(n)
	case int32:
		e.Attempt = int(n)
	default:
		return e, fmt.Errorf("%w: header %s is %T, want an integer", ErrInvalid, HeaderAttempt, n)
	}
	return e, nil
}

// HeaderInt reads an integer header leniently: 0 when absent or not an
// integer (AMQP tables carry integers as int32 or int64).
func HeaderInt(h amqp.Table, name string) int {
	switch n := h[name].(type) {
	case int64:
		return int(n)
	case int32:
		return int(n)
	case int:
		return n
	}
	return 0
}

// brokerHeaders are what RabbitMQ adds on redelivery and dead-lettering; a
// message published again must not carry them.
var brokerHeaders = []string{
	"x-delivery-count", "x-death",
	"x-first-death-exchange", "x-first-death-queue", "x-first-death-reason",
	"x-last-death-exchange", "x-last-death-queue", "x-last-death-reason",
}

// Republish turns a delivery back into a persistent message, byte for byte,
// without the broker's redelivery and death headers and without drop.
func Republish(d amqp.Delivery, drop ...string) amqp.Publishing {
	h := make(amqp.Table, len(d.Headers)+2)
	for k, v := range d.Headers {
		h[k] = v
	}
	for _, k := range brokerHeaders {
		delete(h, k)
	}
	for _, k := range drop {
		delete(h, k)
	}
	return amqp.Publishing{
		Headers: h, ContentType: d.ContentType, ContentEncoding: d.ContentEncoding,
		DeliveryMode: amqp.Persistent, MessageId: d.MessageId, Timestamp: d.Timestamp,
		CorrelationId: d.CorrelationId, Type: d.Type, AppId: d.AppId, Body: d.Body,
	}
}
