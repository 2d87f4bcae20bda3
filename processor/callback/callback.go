// Package callback tells a sender's system that its webhook was processed:
// a JSON result POSTed to the source's callback_url and signed with Standard
// Webhooks v1 (the source's callback_secret), so the processor is itself a
// well-behaved webhook sender: webhook-id stable across retries,
// webhook-timestamp, a per-request timeout, retries with exponential backoff
// up to a bound, 410 Gone stops.
//
// Callbacks are durable: the row that asks for one is written to the outbox
// (store, table webhook_callbacks) in the event's own transaction, and a
// Sender claims due rows, sends them and marks them done. A crash or SIGTERM
// between commit and send loses nothing: the row is still pending (or its
// claim lapses) and the next sender, here or in another task, picks it up.
//
// The client is safe to point at the internet: it never follows redirects and
// refuses, when it dials, every address that is not public unicast unless the
// source sets callback_allow_private; and each destination host has its own
// concurrency limit, so one slow endpoint cannot hold up the others.
package callback

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/hookline/hookline/internal/metricnames"
	"github.com/hookline/hookline/internal/sources"
	"github.com/hookline/hookline/internal/webhooksig"
	"github.com/hookline/hookline/processor/metrics"
	"github.com/hookline/hookline/processor/store"
)

// Job is one callback request: where it goes, how it is signed, what it says.
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
	Timeout    time.Duration // per request (default 10s)
	Attempts   int           // tries per callback (default 8); 410 Gone and a refused address stop early
	Backoff    time.Duration // delay after the first failed try (default 5s), four times longer after each next one
	MaxBackoff time.Duration // longest delay between tries (default 1h)
	PerHost    int           // concurrent requests per destination host (default 4)
	Workers    int           // concurrent requests in all (default 256): a safety net above hosts × PerHost
	Poll       time.Duration // how often the outbox is read when nothing wakes the sender (default 1s)
	Lease      time.Duration // how long a claimed row stays ours before another sender may take it (default 2×Timeout + 10s)
	Metrics    *metrics.Metrics
	Log        *slog.Logger
}

// Sources is where a Sender reads, when it sends, a source's callback_url,
// callback_secret and callback_allow_private (so a changed document applies
// to pending callbacks too).
type Sources interface {
	Lookup(name string) (*sources.Source, bool)
}

// Sender delivers the outbox's callbacks.
type Sender struct {
	o      Options
	st     *store.Store
	srcs   Sources
	wake   chan struct{}
	strict *http.Client // refuses non-public addresses
	open   *http.Client // for sources with callback_allow_private
}

// New returns a Sender for the outbox in st; Run starts it.
func New(st *store.Store, srcs Sources, o Options) *Sender {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Attempts <= 0 {
		o.Attempts = 8
	}
	if o.Backoff <= 0 {
		o.Backoff = 5 * time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = time.Hour
	}
	if o.PerHost <= 0 {
		o.PerHost = 4
	}
	if o.Workers <= 0 {
		o.Workers = 256
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.Lease <= 0 {
		o.Lease = 2*o.Timeout + 10*time.Second
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return &Sender{o: o, st: st, srcs: srcs, wake: make(chan struct{}, 1),
		strict: newClient(false, o.PerHost), open: newClient(true, o.PerHost)}
}

// Notify tells the sender new outbox rows were committed (it does not
// block; without it the sender finds them at its next poll).
func (s *Sender) Notify() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// gauges records the outbox's pending rows and this sender's requests.
func (s *Sender) gauges(pending, inFlight int) {
	if s.o.Metrics != nil {
		s.o.Metrics.CallbacksPending(pending)
		s.o.Metrics.CallbacksInFlight(inFlight)
	}
}

func (s *Sender) count(result string) {
	if s.o.Metrics != nil {
		s.o.Metrics.Callback(result)
	}
}

// Run sends until ctx ends, then returns once its requests have stopped: a
// request cut short by ctx gives its row back (due at once, no try counted),
// so the next sender sends it; the endpoint may then see it twice, with the
// same webhook-id.
func (s *Sender) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	done := make(chan string, s.o.Workers) // the host of each finished request
	inflight := map[string]int{}
	total := 0
	timer := time.NewTimer(0)
	defer timer.Stop()
	var lastPurge, lastErr time.Time
	for {
		if time.Since(lastPurge) > 10*time.Minute {
			lastPurge = time.Now()
			s.purge(ctx)
		}
		next, err := s.round(ctx, &wg, done, inflight, &total)
		if err != nil && ctx.Err() == nil && time.Since(lastErr) > time.Minute {
			lastErr = time.Now()
			s.o.Log.Warn("callback outbox unavailable, retrying", "err", err)
		}
		timer.Reset(next)
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case h := <-done:
			inflight[h]--
			total--
		case <-timer.C:
		}
		for more := true; more; { // settle every request that finished meanwhile
			select {
			case h := <-done:
				inflight[h]--
				total--
			default:
				more = false
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// round claims what is due for every host with free slots and starts its
// requests; it returns when to look again.
func (s *Sender) round(ctx context.Context, wg *sync.WaitGroup, done chan<- string, inflight map[string]int, total *int) (time.Duration, error) {
	pending, err := s.st.PendingCallbacks(ctx)
	if err != nil {
		return s.o.Poll, err
	}
	next := s.o.Poll
	byHost := map[string][]string{}
	var dropped []string
	rows := 0
	for _, p := range pending {
		rows += p.Rows
	}
	s.gauges(rows, *total)
	for src, p := range pending {
		if wait := p.Due; wait > 0 {
			next = min(next, wait)
			continue
		}
		so, ok := s.srcs.Lookup(src)
		if !ok || so.CallbackURL == "" {
			dropped = append(dropped, src)
			continue
		}
		h := hostOf(so.CallbackURL)
		byHost[h] = append(byHost[h], src)
	}
	if len(dropped) > 0 {
		s.drop(ctx, dropped)
	}
	for h, srcs := range byHost {
		free := min(s.o.PerHost-inflight[h], s.o.Workers-*total)
		if free <= 0 {
			continue
		}
		claim := newClaim()
		cs, err := s.st.ClaimCallbacks(ctx, claim, srcs, free, s.o.Lease)
		if err != nil {
			return s.o.Poll, err
		}
		for _, c := range cs {
			inflight[h]++
			*total++
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { done <- h }()
				s.send(ctx, c, claim)
			}()
		}
	}
	return next, nil
}

// drop finishes the pending rows of sources that no longer have a
// callback_url (or no longer exist).
func (s *Sender) drop(ctx context.Context, srcs []string) {
	claim := newClaim()
	cs, err := s.st.ClaimCallbacks(ctx, claim, srcs, 500, s.o.Lease)
	if err != nil {
		return
	}
	for _, c := range cs {
		if err := s.st.FinishCallback(ctx, c.ID, store.CallbackDropped, c.Attempts, "source has no callback_url"); err == nil {
			s.count(metricnames.CallbackDropped)
		}
	}
	if len(cs) > 0 {
		s.o.Log.Warn("callbacks dropped: their source has no callback_url any more", "sources", srcs, "n", len(cs))
	}
}

func (s *Sender) purge(ctx context.Context) {
	for ctx.Err() == nil {
		n, err := s.st.PurgeCallbacks(ctx, 24*time.Hour, 7*24*time.Hour, 1000)
		if err != nil || n < 1000 {
			return
		}
	}
}

// hostOf is the destination a concurrency limit applies to: the URL's host
// and port.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return strings.ToLower(u.Host)
}

func newClaim() []byte {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return b
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

// send makes one try of c and records what came of it.
func (s *Sender) send(ctx context.Context, c store.Callback, claim []byte) {
	// Outcomes are recorded even when ctx ends meanwhile.
	rec, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	log := s.o.Log.With("source", c.Source, "message_id", c.EventID)
	src, ok := s.srcs.Lookup(c.Source)
	if !ok || src.CallbackURL == "" {
		if err := s.st.FinishCallback(rec, c.ID, store.CallbackDropped, c.Attempts, "source has no callback_url"); err == nil {
			s.count(metricnames.CallbackDropped)
		}
		return
	}
	log = log.With("host", hostOf(src.CallbackURL))
	tries := c.Attempts + 1
	status, err := s.try(ctx, src, c)
	var rerr error
	switch {
	case ctx.Err() != nil:
		rerr = s.st.ReleaseCallbacks(rec, claim, []int64{c.ID})
	case err == nil && status/100 == 2:
		if rerr = s.st.FinishCallback(rec, c.ID, store.CallbackSent, tries, ""); rerr == nil {
			s.count(metricnames.CallbackOK)
		}
	case status == http.StatusGone:
		if rerr = s.st.FinishCallback(rec, c.ID, store.CallbackGone, tries, "410 Gone"); rerr == nil {
			s.count(metricnames.CallbackGone)
			log.Info("callback endpoint gone (410), not retrying")
		}
	case isRefused(err):
		if rerr = s.st.FinishCallback(rec, c.ID, store.CallbackFailed, tries, err.Error()); rerr == nil {
			s.count(metricnames.CallbackRefused)
			log.Warn("callback refused: the destination is not a public address (set callback_allow_private to allow it)", "err", err)
		}
	case tries >= s.o.Attempts:
		if rerr = s.st.FinishCallback(rec, c.ID, store.CallbackFailed, tries, failure(status, err)); rerr == nil {
			s.count(metricnames.CallbackFailed)
			log.Warn("callback failed, giving up", "attempts", tries, "status", status, "err", err)
		}
	default:
		delay := s.backoff(tries)
		_, rerr = s.st.RetryCallback(rec, c.ID, claim, tries, delay, failure(status, err))
		log.Debug("callback failed, retrying", "attempt", tries, "status", status, "err", err, "in", delay)
	}
	if rerr != nil {
		// The claim lapses at the end of its lease and the row is
		// sent again then (the same webhook-id: receivers deduplicate).
		log.Warn("callback outcome not recorded", "err", rerr)
	}
}

// backoff is the delay after the tries-th failed try: Backoff × 4^(tries-1),
// at most MaxBackoff, with jitter so a recovering endpoint is not hit by
// every retry at once.
func (s *Sender) backoff(tries int) time.Duration {
	d := s.o.Backoff
	for i := 1; i < tries && d < s.o.MaxBackoff; i++ {
		d *= 4
	}
	d = min(d, s.o.MaxBackoff)
	return d/2 + time.Duration(mrand.Int64N(int64(d/2)+1))
}

func failure(status int, err error) string {
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("HTTP %d", status)
}

func (s *Sender) try(ctx context.Context, src *sources.Source, c store.Callback) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	j := Job{URL: src.CallbackURL, Secret: src.CallbackSecret, Source: c.Source, EventID: c.EventID,
		EventType: c.EventType, EntityKey: c.EntityKey, ReceivedAt: c.ReceivedAt, ProcessedAt: c.ProcessedAt}
	req, err := Request(ctx, j, time.Now())
	if err != nil {
		return 0, err
	}
	client := s.strict
	if src.CallbackAllowPrivate {
		client = s.open
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 == 3 {
		return resp.StatusCode, fmt.Errorf("%w: HTTP %d to %q", ErrRedirect, resp.StatusCode, resp.Header.Get("Location"))
	}
	return resp.StatusCode, nil
}
