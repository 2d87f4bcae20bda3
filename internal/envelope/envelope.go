// Package envelope is the message format between receiver and processor: the
// raw request body plus the headers of DESIGN.md.
package envelope

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/hookline/hookline/internal/webhooksig"
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
	// HeaderProviderID is the provider's own id for the delivery, as sent
	// (a long string: any length the request's headers allow), whenever it
	// differs from the message id: an over-long id, or an unsigned one the
	// message id is not taken from (X-GitHub-Delivery). For tracing only:
	// it is never a dedupe key.
	HeaderProviderID = "x-provider-id"
)

// UnknownEventType is used when the scheme gives no event type.
const UnknownEventType = "unknown"

// MaxEventType keeps <source>.<event type> well inside AMQP's 255-byte
// routing key.
const MaxEventType = 128

// Envelope is one accepted webhook.
type Envelope struct {
	ID          string // the event id (EventID): the message id and the dedupe key
	ProviderID  string // the provider's id as sent when it is not ID; "" otherwise
	Source      string
	EventType   string
	ReceivedAt  time.Time
	RequestID   string
	ContentType string
	Body        []byte
	Attempt     int // retries so far (processor-owned)
}

// New builds the envelope of a verified webhook. Every field that becomes an
// AMQP short string is bounded here: the id by EventID, the event type by
// CleanEventType, the content type by CleanContentType (the source name is
// at most 63 bytes by the sources document's rules).
func New(source string, d webhooksig.Delivery, requestID, contentType string, body []byte, now time.Time) Envelope {
	e := Envelope{
		ID: EventID(source, d), Source: source, EventType: CleanEventType(d.EventType),
		ReceivedAt: now.UTC(), RequestID: requestID, ContentType: CleanContentType(contentType), Body: body,
	}
	if d.ID != e.ID {
		e.ProviderID = d.ID
	}
	return e
}

// MaxShortString is AMQP 0-9-1's limit for a short string (message_id,
// content_type, type, header names, routing keys), in bytes.
const MaxShortString = 255

// Prefixes of the event ids EventID derives: from a signed provider id that
// does not fit a short string, and from the verified MAC.
const (
	hashedIDPrefix = "sha256:"
	macIDPrefix    = "mac:"
)

// EventID is the one function that makes an event id (DESIGN.md, "message"):
// the message_id and the processor's dedupe key, stored as
// webhook_events.event_id. It is deterministic, so a provider's redelivery
// of the same event gets the same id, and it is taken only from what the
// signature covers, so a replay cannot make a new event by changing an
// unsigned header:
//
//   - a signed provider id (standard's webhook-id, stripe's body id) as sent
//     when it is a clean short string (at most 255 bytes of valid UTF-8
//     without control characters): what the column and every log line can
//     carry unchanged;
//   - "sha256:" + hex(SHA-256(source, 0x00, id)) for a signed id that is not
//     (71 bytes; the id as sent goes to the x-provider-id header);
//   - "mac:" + hex(SHA-256(source, 0x00, MAC)) when no signed id exists
//     (github, whose X-GitHub-Delivery is unsigned; hmac-sha256; a stripe
//     body without an id): the same signed content gives the same id, whatever
//     delivery header comes with it (68 bytes; the MAC itself is not exposed);
//   - a UUIDv7 for a delivery that names neither (no verifier made it), as
//     there is nothing signed to derive an id from.
func EventID(source string, d webhooksig.Delivery) string {
	switch {
	case d.IDSigned && d.ID != "":
		if cleanShort(d.ID) {
			return d.ID
		}
		return hashedIDPrefix + digest(source, []byte(d.ID))
	case d.MAC != [32]byte{}:
		return macIDPrefix + digest(source, d.MAC[:])
	}
	return uuid.Must(uuid.NewV7()).String()
}

// digest is hex(SHA-256(source, 0x00, v)): source names never hold a NUL,
// so no two (source, v) pairs share an input.
func digest(source string, v []byte) string {
	h := sha256.New()
	h.Write([]byte(source))
	h.Write([]byte{0})
	h.Write(v)
	return hex.EncodeToString(h.Sum(nil))
}

// cleanShort reports whether s fits a short string and can be stored and
// logged as is: at most 255 bytes, valid UTF-8, no control characters.
func cleanShort(s string) bool {
	if len(s) > MaxShortString || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	return true
}

// CleanContentType bounds the sender's (unsigned) Content-Type, which is
// informational only (the body is kept byte for byte): a value of at most
// 255 printable ASCII bytes is kept as sent; otherwise its media type alone
// (before any ';') if that is a clean short string, else nothing.
func CleanContentType(s string) string {
	if len(s) <= MaxShortString && printableASCII(s) {
		return s
	}
	mt, _, _ := strings.Cut(s, ";")
	mt = strings.TrimSpace(mt)
	if len(mt) <= MaxShortString && printableASCII(mt) {
		return mt
	}
	return ""
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
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
	if e.ProviderID != "" {
		h[HeaderProviderID] = e.ProviderID
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
	e.ProviderID, _ = d.Headers[HeaderProviderID].(string)
	if e.ReceivedAt, err = time.Parse(time.RFC3339Nano, received); err != nil {
		return e, fmt.Errorf("%w: header %s: %w", ErrInvalid, HeaderReceivedAt, err)
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

// ErrUnencodable marks a message AMQP 0-9-1 cannot carry. It is a defect of
// whoever built the message, never the broker's state: retrying cannot help.
var ErrUnencodable = errors.New("message not encodable in AMQP 0-9-1")

// CheckPublishing reports the first short string of a publish that exceeds
// 255 bytes: the exchange, the routing key, the properties and header names
// at any depth. amqp091-go finds one only while writing the frame and then
// shuts the whole connection down, failing every publish in flight on it;
// checking first fails this publish alone. (Header values are long strings
// and their types are checked by amqp091-go before it writes anything.)
func CheckPublishing(exchange, key string, p amqp.Publishing) error {
	for _, f := range [...]struct{ name, v string }{
		{"exchange", exchange}, {"routing key", key},
		{"content_type", p.ContentType}, {"content_encoding", p.ContentEncoding},
		{"correlation_id", p.CorrelationId}, {"reply_to", p.ReplyTo},
		{"expiration", p.Expiration}, {"message_id", p.MessageId},
		{"type", p.Type}, {"user_id", p.UserId}, {"app_id", p.AppId},
	} {
		if len(f.v) > MaxShortString {
			return fmt.Errorf("%w: %s is %d bytes, over %d", ErrUnencodable, f.name, len(f.v), MaxShortString)
		}
	}
	return checkTable("header", p.Headers)
}

func checkTable(where string, t amqp.Table) error {
	for k, v := range t {
		if len(k) > MaxShortString {
			return fmt.Errorf("%w: %s name of %d bytes (%.32q...), over %d", ErrUnencodable, where, len(k), k, MaxShortString)
		}
		if err := checkField(where+" "+k, v); err != nil {
			return err
		}
	}
	return nil
}

func checkField(where string, v any) error {
	switch v := v.(type) {
	case amqp.Table:
		return checkTable(where, v)
	case []any:
		for _, x := range v {
			if err := checkField(where, x); err != nil {
				return err
			}
		}
	}
	return nil
}
