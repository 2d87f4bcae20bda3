package webhooksig

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// providerVector is one provider's signed request. None of these providers
// publishes a test vector or an official Go SDK with a verifier that the
// module proxy here serves, so each signature was derived independently of
// this code with openssl, e.g. for shopify:
//
//	printf '%s' "$BODY" | openssl dgst -sha256 -hmac shpss_secret -binary | base64
//
// (hex: without -binary | base64; intercom: -sha1), over bodies in the
// shape each provider's documentation shows.
type providerVector struct {
	scheme, secret, header, sig, body string
	extra                             http.Header // unsigned headers the provider sends
	now                               time.Time
	id                                string
	idSigned                          bool
	typ                               string
}

var bodyVectors = []providerVector{
	{scheme: Bitbucket, secret: "bb-secret", header: "X-Hub-Signature",
		sig:   "sha256=4f7632d7715f792b202bf0319020a30dd3192dcb9b31a34298934be78ac6673e",
		body:  `{"push":{"changes":[]},"repository":{"full_name":"team/repo"}}`,
		extra: http.Header{"X-Event-Key": {"repo:push"}, "X-Request-Uuid": {"afd6c3ea-1b0e-4f5c-9f36-1a5b8c2a2b11"}},
		id:    "afd6c3ea-1b0e-4f5c-9f36-1a5b8c2a2b11", typ: "repo:push"},
	{scheme: Intercom, secret: "ic-secret", header: "X-Hub-Signature",
		sig:  "sha1=c91c8052062e0cc2185cde85649733aa12830bde",
		body: `{"type":"notification_event","id":"notif_ccd8a4d0-f965-11e3-a367-c779cae3e1b3","topic":"conversation.user.created","created_at":1392731331}`,
		id:   "notif_ccd8a4d0-f965-11e3-a367-c779cae3e1b3", idSigned: true, typ: "conversation.user.created"},
	{scheme: Linear, secret: "lin-secret", header: "Linear-Signature",
		sig:   "fdbc1c3d9508e4ae5c4807fc3f4334e9b41b1f35dfc8b684d88988fa376d4bff",
		body:  `{"action":"create","type":"Issue","data":{"id":"2174add1"},"webhookTimestamp":1700000000000,"webhookId":"000042e3"}`,
		extra: http.Header{"Linear-Delivery": {"234d1a4e-b617-4388-90fe-adc3633d6b72"}, "Linear-Event": {"Issue"}},
		now:   time.UnixMilli(1700000000000).Add(30 * time.Second),
		id:    "234d1a4e-b617-4388-90fe-adc3633d6b72", typ: "Issue.create"},
	{scheme: Meta, secret: "meta-app-secret", header: "X-Hub-Signature-256",
		sig:  "sha256=096ef4d1a2468a77c47f48f61e2a6c04c5f2b3bc300673cc50dbb07fbf939d85",
		body: `{"object":"page","entry":[{"id":"0","time":1700000000,"changes":[{"field":"feed"}]}]}`,
		typ:  "page"},
	{scheme: Sentry, secret: "sentry-client-secret", header: "Sentry-Hook-Signature",
		sig:   "cb3ecb6d980571ea5a0898dcf0d23cbd617aa27e463c16a9f2b3a7efbefe8341",
		body:  `{"action":"created","data":{"issue":{"id":"1"}},"installation":{"uuid":"7a485448"}}`,
		extra: http.Header{"Sentry-Hook-Resource": {"issue"}, "Sentry-Hook-Timestamp": {"1700000000"}, "Request-Id": {"9b3a2c"}},
		id:    "9b3a2c", typ: "issue.created"},
	{scheme: Shopify, secret: "shpss_secret", header: "X-Shopify-Hmac-Sha256",
		sig:   "pXEityHOO3G3xRJ2XTIzrN0Hzx6sI9gOPfz6LPIicY4=",
		body:  `{"id":820982911946154508,"email":"jon@doe.ca","total_price":"254.98"}`,
		extra: http.Header{"X-Shopify-Topic": {"orders/create"}, "X-Shopify-Webhook-Id": {"b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"}},
		id:    "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043", typ: "orders/create"},
	{scheme: Typeform, secret: "tf-secret", header: "Typeform-Signature",
		sig:  "sha256=k69dcZqh539huthLsWygAIyu92dD7fE8D5im4aioUH0=",
		body: `{"event_id":"01H8XAMPLE","event_type":"form_response","form_response":{"form_id":"lT4Z3j"}}`,
		id:   "01H8XAMPLE", idSigned: true, typ: "form_response"},
	{scheme: X, secret: "x-consumer-secret", header: "X-Twitter-Webhooks-Signature",
		sig:  "sha256=1XqU5TrD8UefLqQEtDYxwe/XSekgaKEDeIxr14luF8k=",
		body: `{"for_user_id":"2244994945","tweet_create_events":[{"id_str":"1"}]}`,
		typ:  "tweet_create_events"},
}

func (pv providerVector) config(secrets ...string) Config {
	c := Config{Scheme: pv.scheme, Secrets: secrets}
	if pv.scheme == Meta {
		c.HandshakeToken = "meta-verify-token"
	}
	return c
}

func (pv providerVector) request() *Request {
	h := pv.extra.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set(pv.header, pv.sig)
	return post(h, []byte(pv.body))
}

func (pv providerVector) clock() time.Time {
	if pv.now.IsZero() {
		return time.Unix(1700000000, 0)
	}
	return pv.now
}

func TestBodyProviders(t *testing.T) {
	for _, pv := range bodyVectors {
		t.Run(pv.scheme, func(t *testing.T) {
			v, err := NewVerifier(pv.config("rotated-newer", pv.secret))
			require.NoError(t, err)
			d, err := v.Verify(context.Background(), pv.request(), pv.clock())
			require.NoError(t, err, "the older of two secrets verifies")
			require.Equal(t, pv.id, d.ID)
			require.Equal(t, pv.idSigned, d.IDSigned)
			require.Equal(t, pv.typ, d.EventType)
			require.NotEqual(t, [32]byte{}, d.MAC)

			wrong, err := NewVerifier(pv.config("wrong-secret"))
			require.NoError(t, err)
			_, err = wrong.Verify(context.Background(), pv.request(), pv.clock())
			require.ErrorIs(t, err, ErrSignatureMismatch, "wrong secret")

			prefix := bodyProviders[pv.scheme].prefix
			runNegative(t, v, pv.request, pv.clock(), []negCase{
				{"tampered body", tamperBody, ErrSignatureMismatch},
				{"missing signature", delHeader(pv.header), ErrMissingSignature},
				{"empty signature", setHeader(pv.header, ""), ErrMissingSignature},
				{"garbage", setHeader(pv.header, prefix+"!!!"), ErrMalformedSignature},
				{"truncated", setHeader(pv.header, pv.sig[:len(pv.sig)-4]), ErrMalformedSignature},
				{"oversized header", hugeHeader(pv.header), ErrMalformedSignature},
				{"too many signature lines", func(r *Request) {
					for i := 0; i < 20; i++ {
						r.Header.Add(pv.header, prefix+"x")
					}
				}, ErrMalformedSignature},
			})
		})
	}
}

// The MAC of an HMAC-SHA1 provider is recorded as its SHA-256, so
// Delivery.MAC is always 32 bytes of what was signed.
func TestIntercomMACIsSHA256OfSHA1(t *testing.T) {
	pv := bodyVectors[1]
	v, err := NewVerifier(pv.config(pv.secret))
	require.NoError(t, err)
	d, err := v.Verify(context.Background(), pv.request(), pv.clock())
	require.NoError(t, err)
	raw, _ := decodeMAC("c91c8052062e0cc2185cde85649733aa12830bde", encHex, 20)
	require.Equal(t, macID(raw), d.MAC)
}

func TestLinearTimestamp(t *testing.T) {
	pv := bodyVectors[2]
	v, err := NewVerifier(pv.config(pv.secret))
	require.NoError(t, err)
	sent := time.UnixMilli(1700000000000)
	for _, c := range []struct {
		now  time.Time
		want error
	}{
		{sent.Add(LinearTolerance), nil},
		{sent.Add(-LinearTolerance), nil},
		{sent.Add(LinearTolerance + time.Second), ErrTimestampOutOfTolerance},
		{sent.Add(-LinearTolerance - time.Second), ErrTimestampOutOfTolerance},
	} {
		_, err := v.Verify(context.Background(), pv.request(), c.now)
		if c.want == nil {
			require.NoError(t, err)
		} else {
			require.ErrorIs(t, err, c.want)
		}
	}
	// A signed body without webhookTimestamp is malformed for linear.
	body := `{"type":"Issue"}`
	r := post(http.Header{"Linear-Signature": {hexString(mac([]byte(pv.secret), body))}}, []byte(body))
	_, err = v.Verify(context.Background(), r, sent)
	require.ErrorIs(t, err, ErrMalformedRequest)
}

func TestMetaHandshake(t *testing.T) {
	pv := bodyVectors[3]
	_, err := NewVerifier(Config{Scheme: Meta, Secrets: []string{pv.secret}})
	require.ErrorContains(t, err, "handshake_token: required")
	v, err := NewVerifier(pv.config(pv.secret))
	require.NoError(t, err)
	hs := v.(Handshaker)
	resp, err := hs.Handshake(context.Background(), get("hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meta-verify-token"), time.Now())
	require.NoError(t, err)
	require.Equal(t, "1158201444", string(resp.Body))
	require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	for q, want := range map[string]error{
		"hub.mode=subscribe&hub.challenge=1&hub.verify_token=wrong":               ErrSignatureMismatch,
		"hub.mode=subscribe&hub.challenge=1":                                      ErrSignatureMismatch,
		"hub.mode=unsubscribe&hub.challenge=1&hub.verify_token=meta-verify-token": ErrMalformedRequest,
		"hub.mode=subscribe&hub.verify_token=meta-verify-token":                   ErrMalformedRequest,
		"": ErrMalformedRequest,
	} {
		_, err := hs.Handshake(context.Background(), get(q), time.Now())
		require.ErrorIs(t, err, want, q)
	}
	resp, err = hs.Handshake(context.Background(), pv.request(), time.Now())
	require.NoError(t, err)
	require.Nil(t, resp, "a POST is a delivery")
}

func TestXCRC(t *testing.T) {
	pv := bodyVectors[7]
	v, err := NewVerifier(pv.config(pv.secret, "older"))
	require.NoError(t, err)
	hs := v.(Handshaker)
	resp, err := hs.Handshake(context.Background(), get("crc_token=challenge-abc"), time.Now())
	require.NoError(t, err)
	var js map[string]string
	require.NoError(t, json.Unmarshal(resp.Body, &js))
	// printf challenge-abc | openssl dgst -sha256 -hmac x-consumer-secret -binary | base64
	require.Equal(t, "sha256=+6mRpQACt1mar3JZwrz18kfFWJ3fmgsQR/hWXDjLuFk=", js["response_token"])
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	for _, q := range []string{"", "crc_token=", "crc_token=%7B%22a%22%3A1%7D", "crc_token=a%20b", "crc_token=" + strings.Repeat("a", 257)} {
		_, err := hs.Handshake(context.Background(), get(q), time.Now())
		require.ErrorIs(t, err, ErrMalformedRequest, q)
	}
	// A CRC answer is no delivery signature: its token cannot be a JSON
	// object, and a body that is not one is refused even when its MAC is
	// right (here the MAC of the CRC token itself).
	r := post(http.Header{"X-Twitter-Webhooks-Signature": {js["response_token"]}}, []byte("challenge-abc"))
	_, err = v.Verify(context.Background(), r, time.Now())
	require.ErrorIs(t, err, ErrMalformedRequest)
}
