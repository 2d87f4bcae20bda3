package webhooksig

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/stretchr/testify/require"
)

// tsVector is one signed request of a timestamped provider.
type tsVector struct {
	scheme, secret string
	header         http.Header
	body           string
	ts             int64 // the signed timestamp (0: none signed)
	id             string
	typ            string
	sigHeader      string // the header the negative table spoils
}

var (
	// Slack's published example (api.slack.com/authentication/verifying-requests-from-slack).
	slackVector = tsVector{scheme: Slack, secret: "8f742231b10e8888abcd99yyyzzz85a5",
		header: http.Header{"X-Slack-Signature": {"v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"},
			"X-Slack-Request-Timestamp": {"1531420618"}},
		body: "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c",
		ts:   1531420618, typ: "slash_command", sigHeader: "X-Slack-Signature"}
	// The others publish no vector: derived with
	//   printf '%s' "<signed content>" | openssl dgst -sha256 -hmac <secret>
	// over the signed content each provider documents.
	tsVectors = []tsVector{
		slackVector,
		{scheme: Paddle, secret: "pdl_ntfset_secret",
			header: http.Header{"Paddle-Signature": {"ts=1692619067;h1=bf95231335b28c5ae04196368513d68abfd2d6921a6a139b3bd996bd0c1809ac"}},
			body:   `{"event_id":"evt_01h8bzakzx3hm2fmen703n5q45","event_type":"transaction.completed","occurred_at":"2023-08-21T11:57:47.390028Z","data":{"id":"txn_01h8bx69629a16wwm9z8rjmak3"}}`,
			ts:     1692619067, id: "evt_01h8bzakzx3hm2fmen703n5q45", typ: "transaction.completed", sigHeader: "Paddle-Signature"},
		{scheme: Zoom, secret: "zoom-secret-token",
			header: http.Header{"X-Zm-Signature": {"v0=17d759af8a26c97a65ea36f4826530c272e1864fda47dcc2eb82a6e145ff8c00"}, "X-Zm-Request-Timestamp": {"1700000000"}},
			body:   `{"event":"meeting.started","event_ts":1700000000000,"payload":{"account_id":"AAAAAABBBB","object":{"id":"1234567890"}}}`,
			ts:     1700000000, typ: "meeting.started", sigHeader: "X-Zm-Signature"},
		{scheme: Calendly, secret: "calendly-signing-key",
			header: http.Header{"Calendly-Webhook-Signature": {"t=1700000000,v1=dafb9b7738fce32f6884d61d34eb3e87e61d1e1129a8a89794df2106b562f50d"}},
			body:   `{"created_at":"2023-11-14T18:45:52.000000Z","created_by":"https://api.calendly.com/users/AAAA","event":"invitee.created","payload":{"uri":"https://api.calendly.com/scheduled_events/BBBB/invitees/CCCC"}}`,
			ts:     1700000000, typ: "invitee.created", sigHeader: "Calendly-Webhook-Signature"},
		{scheme: PagerDuty, secret: "pd-webhook-secret",
			header: http.Header{"X-Pagerduty-Signature": {"v1=00000000000000000000000000000000000000000000000000000000000000ff,v1=a12d46028b4bc4f7f2793f12eb8012a34faa38aab294ae024b07556a36a55f30"}},
			body:   `{"event":{"id":"01DEN4H4GVC1ARGY9CSIX2PSIC","event_type":"incident.triggered","resource_type":"incident","occurred_at":"2023-11-14T18:45:52.000Z","data":{"id":"PGR0VU2"}}}`,
			id:     "01DEN4H4GVC1ARGY9CSIX2PSIC", typ: "incident.triggered", sigHeader: "X-Pagerduty-Signature"},
	}
)

func (tv tsVector) request() *Request { return post(tv.header.Clone(), []byte(tv.body)) }

func (tv tsVector) clock() time.Time {
	if tv.ts == 0 {
		return time.Unix(1700000000, 0)
	}
	return time.Unix(tv.ts, 0)
}

func TestTimestampedProviders(t *testing.T) {
	for _, tv := range tsVectors {
		t.Run(tv.scheme, func(t *testing.T) {
			v, err := NewVerifier(Config{Scheme: tv.scheme, Secrets: []string{"rotated-newer", tv.secret}})
			require.NoError(t, err)
			d, err := v.Verify(context.Background(), tv.request(), tv.clock())
			require.NoError(t, err)
			require.Equal(t, tv.id, d.ID)
			require.Equal(t, tv.id != "", d.IDSigned)
			require.Equal(t, tv.typ, d.EventType)

			wrong, err := NewVerifier(Config{Scheme: tv.scheme, Secrets: []string{"wrong"}})
			require.NoError(t, err)
			_, err = wrong.Verify(context.Background(), tv.request(), tv.clock())
			require.ErrorIs(t, err, ErrSignatureMismatch)

			cases := []negCase{
				{"tampered body", tamperBody, ErrSignatureMismatch},
				{"missing signature", delHeader(tv.sigHeader), ErrMissingSignature},
				{"garbage", setHeader(tv.sigHeader, "nonsense"), ErrMalformedSignature},
				{"oversized header", hugeHeader(tv.sigHeader), ErrMalformedSignature},
			}
			if tv.ts != 0 {
				tol := map[string]time.Duration{Slack: SlackTolerance, Paddle: PaddleTolerance, Zoom: DefaultTolerance, Calendly: CalendlyTolerance}[tv.scheme]
				for _, c := range []struct {
					at   time.Time
					want error
				}{
					{tv.clock().Add(tol), nil}, {tv.clock().Add(-tol), nil},
					{tv.clock().Add(tol + time.Second), ErrTimestampOutOfTolerance},
					{tv.clock().Add(-tol - time.Second), ErrTimestampOutOfTolerance},
				} {
					_, err := v.Verify(context.Background(), tv.request(), c.at)
					if c.want == nil {
						require.NoError(t, err, "at the window's edge")
					} else {
						require.ErrorIs(t, err, c.want, "stale or future")
					}
				}
				if tv.scheme == Slack || tv.scheme == Zoom {
					tsh := map[string]string{Slack: "X-Slack-Request-Timestamp", Zoom: "X-Zm-Request-Timestamp"}[tv.scheme]
					cases = append(cases,
						negCase{"missing timestamp", delHeader(tsh), ErrMissingSignature},
						negCase{"malformed timestamp", setHeader(tsh, "12ab"), ErrMalformedSignature},
						negCase{"other timestamp", setHeader(tsh, strconv.FormatInt(tv.ts+1, 10)), ErrSignatureMismatch})
				} else {
					cases = append(cases, negCase{"no timestamp", func(r *Request) {
						r.Header.Set(tv.sigHeader, "v1="+hexString(make([]byte, 32)))
					}, ErrMalformedSignature})
				}
			}
			runNegative(t, v, tv.request, tv.clock(), cases)
		})
	}
}

// slack-go's SecretsVerifier (the provider's official Go SDK, test-only)
// accepts exactly what the slack verifier accepts.
func TestSlackAgainstSlackGo(t *testing.T) {
	v, err := NewVerifier(Config{Scheme: Slack, Secrets: []string{slackVector.secret}})
	require.NoError(t, err)
	now := time.Now()
	for _, body := range []string{`{"type":"event_callback","event_id":"Ev08MFMKH6","event":{"type":"app_mention"}}`, slackVector.body, ""} {
		ts := strconv.FormatInt(now.Unix(), 10)
		sig := "v0=" + hexString(mac([]byte(slackVector.secret), "v0:", ts, ":", body))
		h := http.Header{"X-Slack-Signature": {sig}, "X-Slack-Request-Timestamp": {ts}}
		sv, err := slack.NewSecretsVerifier(h, slackVector.secret)
		require.NoError(t, err, "slack-go accepts the headers")
		_, _ = sv.Write([]byte(body))
		require.NoError(t, sv.Ensure(), "slack-go accepts the signature")
		_, err = v.Verify(context.Background(), post(h, []byte(body)), now)
		require.NoError(t, err)

		h.Set("X-Slack-Signature", "v0="+hexString(mac([]byte("other"), "v0:", ts, ":", body)))
		sv, err = slack.NewSecretsVerifier(h, slackVector.secret)
		require.NoError(t, err)
		_, _ = sv.Write([]byte(body))
		require.Error(t, sv.Ensure())
		_, err = v.Verify(context.Background(), post(h, []byte(body)), now)
		require.ErrorIs(t, err, ErrSignatureMismatch)
	}
	d, err := v.Verify(context.Background(), post(http.Header{
		"X-Slack-Signature":         {"v0=" + hexString(mac([]byte(slackVector.secret), "v0:1700000000:", `{"type":"event_callback","event_id":"Ev08MFMKH6","event":{"type":"app_mention"}}`))},
		"X-Slack-Request-Timestamp": {"1700000000"},
	}, []byte(`{"type":"event_callback","event_id":"Ev08MFMKH6","event":{"type":"app_mention"}}`)), time.Unix(1700000000, 0))
	require.NoError(t, err)
	require.Equal(t, "Ev08MFMKH6", d.ID)
	require.True(t, d.IDSigned)
	require.Equal(t, "app_mention", d.EventType)
}

func TestSlackURLVerification(t *testing.T) {
	v, err := NewVerifier(Config{Scheme: Slack, Secrets: []string{"rotated", slackVector.secret}})
	require.NoError(t, err)
	hs := v.(Handshaker)
	body := `{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`
	req := func(sig string) *Request {
		return post(http.Header{"X-Slack-Signature": {sig}, "X-Slack-Request-Timestamp": {"1700000000"}}, []byte(body))
	}
	// printf 'v0:1700000000:%s' "$body" | openssl dgst -sha256 -hmac 8f742231b10e8888abcd99yyyzzz85a5
	good := "v0=76c303eba32e8ec5639c84f822b2c64cdb1ea7e94fdd6d7b0b958d8e40c0959f"
	resp, err := hs.Handshake(context.Background(), req(good), time.Unix(1700000000, 0))
	require.NoError(t, err)
	var js map[string]string
	require.NoError(t, json.Unmarshal(resp.Body, &js))
	require.Equal(t, "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", js["challenge"])

	_, err = hs.Handshake(context.Background(), req("v0="+hexString(make([]byte, 32))), time.Unix(1700000000, 0))
	require.ErrorIs(t, err, ErrSignatureMismatch, "verified like any slack request")
	_, err = hs.Handshake(context.Background(), req(good), time.Unix(1700000000, 0).Add(time.Hour))
	require.ErrorIs(t, err, ErrTimestampOutOfTolerance)
	resp, err = hs.Handshake(context.Background(), slackVector.request(), slackVector.clock())
	require.NoError(t, err)
	require.Nil(t, resp, "not a url_verification: verify as a delivery")
}

func TestZoomURLValidation(t *testing.T) {
	v, err := NewVerifier(Config{Scheme: Zoom, Secrets: []string{"rotated", "zoom-secret-token"}})
	require.NoError(t, err)
	hs := v.(Handshaker)
	body := `{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1700000000000,"event":"endpoint.url_validation"}`
	r := post(http.Header{"X-Zm-Signature": {"v0=c1622fcd563f463fa89c3653fabd6c032d714fe7e53957ee62d5873308a3ab52"}, "X-Zm-Request-Timestamp": {"1700000000"}}, []byte(body))
	resp, err := hs.Handshake(context.Background(), r, time.Unix(1700000000, 0))
	require.NoError(t, err)
	var js map[string]string
	require.NoError(t, json.Unmarshal(resp.Body, &js))
	require.Equal(t, "qgg8vlvZRS6UYooatFL8Aw", js["plainToken"])
	// printf qgg8vlvZRS6UYooatFL8Aw | openssl dgst -sha256 -hmac zoom-secret-token
	require.Equal(t, "d9e0d764a78494688ba3f2d5c0ed4ca311394b4834d959759213424d2df961e3", js["encryptedToken"],
		"encrypted with the secret that verified the request, not the first listed")

	bad := cloneReq(r)
	bad.Header.Set("X-Zm-Signature", "v0="+hexString(make([]byte, 32)))
	_, err = hs.Handshake(context.Background(), bad, time.Unix(1700000000, 0))
	require.ErrorIs(t, err, ErrSignatureMismatch)
	resp, err = hs.Handshake(context.Background(), tsVectors[2].request(), tsVectors[2].clock())
	require.NoError(t, err)
	require.Nil(t, resp)
}

func FuzzVerifyTimestamped(f *testing.F) {
	for i, tv := range tsVectors {
		f.Add(uint8(i), tv.header.Get(tv.sigHeader), []byte(tv.body))
	}
	vs := make([]Verifier, len(tsVectors))
	for i, tv := range tsVectors {
		v, err := NewVerifier(Config{Scheme: tv.scheme, Secrets: []string{tv.secret}})
		if err != nil {
			f.Fatal(err)
		}
		vs[i] = v
	}
	f.Fuzz(func(t *testing.T, which uint8, sig string, body []byte) {
		i := int(which) % len(tsVectors)
		tv := tsVectors[i]
		r := post(tv.header.Clone(), body)
		r.Header.Set(tv.sigHeader, sig)
		d, err := vs[i].Verify(context.Background(), r, tv.clock())
		if err != nil {
			checkRejected(t, d, err)
			return
		}
		var want string
		switch tv.scheme {
		case Slack, Zoom:
			ts := tv.header.Get(map[string]string{Slack: "X-Slack-Request-Timestamp", Zoom: "X-Zm-Request-Timestamp"}[tv.scheme])
			want = hexString(mac([]byte(tv.secret), "v0:", ts, ":", string(body)))
		case PagerDuty:
			want = hexString(mac([]byte(tv.secret), string(body)))
		default:
			// The timestamp is in the signature header itself: a body other
			// than the signed one cannot pass without a forged MAC.
			if string(body) != tv.body {
				t.Fatalf("%s accepted a body it was not signed for: %q", tv.scheme, sig)
			}
			return
		}
		if !strings.Contains(strings.ToLower(sig), want) {
			t.Fatalf("%s accepted without a valid MAC: %q", tv.scheme, sig)
		}
	})
}
