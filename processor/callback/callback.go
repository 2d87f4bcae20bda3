// Package callback tells a sender's system that its webhook was processed:
// after commit, a JSON result POSTed to the source's callback_url and signed
// with Standard Webhooks v1, so the processor is itself a well-behaved webhook
// sender (webhook-id stable across retries, webhook-timestamp, signature,
// per-request timeout, retries with exponential backoff, 410 Gone stops).
//
// Callbacks are best effort: they are queued in memory after the event is
// committed and acked, so a crash can lose pending ones (see
// docs/decisions.md).
package callback

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/hookline/hookline/internal/webhooksig"
	"github.com/hookline/hookline/processor/metrics"
)

// Job is one callback to send.
type Job struct {
	URL         string
	Secret      string // the source's callback_secret (Standard Webhooks, whsec_…)
	Source      string
	EventID     string
	EventType   string
	EntityKey   string
	ReceivedAt  time.Time
	ProcessedAt time.Time
}

// Payload is the JSON body, in Standard Webhooks' {type, timestamp, data} shape.
type Payload struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      Data      `json:"data"`
}

// Data describes the processed event.
type Data struct {
	Source      string    `json:"source"`
	EventID     string    `json:"event_id"`
	EventType   string    `json:"event_type"`
	EntityKey   string    `json:"entity_key,omitempty"`
	Status      string    `json:"status"`
	ReceivedAt  time.Time `json:"received_at"`
	ProcessedAt time.Time `json:"processed_at"`
}

// Options tune a Sender.
type Options struct {
	Timeout  time.Duration // per request
	Attempts int           // total tries per callback
	Backoff  time.Duration // first retry delay, doubled each time (default 1s)
	Workers  int           // concurrent senders (default 4)
	Queue    int           // pending callbacks kept (default 10000); more are dropped and counted
	Client   *http.Client
	Metrics  *metrics.Metrics
	Log      *slog.Logger
}

// Sender delivers callbacks from a bounded queue.
type Sender struct {
	o Options
	q chan Job
}

// New returns a Sender; Run starts it.
func New(o Options) *Sender {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Attempts <= 0 {
		o.Attempts = 5
	}
	if o.Backoff <= 0 {
		o.Backoff = time.Second
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.Queue <= 0 {
		o.Queue = 10000
	}
	if o.Client == nil {
		o.Client = &http.Client{}
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return &Sender{o: o, q: make(chan Job, o.Queue)}
}

// Enqueue queues j without blocking; a full queue drops it (counted, logged).
func (s *Sender) Enqueue(j Job) {
	select {
	case s.q <- j:
	default:
		s.count("dropped")
		s.o.Log.Warn("callback queue full, dropped", "source", j.Source, "message_id", j.EventID)
	}
}

func (s *Sender) count(result string) {
	if s.o.Metrics != nil {
		s.o.Metrics.Callback(result)
	}
}

// Run sends until ctx ends, then returns once its workers have stopped (a
// callback in its backoff is abandoned at that point).
func (s *Sender) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for range s.o.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case j := <-s.q:
					s.deliver(ctx, j)
				}
			}
		}()
	}
	wg.Wait()
}

// MessageID is the callback's webhook-id: stable for an event, so a receiver
// deduplicates our retries (and a redelivered event's second callback).
func MessageID(source, eventID string) string {
	h := sha256.Sum256([]byte(source + "\x00" + eventID))
	return "msg_" + hex.EncodeToString(h[:16])
}

// Request builds the signed request for j at time now.
func Request(ctx context.Context, j Job, now time.Time) (*http.Request, error) {
	body, err := json.Marshal(Payload{Type: "webhook.processed", Timestamp: now.UTC(), Data: Data{
		Source: j.Source, EventID: j.EventID, EventType: j.EventType, EntityKey: j.EntityKey,
		Status: "processed", ReceivedAt: j.ReceivedAt.UTC(), ProcessedAt: j.ProcessedAt.UTC(),
	}})
	if err != nil {
		return nil, err
	}
	h, err := webhooksig.Sign(webhooksig.Standard, j.Secret, MessageID(j.Source, j.EventID), now, body)
	if err != nil {
		return nil, fmt.Errorf("sign callback: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, j.URL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "hookline-processor")
	return req, nil
}

func (s *Sender) deliver(ctx context.Context, j Job) {
	log := s.o.Log.With("source", j.Source, "message_id", j.EventID, "url", j.URL)
	delay := s.o.Backoff
	for attempt := 1; ; attempt++ {
		status, err := s.try(ctx, j)
		switch {
		case err == nil && status/100 == 2:
			s.count("ok")
			return
		case status == http.StatusGone:
			s.count("gone")
			log.Info("callback endpoint gone (410), not retrying")
			return
		}
		if attempt >= s.o.Attempts {
			s.count("failed")
			log.Warn("callback failed, giving up", "attempts", attempt, "status", status, "err", err)
			return
		}
		log.Debug("callback failed, retrying", "attempt", attempt, "status", status, "err", err, "in", delay)
		select {
		case <-ctx.Done():
			s.count("failed")
			return
		case <-time.After(delay):
		}
		delay = min(delay*2, 5*time.Minute)
	}
}

func (s *Sender) try(ctx context.Context, j Job) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	req, err := Request(ctx, j, time.Now())
	if err != nil {
		return 0, err
	}
	resp, err := s.o.Client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode, nil
}
