package probe_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookline/hookline/internal/canary"
	"github.com/hookline/hookline/internal/metricnames"
	"github.com/hookline/hookline/internal/webhooksig"
	"github.com/hookline/hookline/lambda/canary/probe"
)

const (
	secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	other  = "whsec_C2FtcGxlIGNhbGxiYWNrIHNlY3JldCAxMjM0NTY="
	host   = "hooks.example.com"
)

// verify checks a request as the receiver does: the real verifier of the
// canary source's scheme, at now.
func verify(t *testing.T, r *http.Request, body []byte, key string, now time.Time) (webhooksig.Delivery, error) {
	t.Helper()
	v, err := webhooksig.New(canary.Scheme, []string{key}, 0)
	if err != nil {
		t.Fatal(err)
	}
	return v.Verify(context.Background(), &webhooksig.Request{Method: r.Method, URL: r.URL, Header: r.Header, Body: body}, now)
}

// The canary's request is what a Standard Webhooks sender of the canary
// source sends: a POST to the source's path whose signature the real
// verifier accepts, with the run id as the signed webhook-id, the ping's
// type as the event type and the signing time in the body; another
// secret, or a verification outside the tolerance, refuses it.
func TestRequestVerifies(t *testing.T) {
	now := time.Date(2026, 12, 2, 13, 0, 0, 987654321, time.UTC)
	req, err := probe.Request(context.Background(), "https://"+host+probe.Path, "hookline-prod", secret, "canary_run-1", now)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(req.Body)
	if req.Method != http.MethodPost || req.URL.Path != "/webhooks/"+canary.Source || req.Host != host {
		t.Errorf("%s %s (Host %s); want POST /webhooks/%s to %s", req.Method, req.URL.Path, req.Host, canary.Source, host)
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	d, err := verify(t, req, body, secret, now.Add(30*time.Second))
	if err != nil {
		t.Fatalf("the receiver's verifier refuses the canary: %v", err)
	}
	if d.ID != "canary_run-1" || !d.IDSigned || d.EventType != canary.EventType {
		t.Errorf("delivery id %q (signed %v) type %q; want the run id, signed, and %s", d.ID, d.IDSigned, d.EventType, canary.EventType)
	}
	sent, err := canary.SentAt(body)
	if err != nil || !sent.Equal(now) {
		t.Errorf("SentAt = %v, %v; want %v", sent, err, now)
	}
	if _, err := verify(t, req, body, other, now); !errors.Is(err, webhooksig.ErrSignatureMismatch) {
		t.Errorf("another secret: %v; want ErrSignatureMismatch", err)
	}
	if _, err := verify(t, req, body, secret, now.Add(6*time.Minute)); !errors.Is(err, webhooksig.ErrTimestampOutOfTolerance) {
		t.Errorf("six minutes late: %v; want ErrTimestampOutOfTolerance", err)
	}
	tampered := bytes.Replace(body, []byte("hookline-prod"), []byte("hookline-dev!"), 1)
	if _, err := verify(t, req, tampered, secret, now); !errors.Is(err, webhooksig.ErrSignatureMismatch) {
		t.Errorf("body changed: %v; want ErrSignatureMismatch", err)
	}
	if _, err := probe.Request(context.Background(), "https://"+host+probe.Path, "s", "not base64!", "id", now); err == nil {
		t.Error("a secret the scheme refuses signed anyway")
	}
}

// endpoint is a stand-in for the public endpoint: it verifies every
// request with the real verifier and answers with answer.
type endpoint struct {
	t      *testing.T
	answer func(w http.ResponseWriter, r *http.Request)
	mu     sync.Mutex
	hits   []string // "<path> <verify error or ok>"
}

func (e *endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	res := "ok"
	if _, err := verify(e.t, r, body, secret, time.Now()); err != nil {
		res = err.Error()
	}
	e.mu.Lock()
	e.hits = append(e.hits, r.URL.Path+" "+res)
	e.mu.Unlock()
	e.answer(w, r)
}

func (e *endpoint) seen() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.hits...)
}

// emfLine is the one EMF line of a run, checked against the canary's
// metric list.
func emfLine(t *testing.T, out *bytes.Buffer) map[string]any {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("%d EMF lines; want 1: %q", len(lines), out.String())
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &doc); err != nil {
		t.Fatal(err)
	}
	dir := doc["_aws"].(map[string]any)["CloudWatchMetrics"].([]any)[0].(map[string]any)
	if dir["Namespace"] != metricnames.CanaryNamespace {
		t.Errorf("namespace %v", dir["Namespace"])
	}
	for _, set := range dir["Dimensions"].([]any) {
		for _, d := range set.([]any) {
			if _, ok := doc[d.(string)].(string); !ok {
				t.Errorf("dimension %v has no string member", d)
			}
		}
	}
	for _, m := range dir["Metrics"].([]any) {
		name := m.(map[string]any)["Name"].(string)
		if !metricnames.Known(metricnames.CanaryNamespace, name) || m.(map[string]any)["Unit"] != metricnames.CanaryUnits[name] {
			t.Errorf("metric %v not in metricnames with its unit", m)
		}
		if _, ok := doc[name].(float64); !ok {
			t.Errorf("metric %s has no number", name)
		}
	}
	return doc
}

// TestRun: each way the public endpoint can answer (or not) is one run
// with its class, a Failures of 0 only for a 2xx, and a latency wherever
// a request went out; the endpoint saw a request its verifier accepts,
// and a redirect is a failure, not followed.
func TestRun(t *testing.T) {
	t.Parallel()
	redirected := make(chan struct{}, 1)
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { redirected <- struct{}{} }))
	t.Cleanup(target.Close)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	cases := []struct {
		name     string
		answer   func(w http.ResponseWriter, r *http.Request)
		status   int
		class    string
		failures float64
		errHas   string
	}{
		{"accepted", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusAccepted)
			_, _ = w.Write([]byte(`{"id":"x"}`))
		}, 202, "2xx", 0, ""},
		{"broker down", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
		}, 503, "5xx", 1, "503"},
		{"refused signature", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusUnauthorized) }, 401, "4xx", 1, "401"},
		{"redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target.URL+probe.Path, http.StatusFound)
		}, 302, "3xx", 1, "302"},
		{"timeout", func(w http.ResponseWriter, r *http.Request) {
			select { // answers only after the canary gave up
			case <-r.Context().Done():
			case <-release:
			}
		}, 0, probe.ErrorClass, 1, "deadline exceeded"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ep := &endpoint{t: t, answer: tc.answer}
			srv := httptest.NewServer(ep)
			t.Cleanup(srv.Close)
			var emf bytes.Buffer
			p, err := probe.New(probe.Config{
				URL: srv.URL + probe.Path, Stack: "hookline-test", Timeout: 500 * time.Millisecond,
				Secret: func(context.Context) (string, error) { return secret, nil },
				EMF:    &emf, Function: "canary-fn", Log: slog.New(slog.NewJSONHandler(io.Discard, nil)),
			})
			if err != nil {
				t.Fatal(err)
			}
			res := p.Run(context.Background())
			if res.Status != tc.status || res.Class != tc.class || res.OK() != (tc.failures == 0) {
				t.Errorf("status %d class %s OK %v; want %d %s", res.Status, res.Class, res.OK(), tc.status, tc.class)
			}
			if !strings.Contains(res.Err, tc.errHas) || (tc.errHas == "") != (res.Err == "") {
				t.Errorf("err %q; want one containing %q", res.Err, tc.errHas)
			}
			if hits := ep.seen(); len(hits) != 1 || hits[0] != probe.Path+" ok" {
				t.Errorf("endpoint saw %v; want one verified POST to %s", hits, probe.Path)
			}
			doc := emfLine(t, &emf)
			if doc[metricnames.CanaryFailures] != tc.failures || doc[metricnames.CanaryRuns] != 1.0 ||
				doc[metricnames.StatusClassDimension] != tc.class || doc[metricnames.StackDimension] != "hookline-test" {
				t.Errorf("EMF %v; want Failures %v, Runs 1, class %s", doc, tc.failures, tc.class)
			}
			if l, ok := doc[metricnames.CanaryLatency].(float64); !ok || l <= 0 || res.LatencyMillis != l {
				t.Errorf("Latency %v; want the run's %v, above 0", doc[metricnames.CanaryLatency], res.LatencyMillis)
			}
			if doc["message_id"] != res.ID || !strings.HasPrefix(res.ID, "canary_") {
				t.Errorf("message_id %v, run id %q", doc["message_id"], res.ID)
			}
		})
	}
	select {
	case <-redirected:
		t.Error("the redirect was followed")
	default:
	}
}

// A run that cannot read its secret, or reaches nothing, fails with class
// error; one that sent nothing has no latency.
func TestRunWithoutAnswer(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + probe.Path
	ln.Close() // nothing listens there now: connection refused
	for _, tc := range []struct {
		name, url string
		secret    func(context.Context) (string, error)
		latency   bool
		errHas    string
	}{
		{"secret unreadable", "https://" + host + probe.Path,
			func(context.Context) (string, error) { return "", errors.New("AccessDenied") }, false, "AccessDenied"},
		{"secret the scheme refuses", "https://" + host + probe.Path,
			func(context.Context) (string, error) { return "short", nil }, false, "sign"},
		{"connection refused", closed,
			func(context.Context) (string, error) { return secret, nil }, true, "refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var emf bytes.Buffer
			p, err := probe.New(probe.Config{URL: tc.url, Stack: "hookline-test", Timeout: 2 * time.Second,
				Secret: tc.secret, EMF: &emf, Log: slog.New(slog.NewJSONHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			res := p.Run(context.Background())
			if res.OK() || res.Class != probe.ErrorClass || res.Status != 0 || !strings.Contains(res.Err, tc.errHas) {
				t.Errorf("%+v; want class error, status 0, err containing %q", res, tc.errHas)
			}
			doc := emfLine(t, &emf)
			if doc[metricnames.CanaryFailures] != 1.0 {
				t.Errorf("Failures %v; want 1", doc[metricnames.CanaryFailures])
			}
			if _, ok := doc[metricnames.CanaryLatency]; ok != tc.latency {
				t.Errorf("Latency present %v; want %v", ok, tc.latency)
			}
		})
	}
}

// New refuses what would make every run fail for the canary's own fault.
func TestNewRefuses(t *testing.T) {
	ok := probe.Config{URL: "https://" + host + probe.Path, Stack: "s", Timeout: time.Second,
		Secret: func(context.Context) (string, error) { return secret, nil }}
	if _, err := probe.New(ok); err != nil {
		t.Fatal(err)
	}
	for name, change := range map[string]func(*probe.Config){
		"other path": func(c *probe.Config) { c.URL = "https://" + host + "/webhooks/github" },
		"no host":    func(c *probe.Config) { c.URL = "https://" + probe.Path },
		"ftp":        func(c *probe.Config) { c.URL = "ftp://" + host + probe.Path },
		"query":      func(c *probe.Config) { c.URL += "?x=1" },
		"no stack":   func(c *probe.Config) { c.Stack = "" },
		"no secret":  func(c *probe.Config) { c.Secret = nil },
		"no timeout": func(c *probe.Config) { c.Timeout = 0 },
		"not a URL":  func(c *probe.Config) { c.URL = "http://[::1" },
	} {
		c := ok
		change(&c)
		if _, err := probe.New(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
