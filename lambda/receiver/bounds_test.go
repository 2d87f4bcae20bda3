package receiver_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookline/hookline/internal/envelope"
	"github.com/hookline/hookline/internal/webhooksig"
	"github.com/hookline/hookline/lambda/receiver"
)

// TestOverlongFieldsAccepted: a valid, signed webhook whose provider id is
// 300 bytes (standard's webhook-id, GitHub's X-GitHub-Delivery, Stripe's
// body id), sent with a 300-byte Content-Type, is accepted in both modes;
// the message id is the bounded form (for GitHub, whose delivery id is
// unsigned, the MAC form), the same for the same request sent twice, with
// the original id in x-provider-id and the media type alone as content type.
func TestOverlongFieldsAccepted(t *testing.T) {
	t.Parallel()
	longID := "id_" + strings.Repeat("x", 297)
	contentType := "application/json; charset=utf-8; pad=" + strings.Repeat("p", 300-37)
	require.Len(t, contentType, 300)
	at := time.Now()
	request := func(t *testing.T, source string) *http.Request {
		body := []byte(`{"type":"invoice.paid","data":{}}`)
		if source == "stripe" {
			body = []byte(fmt.Sprintf(`{"id":%q,"type":"invoice.paid"}`, longID))
		}
		r := httptest.NewRequest(http.MethodPost, "/webhooks/"+source, bytes.NewReader(body))
		r.Host = host
		r.Header.Set(receiver.OriginHeader, originSecret)
		r.Header.Set("Content-Type", contentType)
		hdr, err := webhooksig.Sign(schemeOf[source], secretOf[source], longID, at, body)
		require.NoError(t, err)
		for k, v := range hdr {
			r.Header[k] = v
		}
		return r
	}
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, "")
			for _, source := range []string{"std", "gh", "stripe"} {
				sum := sha256.Sum256([]byte(source + "\x00" + longID))
				want := "sha256:" + hex.EncodeToString(sum[:])
				if source == "gh" {
					// X-GitHub-Delivery is unsigned: the id comes from the MAC.
					want = macID(t, source, request(t, source))
				}
				for range 2 {
					status, _, out := tr.send(t, e, request(t, source))
					require.Equal(t, 202, status, "%s: %s", source, out)
					var js map[string]string
					require.NoError(t, json.Unmarshal(out, &js))
					require.Equal(t, want, js["id"], source)
				}
				msgs := e.drain(t)
				require.Len(t, msgs, 2, source)
				for _, m := range msgs {
					require.Equal(t, want, m.MessageId, "%s: same request, same message id", source)
					require.Equal(t, longID, m.Headers[envelope.HeaderProviderID], source)
					require.Equal(t, "application/json", m.ContentType, source)
					got, err := envelope.FromDelivery(m)
					require.NoError(t, err)
					require.Equal(t, source, got.Source)
					require.Equal(t, longID, got.ProviderID)
				}
			}
		})
	}
}

// macID is what envelope.EventID makes for a scheme without a signed id,
// computed here from the request's signature header.
func macID(t *testing.T, source string, r *http.Request) string {
	t.Helper()
	var sig string
	switch schemeOf[source] {
	case webhooksig.GitHub:
		sig = strings.TrimPrefix(r.Header.Get("X-Hub-Signature-256"), "sha256=")
	case webhooksig.HMACSHA256:
		sig = r.Header.Get("X-Signature")
	default:
		t.Fatalf("%s signs its id", source)
	}
	mac, err := hex.DecodeString(sig)
	require.NoError(t, err)
	sum := sha256.Sum256(append([]byte(source+"\x00"), mac...))
	return "mac:" + hex.EncodeToString(sum[:])
}

// TestReplayWithNewDeliveryIDIsOneEvent: for schemes that sign no id or
// timestamp (github, hmac-sha256), a captured request resent with another
// delivery id, or none, gets the same message id in both modes: the
// processor stores it once. The delivery id travels as x-provider-id and is
// logged as provider_id.
func TestReplayWithNewDeliveryIDIsOneEvent(t *testing.T) {
	t.Parallel()
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, "")
			body := []byte(`{"action":"opened","number":7}`)
			for _, source := range []string{"gh", "plain"} {
				want := ""
				deliveries := []string{"d-1", "d-2", "d-3", ""}
				for _, delivery := range deliveries {
					r := signed(t, source, body, func(r *http.Request) {
						r.Header.Del("X-Github-Delivery")
						if delivery != "" {
							r.Header.Set("X-GitHub-Delivery", delivery)
						}
					})
					if want == "" {
						want = macID(t, source, r)
					}
					status, _, out := tr.send(t, e, r)
					require.Equal(t, 202, status, "%s: %s", source, out)
					var js map[string]string
					require.NoError(t, json.Unmarshal(out, &js))
					require.Equal(t, want, js["id"], "%s, delivery %q", source, delivery)
				}
				msgs := e.drain(t)
				require.Len(t, msgs, len(deliveries))
				for i, m := range msgs {
					require.Equal(t, want, m.MessageId)
					if source == "gh" && deliveries[i] != "" {
						require.Equal(t, deliveries[i], m.Headers[envelope.HeaderProviderID])
					} else {
						require.NotContains(t, m.Headers, envelope.HeaderProviderID)
					}
				}
			}
			require.Contains(t, e.logs.String(), `"provider_id":"d-2"`)
		})
	}
}
