package receiver

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// HandleAPIGateway serves an API Gateway HTTP API (payload 2.0) event with
// the same handler as local HTTP mode.
func (h *Handler) HandleAPIGateway(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	r, status := h.requestFromEvent(ctx, ev)
	if r == nil {
		if h.metrics != nil {
			h.metrics.observe(result{status: status})
		}
		return jsonResponse(status, `{"error":"body too large"}`), nil
	}
	w := &responseRecorder{header: http.Header{}, status: http.StatusOK}
	h.ServeHTTP(w, r)
	resp := events.APIGatewayV2HTTPResponse{StatusCode: w.status, Body: w.body.String(), Headers: map[string]string{}}
	for k, vs := range w.header {
		resp.Headers[k] = strings.Join(vs, ",")
	}
	return resp, nil
}

// requestFromEvent rebuilds the http.Request; a base64 body too large for any
// source is refused before it is decoded.
func (h *Handler) requestFromEvent(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (*http.Request, int) {
	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		if int64(base64.StdEncoding.DecodedLen(len(ev.Body))) > h.sources.MaxBodyBytes()+3 {
			return nil, http.StatusRequestEntityTooLarge
		}
		dec, err := base64.StdEncoding.DecodeString(ev.Body)
		if err != nil {
			// API Gateway never sends bad base64; treat it as an empty body,
			// which fails signature checks rather than passing them.
			dec = nil
		}
		body = dec
	}
	path := ev.RawPath
	if path == "" {
		path = ev.RequestContext.HTTP.Path
	}
	u := &url.URL{Path: path, RawQuery: ev.RawQueryString}
	r, _ := http.NewRequestWithContext(WithRequestID(ctx, ev.RequestContext.RequestID), ev.RequestContext.HTTP.Method, u.String(), bytes.NewReader(body))
	if r == nil { // an unparsable method or path
		r, _ = http.NewRequestWithContext(ctx, http.MethodGet, "/", http.NoBody)
		r.URL.Path = "/invalid"
	}
	for k, v := range ev.Headers {
		// API Gateway joins repeated headers with commas.
		r.Header.Set(k, v)
	}
	r.Host = r.Header.Get("Host")
	if r.Host == "" {
		r.Host = ev.RequestContext.DomainName
	}
	r.Header.Del("Host")
	r.ContentLength = int64(len(body))
	return r, 0
}

func jsonResponse(status int, body string) events.APIGatewayV2HTTPResponse {
	return events.APIGatewayV2HTTPResponse{StatusCode: status, Body: body, Headers: map[string]string{"Content-Type": "application/json"}}
}

// responseRecorder is the minimal http.ResponseWriter the adapter needs.
type responseRecorder struct {
	header http.Header
	status int
	body   bytes.Buffer
	wrote  bool
}

func (w *responseRecorder) Header() http.Header { return w.header }

func (w *responseRecorder) WriteHeader(status int) {
	if !w.wrote {
		w.status, w.wrote = status, true
	}
}

func (w *responseRecorder) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(b)
}
