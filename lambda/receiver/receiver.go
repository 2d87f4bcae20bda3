// Package receiver is the webhook receiver's HTTP handler: the same code
// serves API Gateway events in Lambda and plain HTTP locally. It validates a
// webhook (path, method, host, origin header, size, signature) and answers
// 202 only once the broker has confirmed the message.
package receiver

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hookline/hookline/internal/envelope"
	"github.com/hookline/hookline/internal/sources"
	"github.com/hookline/hookline/internal/webhooksig"
)

// PathPrefix is where sources live: /webhooks/<source name>.
const PathPrefix = "/webhooks/"

// MaxHeaderBytes is API Gateway HTTP API's limit for the request line and
// headers together; the local server enforces the same.
const MaxHeaderBytes = 10240

// RetryAfterSeconds is sent with every 503.
const RetryAfterSeconds = 5

// OriginHeader carries the secret Cloudflare adds to every proxied request.
const OriginHeader = "X-Origin-Verify"

// Publisher is what the handler needs from the broker side.
type Publisher interface {
	Publish(ctx context.Context, e envelope.Envelope) error
}

// Handler validates and publishes webhooks.
type Handler struct {
	sources *sources.Set
	pub     Publisher
	log     *slog.Logger
	now     func() time.Time // the clock for signatures and received-at
	metrics *Metrics         // nil counts nothing
	bufs    sync.Pool
	// verifierOf is the source's verifier; tests replace it to reach
	// outcomes no configured scheme produces on demand.
	verifierOf func(*sources.Source) webhooksig.Verifier
}

// New returns a Handler for a validated sources document.
func New(set *sources.Set, pub Publisher, log *slog.Logger) *Handler {
	return &Handler{sources: set, pub: pub, log: log, now: time.Now,
		bufs:       sync.Pool{New: func() any { return new(bytes.Buffer) }},
		verifierOf: (*sources.Source).Verifier}
}

type requestIDKey struct{}

// WithRequestID lets the Lambda adapter pass API Gateway's request id in.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

func requestID(ctx context.Context) string {
	if id, ok := ctx.Value(requestIDKey{}).(string); ok && id != "" {
		return id
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ServeHTTP implements the status table of DESIGN.md.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rid := requestID(r.Context())
	res := h.serve(r, rid)

	hdr := w.Header()
	hdr.Set("X-Request-Id", rid)
	if res.reply != nil {
		writeReply(w, res.reply)
	} else {
		hdr.Set("Content-Type", "application/json")
		switch res.status {
		case http.StatusServiceUnavailable:
			hdr.Set("Retry-After", strconv.Itoa(RetryAfterSeconds))
		case http.StatusMethodNotAllowed:
			hdr.Set("Allow", res.allow)
		}
		w.WriteHeader(res.status)
		body := answer{RequestID: rid, ID: res.id}
		if res.status != http.StatusAccepted {
			body.Error = res.public
		}
		b, _ := json.Marshal(body)
		_, _ = w.Write(append(b, '\n'))
	}

	// One line per request, every attribute in one call: no per-request
	// logger clones on the hot path.
	attrs := []slog.Attr{
		slog.String("request_id", rid), slog.Int("status", res.status), slog.String("source", res.source),
		slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
	}
	level, msg := slog.LevelInfo, "webhook accepted"
	switch {
	case res.handshake:
		msg = "handshake answered"
		attrs = append(attrs, slog.String("reason", res.reason))
	case res.accepted:
		attrs = append(attrs, slog.String("message_id", res.id), slog.Int("bytes", res.bytes))
		if res.providerID != "" {
			// The provider's own id (X-GitHub-Delivery, an over-long id)
			// finds the line; cut so a header cannot bloat the log.
			attrs = append(attrs, slog.String("provider_id", cut(res.providerID, envelope.MaxShortString)))
		}
	case res.status >= 500:
		level, msg = slog.LevelError, "webhook not accepted"
		attrs = append(attrs, slog.String("reason", res.reason))
	default:
		level, msg = slog.LevelWarn, "webhook rejected"
		attrs = append(attrs, slog.String("reason", res.reason))
	}
	h.log.LogAttrs(r.Context(), level, msg, attrs...)
	if h.metrics != nil {
		h.metrics.observe(res)
	}
}

// answer is every response body: {"id"} on 202, {"error"} otherwise.
type answer struct {
	ID        string `json:"id,omitempty"`
	Error     string `json:"error,omitempty"`
	RequestID string `json:"request_id"`
}

// result is the outcome of one request: what the sender is told (public)
// and what the log says (reason; never secrets, signatures or bodies).
type result struct {
	status         int
	public, reason string
	source, id     string
	providerID     string
	bytes          int
	published      bool          // a publish was attempted
	confirm        time.Duration // publish to confirm or failure
	allow          string        // a 405's Allow header
	accepted       bool          // published and confirmed (202, or the scheme's reply)
	// reply is written instead of the JSON answer: a handshake's answer,
	// or a delivery's Reply once the broker confirmed it.
	reply       *webhooksig.Response
	handshake   bool // answered a provider's endpoint handshake; nothing published
	unavailable bool // a 503 because a verification dependency is unreachable
}

// cut returns at most n bytes of s.
func cut(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func reject(status int, public, reason string) result {
	return result{status: status, public: public, reason: reason}
}

func (h *Handler) serve(r *http.Request, rid string) result {
	name, ok := strings.CutPrefix(r.URL.Path, PathPrefix)
	if !ok || name == "" || strings.Contains(name, "/") {
		return reject(http.StatusNotFound, "not found", "unknown path")
	}
	src, ok := h.sources.Lookup(name)
	if !ok {
		return reject(http.StatusNotFound, "not found", "unknown source")
	}
	res := h.serveSource(r, rid, src)
	res.source = src.Name
	return res
}

func (h *Handler) serveSource(r *http.Request, rid string, src *sources.Source) result {
	get := r.Method == http.MethodGet && src.AcceptsGET()
	if r.Method != http.MethodPost && !get {
		res := reject(http.StatusMethodNotAllowed, "method not allowed: use POST", "method "+r.Method)
		res.allow = allowed(src)
		return res
	}
	if headerBytes(r) > MaxHeaderBytes {
		return reject(http.StatusRequestHeaderFieldsTooLarge, "request headers too large", "headers over limit")
	}
	if !src.AllowsHost(r.Host) {
		return reject(http.StatusForbidden, "forbidden", "host not allowed for source")
	}
	if want := h.sources.OriginSecrets; len(want) > 0 && !originMatches(r.Header.Get(OriginHeader), want) {
		return reject(http.StatusForbidden, "forbidden", "missing or wrong "+OriginHeader)
	}
	if r.ContentLength > src.MaxBodyBytes {
		return reject(http.StatusRequestEntityTooLarge, "body too large", "content-length over max_body_bytes")
	}
	buf := h.bufs.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= 1<<20 { // do not pin rare huge buffers
			buf.Reset()
			h.bufs.Put(buf)
		}
	}()
	buf.Reset()
	// Read at most one byte past the limit: enough to know it was exceeded,
	// never an unbounded body in memory.
	n, err := buf.ReadFrom(io.LimitReader(r.Body, src.MaxBodyBytes+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return reject(http.StatusRequestEntityTooLarge, "body too large", "body over server limit")
		}
		return reject(http.StatusBadRequest, "could not read body", "read body: "+err.Error())
	}
	if n > src.MaxBodyBytes {
		return reject(http.StatusRequestEntityTooLarge, "body too large", "body over max_body_bytes")
	}
	body := buf.Bytes()
	req := &webhooksig.Request{Method: r.Method, URL: r.URL, Header: r.Header, Body: body}
	v := h.verifierOf(src)
	if hs, ok := v.(webhooksig.Handshaker); ok {
		resp, err := hs.Handshake(r.Context(), req, h.now())
		if err != nil {
			return verifyFailure(err)
		}
		if resp != nil {
			if !is2xx(resp.Status) {
				return reject(http.StatusInternalServerError, "internal error", "handshake answer with status "+strconv.Itoa(resp.Status))
			}
			return result{status: resp.Status, reply: resp, handshake: true, reason: "handshake answered"}
		}
	}
	if get {
		// A GET is let in only for the handshake its scheme defines.
		res := reject(http.StatusMethodNotAllowed, "method not allowed: GET is only for the endpoint handshake", "GET that is not a handshake")
		res.allow = allowed(src)
		return res
	}
	d, err := v.Verify(r.Context(), req, h.now())
	if err != nil {
		return verifyFailure(err)
	}
	e := envelope.New(src.Name, d, rid, r.Header.Get("Content-Type"), body, h.now())
	pubStart := time.Now()
	err = h.pub.Publish(r.Context(), e)
	confirm := time.Since(pubStart)
	if err != nil {
		if errors.Is(err, envelope.ErrUnencodable) {
			// envelope.New bounds every field, so this is a defect here,
			// not the sender's: no Retry-After, nothing to retry.
			return reject(http.StatusInternalServerError, "internal error", err.Error())
		}
		res := reject(http.StatusServiceUnavailable, "temporarily unavailable, retry later", err.Error())
		res.published, res.confirm = true, confirm
		return res
	}
	res := result{status: http.StatusAccepted, accepted: true, id: e.ID, providerID: e.ProviderID, bytes: len(body), published: true, confirm: confirm}
	if d.Reply != nil {
		if !is2xx(d.Reply.Status) {
			// Published and confirmed, but the verifier's reply is a
			// defect: the sender retries and the processor dedupes.
			res = reject(http.StatusInternalServerError, "internal error", "delivery reply with status "+strconv.Itoa(d.Reply.Status))
			res.published, res.confirm = true, confirm
			return res
		}
		res.status, res.reply = d.Reply.Status, d.Reply
	}
	return res
}

// allowed is the Allow header of a 405 for src.
func allowed(src *sources.Source) string {
	if src.AcceptsGET() {
		return "GET, POST"
	}
	return http.MethodPost
}

// verifyFailure maps a Verify or Handshake error to DESIGN.md's table:
// 400 for a malformed request, 503 (Retry-After) when a verification
// dependency is unreachable, 401 for every signature failure.
func verifyFailure(err error) result {
	switch {
	case errors.Is(err, webhooksig.ErrMalformedRequest):
		return reject(http.StatusBadRequest, "malformed request for this source's scheme", err.Error())
	case errors.Is(err, webhooksig.ErrUnavailable):
		res := reject(http.StatusServiceUnavailable, "temporarily unavailable, retry later", err.Error())
		res.unavailable = true
		return res
	}
	return reject(http.StatusUnauthorized, publicSigError(err), err.Error())
}

func is2xx(status int) bool { return status >= 200 && status <= 299 }

// writeReply writes a scheme's own answer (a 2xx: serveSource turns any
// other status, a verifier defect, into a 500).
func writeReply(w http.ResponseWriter, r *webhooksig.Response) {
	hdr := w.Header()
	status := r.Status
	for k, vs := range r.Header {
		hdr[http.CanonicalHeaderKey(k)] = append([]string(nil), vs...)
	}
	w.WriteHeader(status)
	if len(r.Body) > 0 && status != http.StatusNoContent {
		_, _ = w.Write(r.Body)
	}
}

// publicSigError names the kind of signature failure, never the details.
func publicSigError(err error) string {
	switch {
	case errors.Is(err, webhooksig.ErrTimestampOutOfTolerance):
		return "timestamp outside tolerance"
	case errors.Is(err, webhooksig.ErrMissingSignature):
		return "missing signature"
	case errors.Is(err, webhooksig.ErrMalformedSignature):
		return "malformed signature"
	default:
		return "invalid signature"
	}
}

func headerBytes(r *http.Request) int {
	n := len(r.Method) + len(r.URL.RequestURI()) + len(r.Host) + 12
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

// originMatches reports whether got equals one of the accepted origin
// secrets. Every one is compared, in constant time, whichever matches.
func originMatches(got string, want []string) bool {
	ok := 0
	for _, w := range want {
		ok |= subtle.ConstantTimeCompare([]byte(got), []byte(w))
	}
	return ok == 1
}
