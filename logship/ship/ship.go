// Package ship copies CloudWatch Logs subscription batches to Loki: decode
// the event (base64, gzip, JSON), build one Loki push request per batch and
// POST it to <url>/loki/api/v1/push. CloudWatch keeps every line; Loki gets
// a copy (docs/observability.md, "Shipping logs to Loki").
//
// Failure policy, for Lambda's asynchronous retries (CloudWatch Logs invokes
// the function asynchronously): a network failure, a 429 or a 5xx is
// returned as an error, so Lambda retries the batch; any other 4xx is
// logged and dropped, because the same batch would be refused on every
// retry. A batch that does not decode is an error too.
package ship

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// PushPath is Loki's push endpoint, under the configured URL.
const PushPath = "/loki/api/v1/push"

// DefaultTimeout bounds one push (the function's timeout is longer).
const DefaultTimeout = 10 * time.Second

// ErrDecode is returned for a subscription event that is not base64 gzip JSON.
var ErrDecode = errors.New("subscription event does not decode")

// ErrPush is returned when Loki could not take the batch and a retry may
// succeed: a network failure, 429 or 5xx.
var ErrPush = errors.New("loki push failed")

// Config is what the shipper needs.
type Config struct {
	URL   string // Loki base URL, e.g. https://logs.example.com (PushPath is appended)
	Stack string // the stack label
	// SecretARN names a Secrets Manager secret {"username": …, "password": …}
	// sent as HTTP basic auth; empty: no Authorization header.
	SecretARN  string
	ReadSecret func(ctx context.Context, arn string) (string, error)
	Client     *http.Client // nil: a client with DefaultTimeout
	Logger     *slog.Logger
}

// Shipper pushes subscription batches to Loki.
type Shipper struct {
	cfg Config

	mu   sync.Mutex
	auth *basicAuth // read on first use and kept (the secret's current version)
}

type basicAuth struct{ user, password string }

// New is a shipper for cfg.
func New(cfg Config) (*Shipper, error) {
	if cfg.URL == "" {
		return nil, errors.New("LOKI_URL is not set")
	}
	if !strings.HasPrefix(cfg.URL, "https://") && !strings.HasPrefix(cfg.URL, "http://") {
		return nil, fmt.Errorf("LOKI_URL %q is not an http(s) URL", cfg.URL)
	}
	if cfg.SecretARN != "" && cfg.ReadSecret == nil {
		return nil, errors.New("a secret ARN needs a secret reader")
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: DefaultTimeout}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.URL = strings.TrimSuffix(cfg.URL, "/")
	return &Shipper{cfg: cfg}, nil
}

// Handle is the Lambda handler: one subscription event, one push.
func (s *Shipper) Handle(ctx context.Context, ev events.CloudwatchLogsEvent) error {
	data, err := Decode(ev)
	if err != nil {
		return err
	}
	if data.MessageType != "DATA_MESSAGE" {
		// CONTROL_MESSAGE: CloudWatch Logs checking that it can reach us.
		s.cfg.Logger.Info("ignored a subscription message", "message_type", data.MessageType, "log_group", data.LogGroup)
		return nil
	}
	if len(data.LogEvents) == 0 {
		return nil
	}
	body, err := json.Marshal(Request(s.cfg.Stack, data))
	if err != nil {
		return fmt.Errorf("encode push request: %w", err)
	}
	return s.push(ctx, data.LogGroup, len(data.LogEvents), body)
}

// Decode unpacks a subscription event's awslogs.data.
func Decode(ev events.CloudwatchLogsEvent) (events.CloudwatchLogsData, error) {
	var d events.CloudwatchLogsData
	raw, err := base64.StdEncoding.DecodeString(ev.AWSLogs.Data)
	if err != nil {
		return d, fmt.Errorf("%w: base64: %w", ErrDecode, err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return d, fmt.Errorf("%w: gzip: %w", ErrDecode, err)
	}
	js, err := io.ReadAll(zr)
	if err != nil {
		return d, fmt.Errorf("%w: gzip: %w", ErrDecode, err)
	}
	if err := json.Unmarshal(js, &d); err != nil {
		return d, fmt.Errorf("%w: json: %w", ErrDecode, err)
	}
	return d, nil
}

// PushRequest is Loki's JSON push body.
type PushRequest struct {
	Streams []Stream `json:"streams"`
}

// Stream is one label set and its entries, each [unix nanoseconds, line].
type Stream struct {
	Stream map[string]string `json:"stream"`
	Values [][2]string       `json:"values"`
}

// Request is the push body of one batch: one stream labelled stack,
// service (the log group's last path element: receiver, processor) and
// log_group, each line as CloudWatch has it, at its event's timestamp.
func Request(stack string, d events.CloudwatchLogsData) PushRequest {
	st := Stream{Stream: map[string]string{
		"stack":     stack,
		"service":   Service(d.LogGroup),
		"log_group": d.LogGroup,
	}}
	for _, e := range d.LogEvents {
		ns := e.Timestamp * int64(time.Millisecond) // CloudWatch: milliseconds
		st.Values = append(st.Values, [2]string{strconv.FormatInt(ns, 10), e.Message})
	}
	return PushRequest{Streams: []Stream{st}}
}

// Service is the service label of a log group: /hookline/<stack>/receiver
// is receiver.
func Service(logGroup string) string {
	return logGroup[strings.LastIndex(logGroup, "/")+1:]
}

func (s *Shipper) push(ctx context.Context, logGroup string, n int, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.URL+PushPath, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrPush, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if s.cfg.SecretARN != "" {
		a, err := s.credentials(ctx)
		if err != nil {
			return err
		}
		req.SetBasicAuth(a.user, a.password)
	}
	resp, err := s.cfg.Client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrPush, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		return nil
	case c == http.StatusTooManyRequests || c >= 500:
		return fmt.Errorf("%w: %s: %s", ErrPush, resp.Status, bytes.TrimSpace(msg))
	default:
		if c == http.StatusUnauthorized || c == http.StatusForbidden {
			s.forget() // a rotated secret: read it again next time
		}
		s.cfg.Logger.Error("loki refused a batch; dropped (CloudWatch keeps it)",
			"status", c, "log_group", logGroup, "lines", n, "err", string(bytes.TrimSpace(msg)))
		return nil
	}
}

func (s *Shipper) credentials(ctx context.Context) (*basicAuth, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.auth != nil {
		return s.auth, nil
	}
	v, err := s.cfg.ReadSecret(ctx, s.cfg.SecretARN)
	if err != nil {
		return nil, fmt.Errorf("loki secret: %w", err)
	}
	var c struct{ Username, Password string }
	if err := json.Unmarshal([]byte(v), &c); err != nil || c.Username == "" || c.Password == "" {
		return nil, errors.New(`loki secret must be JSON {"username": "…", "password": "…"}`)
	}
	s.auth = &basicAuth{c.Username, c.Password}
	return s.auth, nil
}

func (s *Shipper) forget() {
	s.mu.Lock()
	s.auth = nil
	s.mu.Unlock()
}
