// Package canary is the contract between the end-to-end canary (the
// scheduled Lambda in lambda/canary, which posts a signed webhook to the
// public hostname every few minutes) and the processor, which recognises
// the canary's deliveries by their source and records when they arrived:
// the canary source's name, its scheme and the body it sends.
//
// The body is a Standard Webhooks payload (type, timestamp, data). Its
// timestamp is when the canary signed the request, to the nanosecond; the
// body is signed content, so the processor's end-to-end latency reads a
// signed time (the webhook-timestamp header says the same in whole seconds).
package canary

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hookline/hookline/internal/webhooksig"
)

// Source is the canary's source in the sources document, so its path is
// /webhooks/hookline-canary. The infra adds it to the stack's document;
// a document that defines it itself is refused (one owner).
const Source = "hookline-canary"

// Scheme is how the canary signs: Standard Webhooks, whose signature covers
// the id (a fresh one each run), the timestamp and the body.
const Scheme = webhooksig.Standard

// EventType is the canary body's type, so its routing key is
// hookline-canary.canary.ping.
const EventType = "canary.ping"

// Ping is the canary's body.
type Ping struct {
	Type      string    `json:"type"`      // EventType
	Timestamp time.Time `json:"timestamp"` // when the canary signed it (RFC 3339, nanoseconds, UTC)
	Data      PingData  `json:"data"`
}

// PingData says which canary run sent it.
type PingData struct {
	Stack string `json:"stack"` // the stack the canary watches (HOOKLINE_STACK)
	Run   string `json:"run"`   // the run's id, also the webhook-id
}

// Body is the body of run id of the canary of stack, signed at sent.
func Body(stack, id string, sent time.Time) []byte {
	b, _ := json.Marshal(Ping{Type: EventType, Timestamp: sent.UTC(), Data: PingData{Stack: stack, Run: id}})
	return b // a struct of strings and a time: Marshal cannot fail
}

// ErrNotPing: a body of the canary source that is not a canary ping (a
// sender that learnt the canary's secret, or a canary of another version).
var ErrNotPing = errors.New("canary: not a canary ping")

// SentAt is when the canary signed body.
func SentAt(body []byte) (time.Time, error) {
	var p Ping
	if err := json.Unmarshal(body, &p); err != nil {
		return time.Time{}, fmt.Errorf("%w: %w", ErrNotPing, err)
	}
	if p.Type != EventType || p.Timestamp.IsZero() {
		return time.Time{}, fmt.Errorf("%w: type %q, timestamp %v", ErrNotPing, p.Type, p.Timestamp)
	}
	return p.Timestamp, nil
}
