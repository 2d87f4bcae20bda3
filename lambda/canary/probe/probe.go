// Package probe is one run of the end-to-end canary: sign a canary ping
// for the canary source (internal/canary) with the source's secret, POST it
// to the stack's public webhook URL as a sender would (through Cloudflare,
// API Gateway and the receiver), and record the outcome as one CloudWatch
// Embedded Metric Format line (namespace Hookline/Canary) and one log line.
// The processor records the ping's arrival on its side; the two alarms
// (canary failed, canary arrivals missing) read both halves.
package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/hookline/hookline/internal/canary"
	"github.com/hookline/hookline/internal/metricnames"
	"github.com/hookline/hookline/internal/webhooksig"
)

// Path is the canary source's path, the one a sender of the source posts to.
const Path = "/webhooks/" + canary.Source

// UserAgent is the canary's User-Agent: access logs tell it from senders.
const UserAgent = "hookline-canary/1"

// ErrorClass is a run's StatusClass when no answer came (timeout, refused,
// DNS, TLS) or the request could not be made (the secret unreadable).
const ErrorClass = metricnames.CanaryErrorClass

// Config is what a canary run needs.
type Config struct {
	// URL is the public webhook URL of the canary source:
	// https://<a public hostname>/webhooks/hookline-canary.
	URL string
	// Stack is the stack watched (HOOKLINE_STACK): the Stack dimension and
	// the ping's data.stack.
	Stack string
	// Secret reads the canary source's signing secret (whsec_…), once per
	// run, so a rotated secret is used from the next run on.
	Secret func(ctx context.Context) (string, error)
	// Timeout bounds a run's request, connect to status line.
	Timeout time.Duration
	// Transport sends the request; nil: a clone of http.DefaultTransport.
	Transport http.RoundTripper
	// EMF receives one line per run; nil writes none (local mode).
	EMF io.Writer
	// Function is the function's name, a property of the EMF line.
	Function string
	Log      *slog.Logger
	// Now and NewID are the clock and the run id source; nil: time.Now and
	// a random UUID.
	Now   func() time.Time
	NewID func() string
}

// Prober runs the canary.
type Prober struct {
	cfg    Config
	client *http.Client
}

// New checks cfg and returns its prober.
func New(cfg Config) (*Prober, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Path != Path || u.RawQuery != "" {
		return nil, fmt.Errorf("probe: URL %q: want https://<public hostname>%s", cfg.URL, Path)
	}
	if cfg.Stack == "" {
		return nil, errors.New("probe: Stack is empty: want the stack's name (HOOKLINE_STACK)")
	}
	if cfg.Secret == nil {
		return nil, errors.New("probe: no Secret reader")
	}
	if cfg.Timeout <= 0 {
		return nil, fmt.Errorf("probe: Timeout %v: want above 0", cfg.Timeout)
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.NewID == nil {
		cfg.NewID = func() string { return "canary_" + uuid.NewString() }
	}
	tr := cfg.Transport
	if tr == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.DisableKeepAlives = true // one request every few minutes: each run dials, as a new sender's would
		tr = t
	}
	return &Prober{cfg: cfg, client: &http.Client{
		Transport: tr,
		// A redirect is an answer, not a hop to follow: a sender does not
		// follow one with its POST either, so it fails the run as a 3xx.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}, nil
}

// Result is a run's outcome; the Lambda returns it, so a manual invoke
// shows it.
type Result struct {
	ID            string  `json:"message_id"` // the ping's webhook-id, the receiver's event id
	Status        int     `json:"status"`     // 0 without an answer
	Class         string  `json:"status_class"`
	LatencyMillis float64 `json:"latency_ms"`
	Err           string  `json:"err,omitempty"`

	sent bool // the request went out: LatencyMillis is a measurement
}

// OK reports whether the public endpoint accepted the ping (2xx).
func (r Result) OK() bool { return r.Class == "2xx" }

// Request is the signed POST of the ping of run id of stack at now to
// target, with the headers a Standard Webhooks sender sends.
func Request(ctx context.Context, target, stack, secret, id string, now time.Time) (*http.Request, error) {
	body := canary.Body(stack, id, now)
	hdr, err := webhooksig.Sign(canary.Scheme, secret, id, now, body)
	if err != nil {
		return nil, fmt.Errorf("probe: sign: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(string(body)))
	if err != nil {
		return nil, fmt.Errorf("probe: %w", err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	return req, nil
}

// Run makes one run: it never fails, it reports (the EMF line, the log
// line and the Result say what happened).
func (p *Prober) Run(ctx context.Context) Result {
	res := p.run(ctx)
	p.record(ctx, res)
	return res
}

func (p *Prober) run(ctx context.Context) Result {
	res := Result{ID: p.cfg.NewID(), Class: ErrorClass}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	secret, err := p.cfg.Secret(ctx)
	if err != nil {
		res.Err = "read the canary secret: " + err.Error()
		return res
	}
	start := p.cfg.Now()
	req, err := Request(ctx, p.cfg.URL, p.cfg.Stack, secret, res.ID, start)
	if err != nil {
		res.Err = err.Error()
		return res
	}
	res.sent = true
	resp, err := p.client.Do(req)
	res.LatencyMillis = float64(p.cfg.Now().Sub(start).Microseconds()) / 1000
	if err != nil {
		res.Err = err.Error()
		return res
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	res.Status = resp.StatusCode
	if c := resp.StatusCode / 100; c >= 2 && c <= 5 {
		res.Class = fmt.Sprintf("%dxx", c)
	} // else an answer outside HTTP's classes: ErrorClass
	if !res.OK() {
		res.Err = "answered " + resp.Status
	}
	return res
}
