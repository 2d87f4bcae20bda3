package receiver_test

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookline/hookline/internal/envelope"
)

// catalogDoc has one source per HMAC provider of the catalog, each with a
// rotated-out secret listed first.
var catalogDoc = fmt.Sprintf(`
origin_secrets: [%[1]q]
sources:
  - {name: shopify, hosts: [%[2]s], scheme: shopify, secrets: [old, k-shopify]}
  - {name: slack, hosts: [%[2]s], scheme: slack, secrets: [old, k-slack]}
  - {name: paddle, hosts: [%[2]s], scheme: paddle, secrets: [old, k-paddle]}
  - {name: linear, hosts: [%[2]s], scheme: linear, secrets: [old, k-linear]}
  - {name: zoom, hosts: [%[2]s], scheme: zoom, secrets: [old, k-zoom]}
  - {name: square, hosts: [%[2]s], scheme: square, secrets: [old, k-square], signed_url: "https://%[2]s/webhooks/square"}
  - {name: hubspot, hosts: [%[2]s], scheme: hubspot, secrets: [old, k-hubspot], signed_url: "https://%[2]s/webhooks/hubspot"}
  - {name: intercom, hosts: [%[2]s], scheme: intercom, secrets: [old, k-intercom]}
  - {name: mailgun, hosts: [%[2]s], scheme: mailgun, secrets: [old, k-mailgun]}
  - {name: typeform, hosts: [%[2]s], scheme: typeform, secrets: [old, k-typeform]}
  - {name: calendly, hosts: [%[2]s], scheme: calendly, secrets: [old, k-calendly]}
  - {name: meta, hosts: [%[2]s], scheme: meta, secrets: [old, k-meta], handshake_token: verify-me}
  - {name: x, hosts: [%[2]s], scheme: x, secrets: [k-x, old]}
  - {name: dropbox, hosts: [%[2]s], scheme: dropbox, secrets: [old, k-dropbox]}
  - {name: pagerduty, hosts: [%[2]s], scheme: pagerduty, secrets: [old, k-pagerduty]}
  - {name: sentry, hosts: [%[2]s], scheme: sentry, secrets: [old, k-sentry]}
  - {name: bitbucket, hosts: [%[2]s], scheme: bitbucket, secrets: [old, k-bitbucket]}
  - {name: twilio, hosts: [%[2]s], scheme: twilio, secrets: [old, k-twilio], signed_url: "https://%[2]s/webhooks/twilio"}
`, originSecret, host)

func hm(h func() hash.Hash, key string, parts ...string) []byte {
	m := hmac.New(h, []byte(key))
	for _, p := range parts {
		m.Write([]byte(p))
	}
	return m.Sum(nil)
}

func hx(b []byte) string  { return hex.EncodeToString(b) }
func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// catalogRequest signs body for source as its provider would at now.
func catalogRequest(source, body string, now time.Time) *http.Request {
	k := "k-" + source
	ts := strconv.FormatInt(now.Unix(), 10)
	ms := strconv.FormatInt(now.UnixMilli(), 10)
	r := request("POST", "/webhooks/"+source, []byte(body))
	h := r.Header
	switch source {
	case "shopify":
		h.Set("X-Shopify-Hmac-Sha256", b64(hm(sha256.New, k, body)))
	case "slack":
		h.Set("X-Slack-Request-Timestamp", ts)
		h.Set("X-Slack-Signature", "v0="+hx(hm(sha256.New, k, "v0:", ts, ":", body)))
	case "paddle":
		h.Set("Paddle-Signature", "ts="+ts+";h1="+hx(hm(sha256.New, k, ts, ":", body)))
	case "linear":
		h.Set("Linear-Signature", hx(hm(sha256.New, k, body)))
	case "zoom":
		h.Set("X-Zm-Request-Timestamp", ts)
		h.Set("X-Zm-Signature", "v0="+hx(hm(sha256.New, k, "v0:", ts, ":", body)))
	case "square":
		h.Set("X-Square-Hmacsha256-Signature", b64(hm(sha256.New, k, "https://"+host+"/webhooks/square", body)))
	case "hubspot":
		h.Set("X-Hubspot-Request-Timestamp", ms)
		h.Set("X-Hubspot-Signature-V3", b64(hm(sha256.New, k, "POST", "https://"+host+"/webhooks/hubspot", body, ms)))
	case "intercom":
		h.Set("X-Hub-Signature", "sha1="+hx(hm(sha1.New, k, body)))
	case "typeform":
		h.Set("Typeform-Signature", "sha256="+b64(hm(sha256.New, k, body)))
	case "calendly":
		h.Set("Calendly-Webhook-Signature", "t="+ts+",v1="+hx(hm(sha256.New, k, ts, ".", body)))
	case "meta":
		h.Set("X-Hub-Signature-256", "sha256="+hx(hm(sha256.New, k, body)))
	case "x":
		h.Set("X-Twitter-Webhooks-Signature", "sha256="+b64(hm(sha256.New, k, body)))
	case "dropbox":
		h.Set("X-Dropbox-Signature", hx(hm(sha256.New, k, body)))
	case "pagerduty":
		h.Set("X-Pagerduty-Signature", "v1="+hx(hm(sha256.New, k, body)))
	case "sentry":
		h.Set("Sentry-Hook-Signature", hx(hm(sha256.New, k, body)))
		h.Set("Sentry-Hook-Resource", "issue")
	case "bitbucket":
		h.Set("X-Hub-Signature", "sha256="+hx(hm(sha256.New, k, body)))
		h.Set("X-Event-Key", "repo:push")
	case "twilio":
		// body is a form: the signed string is the URL + sorted name/value pairs.
		h.Set("Content-Type", "application/x-www-form-urlencoded")
		h.Set("X-Twilio-Signature", b64(hm(sha1.New, k, "https://"+host+"/webhooks/twilio", twilioParams(body))))
	}
	return r
}

func twilioParams(form string) string {
	// The test forms are already sorted by name with unescaped values.
	var b strings.Builder
	for _, kv := range strings.Split(form, "&") {
		n, v, _ := strings.Cut(kv, "=")
		b.WriteString(n + v)
	}
	return b.String()
}

// catalogBody is a body in the shape of each provider's documentation.
func catalogBody(source string, now time.Time) string {
	switch source {
	case "linear":
		return fmt.Sprintf(`{"action":"create","type":"Issue","webhookTimestamp":%d}`, now.UnixMilli())
	case "mailgun":
		ts := strconv.FormatInt(now.Unix(), 10)
		tok := fmt.Sprintf("tok%d", now.UnixNano())
		return fmt.Sprintf(`{"signature":{"timestamp":%q,"token":%q,"signature":%q},"event-data":{"id":"ev1","event":"delivered"}}`,
			ts, tok, hx(hm(sha256.New, "k-mailgun", ts, tok)))
	case "twilio":
		return "AccountSid=AC1&MessageSid=SM1&MessageStatus=delivered"
	case "hubspot":
		return `[{"eventId":42,"subscriptionType":"contact.creation"}]`
	case "pagerduty":
		return `{"event":{"id":"01DEN","event_type":"incident.triggered"}}`
	}
	return fmt.Sprintf(`{"id":"e-%s","event_id":"e-%s","type":"t","n":%d}`, source, source, now.UnixNano())
}

var catalogSources = []string{"shopify", "slack", "paddle", "linear", "zoom", "square", "hubspot", "intercom", "mailgun",
	"typeform", "calendly", "meta", "x", "dropbox", "pagerduty", "sentry", "bitbucket", "twilio"}

// Through the real handler and broker, in both modes, every provider of
// the catalog: its signed delivery is accepted and published once, and
// what DESIGN.md's table says for spoiled ones (401 for a bad signature,
// 431 for oversized headers, never a 5xx), nothing published for those.
func TestCatalogThroughReceiver(t *testing.T) {
	t.Parallel()
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			e := newEnvDoc(t, "", catalogDoc)
			for _, src := range catalogSources {
				now := time.Now()
				body := catalogBody(src, now)
				status, _, out := tr.send(t, e, catalogRequest(src, body, now))
				require.Equal(t, 202, status, "%s: %s", src, out)
				msgs := e.drain(t)
				require.Len(t, msgs, 1, src)
				require.Equal(t, body, string(msgs[0].Body), src)
				got, err := envelope.FromDelivery(msgs[0])
				require.NoError(t, err)
				require.Equal(t, src, got.Source)

				spoiled := map[string]struct {
					r    func() *http.Request
					want int
				}{
					"tampered": {func() *http.Request {
						if src == "mailgun" { // the body is not signed: a reused token is the spoil
							return catalogRequest(src, body, now)
						}
						r := catalogRequest(src, body, now)
						b := body + " "
						if src == "twilio" {
							b = strings.Replace(body, "delivered", "failed", 1)
						}
						return withBody(r, b)
					}, 401},
					"oversized headers": {func() *http.Request {
						r := catalogRequest(src, catalogBody(src, time.Now()), time.Now())
						r.Header.Set("X-Pad", strings.Repeat("p", 11000))
						return r
					}, 431},
					"stale": {func() *http.Request {
						at := time.Now().Add(-2 * time.Hour)
						return catalogRequest(src, catalogBody(src, at), at)
					}, map[bool]int{true: 401, false: 202}[timestamped(src)]},
				}
				for name, c := range spoiled {
					status, _, out := tr.send(t, e, c.r())
					require.Equal(t, c.want, status, "%s %s: %s", src, name, out)
					require.Less(t, status, 500, "%s %s: never 5xx for bad input", src, name)
					if c.want != 202 {
						require.Empty(t, e.drain(t), "%s %s: nothing published", src, name)
					} else {
						e.drain(t)
					}
				}
			}
		})
	}
}

func timestamped(src string) bool {
	switch src {
	case "slack", "paddle", "linear", "zoom", "hubspot", "mailgun", "calendly":
		return true
	}
	return false
}

func withBody(r *http.Request, body string) *http.Request {
	n := request(r.Method, r.URL.RequestURI(), []byte(body))
	n.Header = r.Header.Clone()
	return n
}

// The handshakes of the catalog, answered by the receiver with nothing
// published: slack and zoom (signed POSTs), meta and x (GETs).
func TestCatalogHandshakes(t *testing.T) {
	t.Parallel()
	e := newEnvDoc(t, "", catalogDoc)
	now := time.Now()

	status, hdr, out := overHTTP(t, e, catalogRequest("slack", `{"type":"url_verification","challenge":"ch-1","token":"x"}`, now))
	require.Equal(t, 200, status, string(out))
	require.JSONEq(t, `{"challenge":"ch-1"}`, string(out))
	require.Equal(t, "application/json", hdr.Get("Content-Type"))

	status, _, out = overHTTP(t, e, catalogRequest("zoom", `{"event":"endpoint.url_validation","payload":{"plainToken":"pt-1"}}`, now))
	require.Equal(t, 200, status, string(out))
	var js map[string]string
	require.NoError(t, json.Unmarshal(out, &js))
	require.Equal(t, hx(hm(sha256.New, "k-zoom", "pt-1")), js["encryptedToken"])

	bad := catalogRequest("zoom", `{"event":"endpoint.url_validation","payload":{"plainToken":"pt-1"}}`, now)
	bad.Header.Set("X-Zm-Signature", "v0="+strings.Repeat("0", 64))
	status, _, _ = overHTTP(t, e, bad)
	require.Equal(t, 401, status, "an unsigned validation is refused")

	status, hdr, out = overLambda(t, e, request("GET", "/webhooks/meta?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444", nil))
	require.Equal(t, 200, status, string(out))
	require.Equal(t, "1158201444", string(out))
	require.Equal(t, "nosniff", hdr.Get("X-Content-Type-Options"))
	status, _, _ = overLambda(t, e, request("GET", "/webhooks/meta?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1", nil))
	require.Equal(t, 401, status)

	status, _, out = overHTTP(t, e, request("GET", "/webhooks/x?crc_token=abc", nil))
	require.Equal(t, 200, status, string(out))
	require.NoError(t, json.Unmarshal(out, &js))
	require.Equal(t, "sha256="+b64(hm(sha256.New, "k-x", "abc")), js["response_token"], "answered with the first listed secret")

	status, _, _ = overHTTP(t, e, request("GET", "/webhooks/slack?challenge=1", nil))
	require.Equal(t, 405, status, "slack's handshake is a POST: no GET")

	// Malformed for the scheme: 400.
	status, _, _ = overHTTP(t, e, request("POST", "/webhooks/mailgun", []byte("%zz")))
	require.Equal(t, 400, status)
	r := catalogRequest("twilio", "A=1", now)
	r = withBody(r, "%zz")
	status, _, _ = overHTTP(t, e, r)
	require.Equal(t, 400, status)

	require.Empty(t, e.drain(t), "handshakes publish nothing")
}
