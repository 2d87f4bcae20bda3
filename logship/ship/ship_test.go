package ship

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
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

	"github.com/aws/aws-lambda-go/events"
)

// loki is a local Loki push endpoint that records what it was sent and
// answers with status.
type loki struct {
	*httptest.Server
	status int

	mu   sync.Mutex
	reqs []pushed
}

type pushed struct {
	path, method, contentType, user, password string
	basic                                     bool
	body                                      []byte
}

func newLoki(t *testing.T, status int) *loki {
	l := &loki{status: status}
	l.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		u, p, ok := r.BasicAuth()
		l.mu.Lock()
		l.reqs = append(l.reqs, pushed{r.URL.Path, r.Method, r.Header.Get("Content-Type"), u, p, ok, b})
		l.mu.Unlock()
		w.WriteHeader(l.status)
		_, _ = io.WriteString(w, "loki says "+http.StatusText(l.status))
	}))
	t.Cleanup(l.Close)
	return l
}

func (l *loki) pushes() []pushed {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]pushed(nil), l.reqs...)
}

// event packs data as CloudWatch Logs does: JSON, gzip, base64.
func event(t *testing.T, d events.CloudwatchLogsData) events.CloudwatchLogsEvent {
	t.Helper()
	js, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return events.CloudwatchLogsEvent{AWSLogs: events.CloudwatchLogsRawData{Data: gzipBase64(t, js)}}
}

func gzipBase64(t *testing.T, b []byte) string {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

var batch = events.CloudwatchLogsData{
	MessageType: "DATA_MESSAGE",
	Owner:       "123456789012",
	LogGroup:    "/hookline/dev/processor",
	LogStream:   "processor/processor/abc",
	LogEvents: []events.CloudwatchLogsLogEvent{
		{ID: "1", Timestamp: 1764684000123, Message: `{"level":"INFO","msg":"stored","message_id":"m1"}`},
		{ID: "2", Timestamp: 1764684000456, Message: `{"_aws":{"CloudWatchMetrics":[]},"Processed":1}`},
	},
}

const wantBody = `{"streams":[{"stream":{"log_group":"/hookline/dev/processor","service":"processor","stack":"dev"},` +
	`"values":[["1764684000123000000","{\"level\":\"INFO\",\"msg\":\"stored\",\"message_id\":\"m1\"}"],` +
	`["1764684000456000000","{\"_aws\":{\"CloudWatchMetrics\":[]},\"Processed\":1}"]]}]}`

// logs is a logger whose JSON lines the test reads.
type logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func secretOf(v string, err error) func(context.Context, string) (string, error) {
	return func(_ context.Context, arn string) (string, error) {
		if arn != "arn:aws:secretsmanager:us-east-1:123456789012:secret:loki" {
			return "", errors.New("unexpected ARN " + arn)
		}
		return v, err
	}
}

func TestHandle(t *testing.T) {
	t.Parallel()
	const arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:loki"
	tests := []struct {
		name       string
		status     int
		ev         func(t *testing.T) events.CloudwatchLogsEvent
		secretARN  string
		readSecret func(context.Context, string) (string, error)
		wantErr    error  // nil: Handle returns nil
		wantPushes int    // pushes Loki saw
		wantLog    string // in the shipper's log
		wantAuth   bool
	}{
		{name: "batch pushed with basic auth", status: http.StatusNoContent, ev: func(t *testing.T) events.CloudwatchLogsEvent { return event(t, batch) },
			secretARN: arn, readSecret: secretOf(`{"username":"123456","password":"glc_token"}`, nil), wantPushes: 1, wantAuth: true},
		{name: "batch pushed without auth", status: http.StatusNoContent, ev: func(t *testing.T) events.CloudwatchLogsEvent { return event(t, batch) },
			wantPushes: 1},
		{name: "5xx is retried", status: http.StatusServiceUnavailable, ev: func(t *testing.T) events.CloudwatchLogsEvent { return event(t, batch) },
			wantErr: ErrPush, wantPushes: 1},
		{name: "429 is retried", status: http.StatusTooManyRequests, ev: func(t *testing.T) events.CloudwatchLogsEvent { return event(t, batch) },
			wantErr: ErrPush, wantPushes: 1},
		{name: "400 is dropped and logged", status: http.StatusBadRequest, ev: func(t *testing.T) events.CloudwatchLogsEvent { return event(t, batch) },
			wantPushes: 1, wantLog: `"msg":"loki refused a batch; dropped (CloudWatch keeps it)","status":400,"log_group":"/hookline/dev/processor","lines":2,"err":"loki says Bad Request"`},
		{name: "control message is not pushed", status: http.StatusNoContent, ev: func(t *testing.T) events.CloudwatchLogsEvent {
			return event(t, events.CloudwatchLogsData{MessageType: "CONTROL_MESSAGE", LogGroup: "", LogEvents: []events.CloudwatchLogsLogEvent{{ID: "1", Timestamp: 1, Message: "CWL CONTROL MESSAGE: Checking health of destination Lambda."}}})
		}, wantLog: `"message_type":"CONTROL_MESSAGE"`},
		{name: "not base64", status: http.StatusNoContent, ev: func(*testing.T) events.CloudwatchLogsEvent {
			return events.CloudwatchLogsEvent{AWSLogs: events.CloudwatchLogsRawData{Data: "%%% not base64"}}
		}, wantErr: ErrDecode},
		{name: "not gzip", status: http.StatusNoContent, ev: func(*testing.T) events.CloudwatchLogsEvent {
			return events.CloudwatchLogsEvent{AWSLogs: events.CloudwatchLogsRawData{Data: base64.StdEncoding.EncodeToString([]byte(`{"messageType":"DATA_MESSAGE"}`))}}
		}, wantErr: ErrDecode},
		{name: "truncated gzip", status: http.StatusNoContent, ev: func(t *testing.T) events.CloudwatchLogsEvent {
			raw, _ := base64.StdEncoding.DecodeString(event(t, batch).AWSLogs.Data)
			return events.CloudwatchLogsEvent{AWSLogs: events.CloudwatchLogsRawData{Data: base64.StdEncoding.EncodeToString(raw[:len(raw)-12])}}
		}, wantErr: ErrDecode},
		{name: "gzip of not JSON", status: http.StatusNoContent, ev: func(t *testing.T) events.CloudwatchLogsEvent {
			return events.CloudwatchLogsEvent{AWSLogs: events.CloudwatchLogsRawData{Data: gzipBase64(t, []byte("not json"))}}
		}, wantErr: ErrDecode},
		{name: "unreadable secret is retried", status: http.StatusNoContent, ev: func(t *testing.T) events.CloudwatchLogsEvent { return event(t, batch) },
			secretARN: arn, readSecret: secretOf("", errors.New("AccessDenied"))},
		{name: "malformed secret", status: http.StatusNoContent, ev: func(t *testing.T) events.CloudwatchLogsEvent { return event(t, batch) },
			secretARN: arn, readSecret: secretOf(`user:password`, nil)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := newLoki(t, tc.status)
			var out logs
			s, err := New(Config{URL: l.URL + "/", Stack: "dev", SecretARN: tc.secretARN, ReadSecret: tc.readSecret,
				Logger: slog.New(slog.NewJSONHandler(&out, nil))})
			if err != nil {
				t.Fatal(err)
			}
			err = s.Handle(context.Background(), tc.ev(t))
			switch {
			case tc.readSecret != nil && tc.wantPushes == 0:
				if err == nil || !strings.Contains(err.Error(), "loki secret") {
					t.Fatalf("Handle = %v, want a loki secret error", err)
				}
			case tc.wantErr == nil && err != nil:
				t.Fatalf("Handle = %v, want nil", err)
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Fatalf("Handle = %v, want %v", err, tc.wantErr)
			}
			got := l.pushes()
			if len(got) != tc.wantPushes {
				t.Fatalf("Loki saw %d pushes, want %d", len(got), tc.wantPushes)
			}
			for _, p := range got {
				if p.method != http.MethodPost || p.path != PushPath || p.contentType != "application/json" {
					t.Errorf("push %s %s (%s), want POST %s application/json", p.method, p.path, p.contentType, PushPath)
				}
				if string(p.body) != wantBody {
					t.Errorf("push body\n%s\nwant\n%s", p.body, wantBody)
				}
				if tc.wantAuth != p.basic || (tc.wantAuth && (p.user != "123456" || p.password != "glc_token")) {
					t.Errorf("basic auth %v %q:%q, want %v 123456:glc_token", p.basic, p.user, p.password, tc.wantAuth)
				}
			}
			if tc.wantLog != "" && !strings.Contains(out.String(), tc.wantLog) {
				t.Errorf("log %s\nwant it to contain %s", out.String(), tc.wantLog)
			}
		})
	}
}

// A Loki that does not answer, or is not there, is retried.
func TestHandleNetworkFailure(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang); ln.Close() })
	go func() { // accepts and never answers
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { <-hang; c.Close() }()
		}
	}()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()

	for _, url := range []string{"http://" + addr, "http://" + closedAddr} {
		s, err := New(Config{URL: url, Stack: "dev", Client: &http.Client{Timeout: 200 * time.Millisecond},
			Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Handle(context.Background(), event(t, batch)); !errors.Is(err, ErrPush) {
			t.Errorf("%s: Handle = %v, want ErrPush", url, err)
		}
	}
}

// A 401 forgets the credentials, so a rotated secret is read again.
func TestUnauthorizedRereadsSecret(t *testing.T) {
	t.Parallel()
	l := newLoki(t, http.StatusUnauthorized)
	reads := 0
	s, err := New(Config{URL: l.URL, Stack: "dev", SecretARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:loki",
		ReadSecret: func(context.Context, string) (string, error) {
			reads++
			return `{"username":"u","password":"p"}`, nil
		}, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := s.Handle(context.Background(), event(t, batch)); err != nil {
			t.Fatal(err)
		}
	}
	l.status = http.StatusNoContent // not read concurrently: Handle has returned
	for range 2 {
		if err := s.Handle(context.Background(), event(t, batch)); err != nil {
			t.Fatal(err)
		}
	}
	if reads != 3 {
		t.Errorf("secret read %d times, want 3 (after each 401, then kept)", reads)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	for _, cfg := range []Config{
		{},
		{URL: "logs.example.com"},
		{URL: "https://logs.example.com", SecretARN: "arn:x"},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) = nil error", cfg)
		}
	}
}

func TestService(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"/hookline/prod/receiver":  "receiver",
		"/hookline/prod/processor": "processor",
		"plain":                    "plain",
	} {
		if got := Service(in); got != want {
			t.Errorf("Service(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzDecode: outside input never panics the decoder.
func FuzzDecode(f *testing.F) {
	f.Add("")
	f.Add("H4sIAAAAAAAA/w==")
	f.Fuzz(func(t *testing.T, data string) {
		_, _ = Decode(events.CloudwatchLogsEvent{AWSLogs: events.CloudwatchLogsRawData{Data: data}})
	})
}
