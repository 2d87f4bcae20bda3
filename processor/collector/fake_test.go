package collector

import (
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/smithy-go/encoding/cbor"
)

// fakeCloudWatch is an HTTP server that answers PutMetricData as CloudWatch
// does (Smithy RPC v2 CBOR, what the SDK speaks) and records every call.
type fakeCloudWatch struct {
	srv   *httptest.Server
	mu    sync.Mutex
	calls []putCall
	fail  bool // answer 500 (CloudWatch unavailable)
}

type putCall struct {
	Namespace string
	Data      []recordedDatum
}

type recordedDatum struct {
	Name       string
	Value      float64
	At         time.Time
	Unit       string
	Resolution int
	Dimensions map[string]string
}

func newFakeCloudWatch(t *testing.T) *fakeCloudWatch {
	f := &fakeCloudWatch{}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve(t)))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeCloudWatch) serve(t *testing.T) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/operation/PutMetricData") || r.Header.Get("Authorization") == "" {
			t.Errorf("fake CloudWatch: unexpected %s %s (signed: %v)", r.Method, r.URL.Path, r.Header.Get("Authorization") != "")
			http.Error(w, "unexpected", http.StatusBadRequest)
			return
		}
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				t.Errorf("fake CloudWatch: gzip: %v", err)
				return
			}
			body = zr
		}
		raw, _ := io.ReadAll(body)
		f.mu.Lock()
		fail := f.fail
		f.mu.Unlock()
		if fail {
			w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
			w.Header().Set("Content-Type", "application/cbor")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write(cbor.Encode(cbor.Map{"__type": cbor.String("InternalServiceFault"), "message": cbor.String("down")}))
			return
		}
		v, err := cbor.Decode(raw)
		if err != nil {
			t.Errorf("fake CloudWatch: body is not CBOR: %v", err)
			return
		}
		in, _ := plainCBOR(v).(map[string]any)
		call := putCall{Namespace: str(in["Namespace"])}
		list, _ := in["MetricData"].([]any)
		for _, e := range list {
			m, _ := e.(map[string]any)
			d := recordedDatum{Name: str(m["MetricName"]), Unit: str(m["Unit"]), Dimensions: map[string]string{}}
			d.Value, _ = m["Value"].(float64)
			if ts, ok := m["Timestamp"].(float64); ok {
				d.At = time.Unix(0, int64(ts*1e9))
			}
			if res, ok := m["StorageResolution"].(float64); ok {
				d.Resolution = int(res)
			}
			dims, _ := m["Dimensions"].([]any)
			for _, x := range dims {
				dm, _ := x.(map[string]any)
				d.Dimensions[str(dm["Name"])] = str(dm["Value"])
			}
			call.Data = append(call.Data, d)
		}
		f.mu.Lock()
		f.calls = append(f.calls, call)
		f.mu.Unlock()
		w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
		w.Header().Set("Content-Type", "application/cbor")
		_, _ = w.Write(cbor.Encode(cbor.Map{}))
	}
}

func str(v any) string { s, _ := v.(string); return s }

// plainCBOR turns decoded CBOR into plain Go values; numbers become
// float64, epoch-seconds timestamps (tag 1) their float.
func plainCBOR(v cbor.Value) any {
	switch x := v.(type) {
	case cbor.Map:
		m := map[string]any{}
		for k, e := range x {
			m[k] = plainCBOR(e)
		}
		return m
	case cbor.List:
		var l []any
		for _, e := range x {
			l = append(l, plainCBOR(e))
		}
		return l
	case cbor.String:
		return string(x)
	case cbor.Uint:
		return float64(x)
	case cbor.NegInt:
		return -float64(x)
	case cbor.Float32:
		return float64(x)
	case cbor.Float64:
		return float64(x)
	case *cbor.Tag:
		return plainCBOR(x.Value)
	case cbor.Bool:
		return bool(x)
	}
	return nil
}

// data is every datum recorded so far, in order.
func (f *fakeCloudWatch) data() []recordedDatum {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []recordedDatum
	for _, c := range f.calls {
		out = append(out, c.Data...)
	}
	return out
}

func (f *fakeCloudWatch) setFail(v bool) {
	f.mu.Lock()
	f.fail = v
	f.mu.Unlock()
}

// publisher is the production publisher pointed at the fake, with static
// credentials (requests are signed as in production).
func (f *fakeCloudWatch) publisher(stack string) *CloudWatch {
	client := cloudwatch.New(cloudwatch.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(f.srv.URL),
		Credentials:      aws.NewCredentialsCache(staticCreds{}),
		RetryMaxAttempts: 1,
	})
	return &CloudWatch{Client: client, Stack: stack}
}

type staticCreds struct{}

func (staticCreds) Retrieve(context.Context) (aws.Credentials, error) {
	return aws.Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: "secret", Source: "test"}, nil
}
