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
// the message id is the bounded form, the same for the same request sent
// twice, with the original id in x-provider-id and the media type alone as
// content type.
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
	for _, tr := range []struct {
		name string
		send transport
	}{{"http", overHTTP}, {"lambda", overLambda}} {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, "")
			for _, source := range []string{"std", "gh", "stripe"} {
				sum := sha256.Sum256([]byte(source + "\x00" + longID))
				want := "sha256:" + hex.EncodeToString(sum[:])
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
