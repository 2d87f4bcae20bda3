package webhooksig

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Discord publishes no test vector: keys are generated from fixed seeds.
var (
	discordPriv  = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	discordPriv2 = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, ed25519.SeedSize))
	discordPub   = hex.EncodeToString(discordPriv.Public().(ed25519.PublicKey))
	discordPub2  = hex.EncodeToString(discordPriv2.Public().(ed25519.PublicKey))
)

// discordHeaders signs timestamp + body as Discord does
// (discord.com/developers/docs/interactions/overview, "Setting Up an
// Endpoint": the signature is over timestamp concatenated with the body).
func discordHeaders(priv ed25519.PrivateKey, ts time.Time, body []byte) http.Header {
	t := strconv.FormatInt(ts.Unix(), 10)
	sig := ed25519.Sign(priv, []byte(t+string(body)))
	h := http.Header{}
	h.Set("X-Signature-Ed25519", hex.EncodeToString(sig))
	h.Set("X-Signature-Timestamp", t)
	return h
}

func discordReq(priv ed25519.PrivateKey, body string) *Request {
	return asymReq(http.MethodPost, "", discordHeaders(priv, asymNow, []byte(body)), []byte(body))
}

func newDiscordT(t *testing.T, keys ...string) Verifier {
	t.Helper()
	v, err := NewVerifier(Config{Scheme: Discord, Secrets: keys})
	require.NoError(t, err)
	return v
}

const (
	discordPingBody    = `{"application_id":"1","id":"1100","token":"tok","type":1,"version":1}`
	discordCommandBody = `{"application_id":"1","id":"1234567890","token":"tok","type":2,"data":{"name":"ping"},"version":1}`
	discordAutoBody    = `{"application_id":"1","id":"1234567891","token":"tok","type":4,"data":{"name":"find"},"version":1}`
	discordEvPingBody  = `{"version":1,"application_id":"1","type":0}`
	discordEventBody   = `{"version":1,"application_id":"1","type":1,"event":{"type":"APPLICATION_AUTHORIZED","timestamp":"2026-01-01T00:00:00Z","data":{}}}`
)

func TestDiscordHandshakes(t *testing.T) {
	v := newDiscordT(t, discordPub)
	hs := v.(Handshaker)
	ctx := context.Background()

	resp, err := hs.Handshake(ctx, discordReq(discordPriv, discordPingBody), asymNow)
	require.NoError(t, err)
	require.NotNil(t, resp)
	assert.Equal(t, http.StatusOK, resp.Status)
	assert.JSONEq(t, `{"type":1}`, string(resp.Body))
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))

	resp, err = hs.Handshake(ctx, discordReq(discordPriv, discordEvPingBody), asymNow)
	require.NoError(t, err)
	require.NotNil(t, resp)
	assert.Equal(t, http.StatusNoContent, resp.Status)
	assert.Empty(t, resp.Body)

	// Discord checks that a PING with a bad signature is refused.
	for _, body := range []string{discordPingBody, discordEvPingBody} {
		resp, err = hs.Handshake(ctx, discordReq(discordPriv2, body), asymNow)
		wantSentinel(t, err, ErrSignatureMismatch)
		assert.Nil(t, resp)
		r := discordReq(discordPriv, body)
		r.Header.Del("X-Signature-Ed25519")
		resp, err = hs.Handshake(ctx, r, asymNow)
		wantSentinel(t, err, ErrMissingSignature)
		assert.Nil(t, resp)
	}

	// Everything else is not a handshake, whatever its signature.
	for _, body := range []string{discordCommandBody, discordEventBody, `not json`, `{"type":"1"}`} {
		resp, err = hs.Handshake(ctx, discordReq(discordPriv2, body), asymNow)
		assert.NoError(t, err, body)
		assert.Nil(t, resp, body)
	}
}

func TestDiscordDeliveries(t *testing.T) {
	v := newDiscordT(t, discordPub2, discordPub) // rotation: the second key verifies
	ctx := context.Background()
	cases := []struct {
		name, body string
		want       Delivery
	}{
		{"command", discordCommandBody, Delivery{ID: "1234567890", IDSigned: true, EventType: "APPLICATION_COMMAND",
			Reply: jsonResponse(http.StatusOK, []byte(`{"type":5}`))}},
		{"component", strings.Replace(discordCommandBody, `"type":2`, `"type":3`, 1), Delivery{ID: "1234567890", IDSigned: true, EventType: "MESSAGE_COMPONENT",
			Reply: jsonResponse(http.StatusOK, []byte(`{"type":5}`))}},
		{"modal", strings.Replace(discordCommandBody, `"type":2`, `"type":5`, 1), Delivery{ID: "1234567890", IDSigned: true, EventType: "MODAL_SUBMIT",
			Reply: jsonResponse(http.StatusOK, []byte(`{"type":5}`))}},
		{"autocomplete", discordAutoBody, Delivery{ID: "1234567891", IDSigned: true, EventType: "APPLICATION_COMMAND_AUTOCOMPLETE",
			Reply: jsonResponse(http.StatusOK, []byte(`{"type":8,"data":{"choices":[]}}`))}},
		{"webhook event", discordEventBody, Delivery{EventType: "APPLICATION_AUTHORIZED", Reply: &Response{Status: http.StatusNoContent}}},
		{"interaction without id", `{"type":2}`, Delivery{EventType: "APPLICATION_COMMAND", Reply: jsonResponse(http.StatusOK, []byte(`{"type":5}`))}},
		{"id not a string", `{"type":2,"id":5}`, Delivery{EventType: "APPLICATION_COMMAND", Reply: jsonResponse(http.StatusOK, []byte(`{"type":5}`))}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := v.Verify(ctx, discordReq(discordPriv, c.body), asymNow)
			require.NoError(t, err)
			c.want.MAC = sha([]byte(c.body))
			assert.Equal(t, c.want, d)
		})
	}
}

func TestDiscordRejects(t *testing.T) {
	v := newDiscordT(t, discordPub)
	body := []byte(discordCommandBody)
	mk := func() *Request { return discordReq(discordPriv, discordCommandBody) }
	resign := func(ts time.Time) func(r *Request) {
		return func(r *Request) { r.Header = discordHeaders(discordPriv, ts, body) }
	}
	set := func(k, val string) func(r *Request) { return func(r *Request) { r.Header.Set(k, val) } }
	runAsymCases(t, v, mk, []asymCase{
		{"tampered body", func(r *Request) { r.Body = bytes.Replace(r.Body, []byte("ping"), []byte("pong"), 1) }, ErrSignatureMismatch},
		{"wrong key", func(r *Request) { r.Header = discordHeaders(discordPriv2, asymNow, body) }, ErrSignatureMismatch},
		{"timestamp changed", set("X-Signature-Timestamp", strconv.FormatInt(asymNow.Unix()+1, 10)), ErrSignatureMismatch},
		{"stale", resign(asymNow.Add(-DefaultTolerance - time.Second)), ErrTimestampOutOfTolerance},
		{"future", resign(asymNow.Add(DefaultTolerance + time.Second)), ErrTimestampOutOfTolerance},
		{"no signature", func(r *Request) { r.Header.Del("X-Signature-Ed25519") }, ErrMissingSignature},
		{"empty signature", set("X-Signature-Ed25519", ""), ErrMissingSignature},
		{"no timestamp", func(r *Request) { r.Header.Del("X-Signature-Timestamp") }, ErrMissingSignature},
		{"signature not hex", set("X-Signature-Ed25519", strings.Repeat("zz", 64)), ErrMalformedSignature},
		{"signature short", set("X-Signature-Ed25519", strings.Repeat("ab", 63)), ErrMalformedSignature},
		{"signature oversized", set("X-Signature-Ed25519", strings.Repeat("ab", 8<<10)), ErrMalformedSignature},
		{"two signatures", func(r *Request) { r.Header.Add("X-Signature-Ed25519", r.Header.Get("X-Signature-Ed25519")) }, ErrMalformedSignature},
		{"timestamp not a number", set("X-Signature-Timestamp", "yesterday"), ErrMalformedSignature},
		{"timestamp leading zero", set("X-Signature-Timestamp", "0"+strconv.FormatInt(asymNow.Unix(), 10)), ErrMalformedSignature},
		{"timestamp oversized", set("X-Signature-Timestamp", strings.Repeat("9", 9000)), ErrMalformedSignature},
		{"signed body not JSON", func(r *Request) {
			r.Body = []byte("hello")
			r.Header = discordHeaders(discordPriv, asymNow, r.Body)
		}, ErrMalformedRequest},
		{"signed body without type", func(r *Request) {
			r.Body = []byte(`{"id":"1"}`)
			r.Header = discordHeaders(discordPriv, asymNow, r.Body)
		}, ErrMalformedRequest},
	}, discordPub)
}

func TestDiscordToleranceBounds(t *testing.T) {
	v, err := NewVerifier(Config{Scheme: Discord, Secrets: []string{discordPub}, Tolerance: time.Minute})
	require.NoError(t, err)
	body := []byte(discordCommandBody)
	for _, c := range []struct {
		off time.Duration
		ok  bool
	}{{-time.Minute, true}, {time.Minute, true}, {-time.Minute - time.Second, false}, {time.Minute + time.Second, false}} {
		r := asymReq(http.MethodPost, "", discordHeaders(discordPriv, asymNow.Add(c.off), body), body)
		_, err := v.Verify(context.Background(), r, asymNow)
		if c.ok {
			assert.NoError(t, err, c.off)
		} else {
			wantSentinel(t, err, ErrTimestampOutOfTolerance)
		}
	}
}

func TestDiscordConfig(t *testing.T) {
	for _, c := range []Config{
		{Scheme: Discord},
		{Scheme: Discord, Secrets: []string{""}},
		{Scheme: Discord, Secrets: []string{discordPub[:62]}},
		{Scheme: Discord, Secrets: []string{strings.Repeat("g", 64)}},
		{Scheme: Discord, Secrets: []string{discordPub, "0x" + discordPub[2:]}},
		{Scheme: Discord, Secrets: []string{discordPub}, Topics: []string{"arn:aws:sns:us-east-1:123456789012:t"}},
		{Scheme: Discord, Secrets: []string{discordPub}, Tolerance: -time.Second},
	} {
		_, err := NewVerifier(c)
		assert.Error(t, err, "%+v", c)
	}
	_, err := NewVerifier(Config{Scheme: Discord, Secrets: []string{discordPub, strings.Repeat("g", 64)}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "secret #2")
	assert.NotContains(t, err.Error(), "gggg")
}
