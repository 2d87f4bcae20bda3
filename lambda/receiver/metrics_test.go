package receiver_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/hookline/hookline/internal/envelope"
	"github.com/hookline/hookline/internal/metricnames"
	"github.com/hookline/hookline/internal/sources"
	"github.com/hookline/hookline/internal/webhooksig"
	"github.com/hookline/hookline/lambda/receiver"
)

// fakePub confirms every publish, or fails with err.
type fakePub struct{ err error }

func (p fakePub) Publish(context.Context, envelope.Envelope) error { return p.err }

type failingBody struct{}

func (failingBody) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

// emfLine is the shape of one Embedded Metric Format line.
type emfLine struct {
	AWS struct {
		Timestamp         int64
		CloudWatchMetrics []struct {
			Namespace  string
			Dimensions [][]string
			Metrics    []struct{ Name, Unit string }
		}
	} `json:"_aws"`
}

func metricsHandler(t *testing.T, pub receiver.Publisher, stack string) (*receiver.Handler, *receiver.Metrics, *syncBuffer) {
	t.Helper()
	set, err := sources.Parse([]byte(doc))
	require.NoError(t, err)
	out := &syncBuffer{}
	m := receiver.NewMetrics(receiver.MetricsConfig{EMF: out, Stack: stack, Function: "hookline-test-receiver"})
	h := receiver.New(set, pub, slog.New(slog.NewJSONHandler(io.Discard, nil))).WithMetrics(m)
	return h, m, out
}

// TestMetricsEMFPerOutcome: each kind of request writes one EMF line that
// CloudWatch would accept, with the outcome's metric, its unit, the
// dimensions it declares present as members, and the values.
func TestMetricsEMFPerOutcome(t *testing.T) {
	t.Parallel()
	body := []byte(`{"hello":"world"}`)
	cases := []struct {
		name   string
		pub    error
		req    func(t *testing.T) *http.Request
		status int
		metric string
		source string
	}{
		{"accepted", nil, func(t *testing.T) *http.Request { return signed(t, "std", body, nil) }, 202, metricnames.Accepted, "std"},
		{"bad signature", nil, func(t *testing.T) *http.Request {
			return signed(t, "gh", body, func(r *http.Request) { r.Header.Set("X-Hub-Signature-256", "sha256=00") })
		}, 401, metricnames.Rejected, "gh"},
		{"wrong host", nil, func(t *testing.T) *http.Request {
			return signed(t, "std", body, func(r *http.Request) { r.Host = "evil.example.com" })
		}, 403, metricnames.Rejected, "std"},
		{"unknown source", nil, func(t *testing.T) *http.Request {
			return signed(t, "std", body, func(r *http.Request) { r.URL.Path = "/webhooks/nope" })
		}, 404, metricnames.Rejected, receiver.UnknownSource},
		{"GET", nil, func(t *testing.T) *http.Request {
			return signed(t, "std", body, func(r *http.Request) { r.Method = http.MethodGet })
		}, 405, metricnames.Rejected, "std"},
		{"body too large", nil, func(t *testing.T) *http.Request {
			return signed(t, "std", []byte(strings.Repeat("x", 4096)), nil)
		}, 413, metricnames.Rejected, "std"},
		{"headers too large", nil, func(t *testing.T) *http.Request {
			return signed(t, "gh", body, func(r *http.Request) { r.Header.Set("X-Pad", strings.Repeat("p", 11000)) })
		}, 431, metricnames.Rejected, "gh"},
		{"body read fails", nil, func(t *testing.T) *http.Request {
			return signed(t, "std", body, func(r *http.Request) { r.Body = io.NopCloser(failingBody{}); r.ContentLength = -1 })
		}, 400, metricnames.Rejected, "std"},
		{"handshake", nil, func(t *testing.T) *http.Request { return request("GET", "/webhooks/dbx?challenge=c", nil) }, 200, metricnames.Handshakes, "dbx"},
		{"broker does not confirm", errors.New("confirm timeout"), func(t *testing.T) *http.Request { return signed(t, "std", body, nil) }, 503, metricnames.PublishFailures, "std"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, _, out := metricsHandler(t, fakePub{err: tc.pub}, "hookline-test")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, tc.req(t))
			require.Equal(t, tc.status, w.Code)

			lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			require.Len(t, lines, 1, "one EMF line per request")
			var raw map[string]any
			require.NoError(t, json.Unmarshal([]byte(lines[0]), &raw), lines[0])
			var line emfLine
			require.NoError(t, json.Unmarshal([]byte(lines[0]), &line))
			require.NotZero(t, line.AWS.Timestamp)
			require.Len(t, line.AWS.CloudWatchMetrics, 1)
			d := line.AWS.CloudWatchMetrics[0]
			require.Equal(t, metricnames.ReceiverNamespace, d.Namespace)

			wantDims := [][]string{{"Stack", "Source"}, {"Stack"}}
			if tc.metric == metricnames.Rejected {
				wantDims = [][]string{{"Stack", "Source", "Status"}, {"Stack", "Status"}}
				require.Equal(t, strconv.Itoa(tc.status), raw["Status"])
			}
			require.Equal(t, wantDims, d.Dimensions)
			for _, set := range d.Dimensions {
				for _, dim := range set {
					require.IsType(t, "", raw[dim], "dimension %s must be a string member", dim)
				}
			}
			require.Equal(t, "hookline-test", raw["Stack"])
			require.Equal(t, tc.source, raw["Source"])
			require.Equal(t, "hookline-test-receiver", raw["FunctionName"])

			names := map[string]string{}
			for _, m := range d.Metrics {
				names[m.Name] = m.Unit
				require.Equal(t, metricnames.ReceiverUnits[m.Name], m.Unit, m.Name)
				require.True(t, metricnames.Known(d.Namespace, m.Name), "%s not in metricnames", m.Name)
				require.IsType(t, float64(0), raw[m.Name], "metric %s must be a number member", m.Name)
			}
			require.Contains(t, names, tc.metric)
			require.Equal(t, float64(1), raw[tc.metric])
			switch tc.status {
			case 202:
				require.Equal(t, map[string]string{metricnames.Accepted: "Count", metricnames.PublishConfirmLatency: "Milliseconds", metricnames.BodySize: "Bytes"}, names)
				require.Equal(t, float64(len(body)), raw[metricnames.BodySize])
				require.GreaterOrEqual(t, raw[metricnames.PublishConfirmLatency], float64(0))
			case 503:
				require.Equal(t, map[string]string{metricnames.PublishFailures: "Count", metricnames.PublishConfirmLatency: "Milliseconds"}, names)
			default:
				require.Len(t, names, 1)
			}
		})
	}
}

// TestMetricsVerifyUnavailable: a 503 because a verification dependency is
// down is its own metric, not a broker failure.
func TestMetricsVerifyUnavailable(t *testing.T) {
	t.Parallel()
	h, m, out := metricsHandler(t, fakePub{}, "hookline-test")
	receiver.SetVerifier(h, func(*sources.Source) webhooksig.Verifier {
		return &fakeVerifier{verifyErr: fmt.Errorf("jwks: %w", webhooksig.ErrUnavailable)}
	})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, request("POST", "/webhooks/plain", []byte(`{}`)))
	require.Equal(t, 503, w.Code)
	require.Equal(t, "5", w.Header().Get("Retry-After"))
	require.Contains(t, out.String(), `"`+metricnames.VerifyUnavailable+`":1`)
	require.NotContains(t, out.String(), metricnames.PublishFailures)
	require.Contains(t, scrape(t, m), `hookline_receiver_verify_unavailable_total{source="plain"} 1`)
}

// TestMetricsEMFWithoutStack: without HOOKLINE_STACK the line has no Stack
// and no empty dimension set (CloudWatch would reject the directive).
func TestMetricsEMFWithoutStack(t *testing.T) {
	t.Parallel()
	h, _, out := metricsHandler(t, fakePub{}, "")
	h.ServeHTTP(httptest.NewRecorder(), signed(t, "std", []byte(`{}`), nil))
	var line emfLine
	require.NoError(t, json.Unmarshal([]byte(out.String()), &line))
	require.Equal(t, [][]string{{"Source"}}, line.AWS.CloudWatchMetrics[0].Dimensions)
	require.NotContains(t, out.String(), `"Stack"`)
}

// TestMetricsLambdaOversizedBase64: the 413 the adapter answers before the
// handler runs is counted too.
func TestMetricsLambdaOversizedBase64(t *testing.T) {
	t.Parallel()
	h, m, out := metricsHandler(t, fakePub{}, "hookline-test")
	ev := events.APIGatewayV2HTTPRequest{RawPath: "/webhooks/std", IsBase64Encoded: true, Body: strings.Repeat("A", 8192)}
	ev.RequestContext.HTTP.Method = http.MethodPost
	resp, err := h.HandleAPIGateway(context.Background(), ev)
	require.NoError(t, err)
	require.Equal(t, 413, resp.StatusCode)
	require.Contains(t, out.String(), `"Status":"413"`)
	require.Contains(t, scrape(t, m), `hookline_receiver_rejected_total{source="unknown",status="413"} 1`)
}

// TestMetricsPrometheusCountersMove: the local /metrics counters follow the
// requests, and every name exposed is in metricnames.
func TestMetricsPrometheusCountersMove(t *testing.T) {
	t.Parallel()
	set, err := sources.Parse([]byte(doc))
	require.NoError(t, err)
	m := receiver.NewMetrics(receiver.MetricsConfig{})
	h := receiver.New(set, fakePub{}, slog.New(slog.NewJSONHandler(io.Discard, nil))).WithMetrics(m)
	body := []byte(`{"a":1}`)
	for i := 0; i < 3; i++ {
		h.ServeHTTP(httptest.NewRecorder(), signed(t, "std", body, nil))
	}
	h.ServeHTTP(httptest.NewRecorder(), signed(t, "gh", body, func(r *http.Request) { r.Header.Set("X-Hub-Signature-256", "sha256=00") }))
	failing := receiver.New(set, fakePub{err: errors.New("blocked")}, slog.New(slog.NewJSONHandler(io.Discard, nil))).WithMetrics(m)
	failing.ServeHTTP(httptest.NewRecorder(), signed(t, "std", body, nil))

	text := scrape(t, m)
	require.Regexp(t, `(?m)^go_goroutines [1-9][0-9]*$`, text) // the soak reads it
	for _, want := range []string{
		`hookline_receiver_accepted_total{source="std"} 3`,
		`hookline_receiver_rejected_total{source="gh",status="401"} 1`,
		`hookline_receiver_publish_failures_total{source="std"} 1`,
		`hookline_receiver_publish_confirm_seconds_count{source="std"} 4`,
		`hookline_receiver_body_bytes_sum{source="std"} 21`,
	} {
		require.Contains(t, text, want)
	}
	known := map[string]bool{}
	for _, n := range metricnames.Prometheus {
		known[n] = true
	}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		if name, ok := strings.CutPrefix(sc.Text(), "# TYPE "); ok {
			name, _, _ = strings.Cut(name, " ")
			if name == "go_goroutines" {
				continue // the runtime's, not one of the receiver's names
			}
			require.True(t, known[name], "%s exposed but not in metricnames.Prometheus", name)
		}
	}
}

func scrape(t *testing.T, m *receiver.Metrics) string {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// TestMetricsPrometheusExposition: GET /metrics is valid Prometheus text
// (parsed by Prometheus's own parser), each family of the type it declares,
// histogram buckets cumulative with le inclusive, and _count equal to +Inf.
func TestMetricsPrometheusExposition(t *testing.T) {
	t.Parallel()
	set, err := sources.Parse([]byte(doc))
	require.NoError(t, err)
	m := receiver.NewMetrics(receiver.MetricsConfig{})
	h := receiver.New(set, fakePub{}, slog.New(slog.NewJSONHandler(io.Discard, nil))).WithMetrics(m)
	for _, n := range []int{10, 256, 300, 2000} {
		h.ServeHTTP(httptest.NewRecorder(), signed(t, "std", []byte(`{"a":"`+strings.Repeat("x", n-8)+`"}`), nil))
	}
	h.ServeHTTP(httptest.NewRecorder(), signed(t, "gh", []byte(`{}`), func(r *http.Request) { r.Header.Set("X-Hub-Signature-256", "sha256=00") }))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/webhooks/gh", nil))

	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(scrape(t, m)))
	require.NoError(t, err)
	require.Len(t, fams, len(metricnames.Prometheus)+1) // + go_goroutines
	require.Equal(t, dto.MetricType_GAUGE, fams["go_goroutines"].GetType())
	for _, n := range metricnames.Prometheus {
		require.Contains(t, fams, n)
	}
	require.Equal(t, dto.MetricType_HISTOGRAM, fams[metricnames.PromBodyBytes].GetType())
	require.Equal(t, dto.MetricType_COUNTER, fams[metricnames.PromRejected].GetType())

	label := func(mt *dto.Metric, k string) string {
		for _, l := range mt.GetLabel() {
			if l.GetName() == k {
				return l.GetValue()
			}
		}
		return ""
	}
	var body *dto.Histogram
	for _, mt := range fams[metricnames.PromBodyBytes].GetMetric() {
		if label(mt, "source") == "std" {
			body = mt.GetHistogram()
		}
	}
	require.NotNil(t, body)
	require.EqualValues(t, 4, body.GetSampleCount())
	require.EqualValues(t, 10+256+300+2000, body.GetSampleSum())
	cum := map[float64]uint64{}
	for _, b := range body.GetBucket() {
		cum[b.GetUpperBound()] = b.GetCumulativeCount()
	}
	require.EqualValues(t, 2, cum[256], "le is inclusive: 10 and 256")
	require.EqualValues(t, 3, cum[1024])
	require.EqualValues(t, 4, cum[4096])

	statuses := map[string]float64{}
	for _, mt := range fams[metricnames.PromRejected].GetMetric() {
		statuses[label(mt, "source")+" "+label(mt, "status")] = mt.GetCounter().GetValue()
	}
	require.Equal(t, map[string]float64{"gh 401": 1, "gh 405": 1}, statuses)
}
