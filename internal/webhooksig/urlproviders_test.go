package webhooksig

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Twilio's published example (twilio.com/docs/usage/webhooks/webhooks-security):
// auth token 12345, URL https://mycompany.com/myapp.php?foo=1&bar=2 and
// five POST parameters sign to 0/KCTR6DLpKmkAf8muzZqo1nDgQ=. twilio-go is
// not served by the module proxy here, so no SDK cross-check.
func twilioRequest() *Request {
	body := "CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1234&From=%2B12349013030&To=%2B18005551212"
	return &Request{Method: "POST", URL: &url.URL{Path: "/webhooks/twilio", RawQuery: "foo=1&bar=2"},
		Header: http.Header{"X-Twilio-Signature": {"0/KCTR6DLpKmkAf8muzZqo1nDgQ="}, "Content-Type": {"application/x-www-form-urlencoded"}},
		Body:   []byte(body)}
}

// The other vectors were derived with openssl over the signed content each
// provider documents, e.g. for square:
//
//	printf '%s' "https://hooks.example.com/webhooks/square$BODY" | openssl dgst -sha256 -hmac sq-signature-key -binary | base64
const (
	squareBody  = `{"merchant_id":"6SSW7HV8K2ST5","type":"payment.created","event_id":"13b867cf-db3d-4b1c-90b6-2f32a9d78124","created_at":"2020-02-06T21:27:30.792Z","data":{"type":"payment","id":"hYy9pRFVxpDsO1FB05SunFWUe9JZY"}}`
	hubspotBody = `[{"eventId":1698431543,"subscriptionId":2395124,"portalId":62515,"appId":1160452,"occurredAt":1700000000000,"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeFlag":"CREATED","changeSource":"CRM"}]`
)

func squareRequest() *Request {
	return post(http.Header{"X-Square-Hmacsha256-Signature": {"lYB45ThIb6MdzNRIRPoeSZS3+pT3XqOlycrov5aKf+A="}}, []byte(squareBody))
}

// hubspotRequest: the query is received percent-encoded; HubSpot signs it
// decoded (a=b:c): printf 'POSThttps://hooks.example.com/webhooks/hubspot?a=b:c%s1700000000000' "$BODY".
func hubspotRequest() *Request {
	return &Request{Method: "POST", URL: &url.URL{Path: "/webhooks/hubspot", RawQuery: "a=b%3Ac"},
		Header: http.Header{"X-Hubspot-Signature-V3": {"pEteOUjwo/UFWqj0GJQX31r7J4EjOF5LJ/yqz1/wpOY="}, "X-Hubspot-Request-Timestamp": {"1700000000000"}},
		Body:   []byte(hubspotBody)}
}

func TestURLProviders(t *testing.T) {
	for _, c := range []struct {
		scheme, secret, signedURL, header string
		req                               func() *Request
		now                               time.Time
		id                                string
		idSigned                          bool
		typ                               string
	}{
		{Twilio, "12345", "https://mycompany.com/myapp.php?foo=1&bar=2", "X-Twilio-Signature", twilioRequest, time.Now(), "", false, ""},
		{Square, "sq-signature-key", "https://hooks.example.com/webhooks/square", "X-Square-Hmacsha256-Signature", squareRequest, time.Now(),
			"13b867cf-db3d-4b1c-90b6-2f32a9d78124", true, "payment.created"},
		{HubSpot, "hs-client-secret", "https://hooks.example.com/webhooks/hubspot", "X-Hubspot-Signature-V3", hubspotRequest, time.UnixMilli(1700000000000),
			"1698431543", true, "contact.creation"},
	} {
		t.Run(c.scheme, func(t *testing.T) {
			_, err := NewVerifier(Config{Scheme: c.scheme, Secrets: []string{c.secret}})
			require.ErrorContains(t, err, "signed_url: required")
			_, err = NewVerifier(Config{Scheme: c.scheme, Secrets: []string{c.secret}, SignedURL: "/relative"})
			require.ErrorContains(t, err, "signed_url")

			v, err := NewVerifier(Config{Scheme: c.scheme, Secrets: []string{"rotated", c.secret}, SignedURL: c.signedURL})
			require.NoError(t, err)
			d, err := v.Verify(context.Background(), c.req(), c.now)
			require.NoError(t, err)
			require.Equal(t, c.id, d.ID)
			require.Equal(t, c.idSigned, d.IDSigned)
			require.Equal(t, c.typ, d.EventType)

			other, err := NewVerifier(Config{Scheme: c.scheme, Secrets: []string{c.secret}, SignedURL: strings.Replace(c.signedURL, "https://", "https://www.", 1)})
			require.NoError(t, err)
			_, err = other.Verify(context.Background(), c.req(), c.now)
			require.ErrorIs(t, err, ErrSignatureMismatch, "the signed URL is part of what is signed")
			wrong, err := NewVerifier(Config{Scheme: c.scheme, Secrets: []string{"wrong"}, SignedURL: c.signedURL})
			require.NoError(t, err)
			_, err = wrong.Verify(context.Background(), c.req(), c.now)
			require.ErrorIs(t, err, ErrSignatureMismatch)

			cases := []negCase{
				{"tampered body", tamperBody, ErrSignatureMismatch},
				{"missing signature", delHeader(c.header), ErrMissingSignature},
				{"garbage", setHeader(c.header, "!!"), ErrMalformedSignature},
				{"oversized header", hugeHeader(c.header), ErrMalformedSignature},
				{"other query", func(r *Request) { r.URL.RawQuery = "foo=2" }, ErrSignatureMismatch},
			}
			if c.scheme == HubSpot {
				cases = append(cases,
					negCase{"stale", setHeader("X-Hubspot-Request-Timestamp", "1699999600000"), ErrTimestampOutOfTolerance},
					negCase{"future", setHeader("X-Hubspot-Request-Timestamp", "1700000400000"), ErrTimestampOutOfTolerance},
					negCase{"missing timestamp", delHeader("X-Hubspot-Request-Timestamp"), ErrMissingSignature},
					negCase{"malformed timestamp", setHeader("X-Hubspot-Request-Timestamp", "17e11"), ErrMalformedSignature},
					negCase{"other method", func(r *Request) { r.Method = "PUT" }, ErrSignatureMismatch})
			}
			if c.scheme == Twilio {
				cases = append(cases, negCase{"body not a form", func(r *Request) { r.Body = []byte("%zz") }, ErrMalformedRequest},
					negCase{"reordered still verifies? no: another value", func(r *Request) {
						r.Body = []byte(strings.Replace(string(r.Body), "Digits=1234", "Digits=1235", 1))
					}, ErrSignatureMismatch})
			}
			clone := func() *Request { return cloneReq(c.req()) }
			runNegative(t, v, clone, c.now, cases)
		})
	}
}

// Parameter order in the body does not matter to Twilio's signature (it
// sorts them); a JSON body is covered through bodySHA256.
func TestTwilioOrderAndJSON(t *testing.T) {
	v, err := NewVerifier(Config{Scheme: Twilio, Secrets: []string{"12345"}, SignedURL: "https://mycompany.com/myapp.php?foo=1&bar=2"})
	require.NoError(t, err)
	r := twilioRequest()
	r.Body = []byte("To=%2B18005551212&From=%2B12349013030&Digits=1234&Caller=%2B12349013030&CallSid=CA1234567890ABCDE")
	_, err = v.Verify(context.Background(), r, time.Now())
	require.NoError(t, err)

	jv, err := NewVerifier(Config{Scheme: Twilio, Secrets: []string{"12345"}, SignedURL: "https://hooks.example.com/webhooks/twilio"})
	require.NoError(t, err)
	body := `{"type":"com.twilio.messaging.message.delivered","id":"EZ1"}`
	sum := "112b945e40eeacff34b663124e122c3772e8ac2de972171763421e3ece4fb01c" // sha256sum of body
	jr := func() *Request {
		return &Request{Method: "POST", URL: &url.URL{Path: "/webhooks/twilio", RawQuery: "bodySHA256=" + sum},
			// printf 'https://hooks.example.com/webhooks/twilio?bodySHA256=%s' "$sum" | openssl dgst -sha1 -hmac 12345 -binary | base64
			Header: http.Header{"X-Twilio-Signature": {"judUKPg/BxjuEaNhjJv5jyLuCRw="}, "I-Twilio-Idempotency-Token": {"idem-1"}},
			Body:   []byte(body)}
	}
	d, err := jv.Verify(context.Background(), jr(), time.Now())
	require.NoError(t, err)
	require.Equal(t, "idem-1", d.ID)
	require.False(t, d.IDSigned, "the idempotency token is not signed")
	runNegative(t, jv, jr, time.Now(), []negCase{
		{"body changed", tamperBody, ErrSignatureMismatch},
		{"bodySHA256 not hex", func(r *Request) { r.URL.RawQuery = "bodySHA256=xyz" }, ErrMalformedRequest},
	})
}

func mailgunBody(ts, token, sig string) []byte {
	return []byte(`{"signature":{"timestamp":"` + ts + `","token":"` + token + `","signature":"` + sig + `"},"event-data":{"id":"CPgfbmQMTCKtHW6uIWtuVe","event":"delivered"}}`)
}

// Mailgun signs timestamp + token, not the body
// (documentation.mailgun.com, "Securing webhooks"); the vector was derived
// with printf 1529006854a8ce0edb… | openssl dgst -sha256 -hmac mg-signing-key.
func TestMailgun(t *testing.T) {
	const ts, tok, sig = "1529006854", "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0", "13419fb6afd047225d098b7f6b002a4f061022ad3bc2e9b153326308345dcfa0"
	now := time.Unix(1529006854, 0)
	newV := func() Verifier {
		v, err := NewVerifier(Config{Scheme: Mailgun, Secrets: []string{"rotated", "mg-signing-key"}})
		require.NoError(t, err)
		return v
	}
	v := newV()
	d, err := v.Verify(context.Background(), post(http.Header{}, mailgunBody(ts, tok, sig)), now)
	require.NoError(t, err)
	require.Equal(t, "CPgfbmQMTCKtHW6uIWtuVe", d.ID)
	require.False(t, d.IDSigned, "the body is not signed")
	require.Equal(t, "delivered", d.EventType)

	_, err = v.Verify(context.Background(), post(http.Header{}, mailgunBody(ts, tok, sig)), now)
	require.ErrorIs(t, err, ErrSignatureMismatch, "the same token twice is a replay")

	form := "timestamp=" + ts + "&token=" + tok + "&signature=" + sig + "&event=delivered"
	_, err = newV().Verify(context.Background(), post(http.Header{}, []byte(form)), now)
	require.NoError(t, err, "form-encoded deliveries carry the same fields")

	for _, c := range []struct {
		name string
		body []byte
		at   time.Time
		want error
	}{
		{"stale", mailgunBody(ts, tok, sig), now.Add(6 * time.Minute), ErrTimestampOutOfTolerance},
		{"future", mailgunBody(ts, tok, sig), now.Add(-6 * time.Minute), ErrTimestampOutOfTolerance},
		{"other token", mailgunBody(ts, tok+"0", sig), now, ErrSignatureMismatch},
		{"other timestamp", mailgunBody("1529006855", tok, sig), now, ErrSignatureMismatch},
		{"no signature", []byte(`{"event-data":{}}`), now, ErrMissingSignature},
		{"malformed signature", mailgunBody(ts, tok, "zz"), now, ErrMalformedSignature},
		{"malformed timestamp", mailgunBody("15290068x4", tok, sig), now, ErrMalformedSignature},
		{"huge token", mailgunBody(ts, strings.Repeat("t", 10<<10), sig), now, ErrMalformedSignature},
		{"neither JSON nor form", []byte("%zz"), now, ErrMalformedRequest},
	} {
		_, err := newV().Verify(context.Background(), post(http.Header{}, c.body), c.at)
		require.ErrorIs(t, err, c.want, c.name)
	}
}

func TestMailgunTokenCacheBounded(t *testing.T) {
	v := &mailgunVerifier{tokens: map[string]int64{}}
	now := time.Unix(1000, 0)
	for i := 0; i < maxMailgunTokens; i++ {
		require.NoError(t, v.remember("k"+strconv.Itoa(i), 999+int64(i%2)*10, now))
	}
	// Full: the expired half is swept, room is made.
	require.NoError(t, v.remember("new", 2000, now))
	require.Less(t, len(v.tokens), maxMailgunTokens)
	for i := 0; len(v.tokens) < maxMailgunTokens; i++ {
		require.NoError(t, v.remember("live"+strconv.Itoa(i), 5000, now))
	}
	require.ErrorIs(t, v.remember("one-more", 5000, now), ErrUnavailable, "full of live tokens: refuse, never forget a live one")
}

func FuzzVerifyURLProviders(f *testing.F) {
	f.Add(uint8(0), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=", "foo=1&bar=2", []byte(twilioRequest().Body))
	f.Add(uint8(1), "lYB45ThIb6MdzNRIRPoeSZS3+pT3XqOlycrov5aKf+A=", "", []byte(squareBody))
	f.Add(uint8(2), "pEteOUjwo/UFWqj0GJQX31r7J4EjOF5LJ/yqz1/wpOY=", "a=b%3Ac", []byte(hubspotBody))
	f.Add(uint8(3), "", "", mailgunBody("1529006854", "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0", "13419fb6afd047225d098b7f6b002a4f061022ad3bc2e9b153326308345dcfa0"))
	mk := func(c Config) Verifier {
		v, err := NewVerifier(c)
		if err != nil {
			f.Fatal(err)
		}
		return v
	}
	vs := []Verifier{
		mk(Config{Scheme: Twilio, Secrets: []string{"12345"}, SignedURL: "https://mycompany.com/myapp.php"}),
		mk(Config{Scheme: Square, Secrets: []string{"sq-signature-key"}, SignedURL: "https://hooks.example.com/webhooks/square"}),
		mk(Config{Scheme: HubSpot, Secrets: []string{"hs-client-secret"}, SignedURL: "https://hooks.example.com/webhooks/hubspot"}),
		mk(Config{Scheme: Mailgun, Secrets: []string{"mg-signing-key"}}),
	}
	headers := []string{"X-Twilio-Signature", "X-Square-Hmacsha256-Signature", "X-Hubspot-Signature-V3", "X-Mailgun-Unused"}
	f.Fuzz(func(t *testing.T, which uint8, sig, query string, body []byte) {
		i := int(which) % len(vs)
		r := &Request{Method: "POST", URL: &url.URL{Path: "/webhooks/p", RawQuery: query},
			Header: http.Header{headers[i]: {sig}, "X-Hubspot-Request-Timestamp": {"1700000000000"}}, Body: body}
		now := time.UnixMilli(1700000000000)
		if i == 3 {
			now = time.Unix(1529006854, 0)
		}
		d, err := vs[i].Verify(context.Background(), r, now)
		if err != nil {
			checkRejected(t, d, err)
		}
	})
}
