package webhooksig

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newTokenT(t *testing.T, scheme string, secrets ...string) Verifier {
	t.Helper()
	v, err := NewVerifier(Config{Scheme: scheme, Secrets: secrets})
	require.NoError(t, err)
	return v
}

// Headers modelled on GitLab's (docs.gitlab.com, "Webhooks": X-Gitlab-Token,
// X-Gitlab-Event, X-Gitlab-Webhook-UUID, X-Gitlab-Event-UUID,
// Idempotency-Key kept across retries, gitlab-org/gitlab!160952).
func gitlabHeaders(token string) http.Header {
	h := http.Header{}
	h.Set("X-Gitlab-Token", token)
	h.Set("X-Gitlab-Event", "Push Hook")
	h.Set("X-Gitlab-Webhook-Uuid", "16b5a4e9-ee1f-4a8a-9b0b-0f0e1c1d1e1f")
	h.Set("X-Gitlab-Event-Uuid", "6b1d6f0e-6a0f-4c55-8e5d-2f0c1b6e8c61")
	h.Set("Idempotency-Key", "f5e5f430-f57b-4e6e-9fac-d9128cd7232f")
	return h
}

const gitlabPush = `{"object_kind":"push","event_name":"push","before":"95790bf8","after":"da1560886","ref":"refs/heads/main","project_id":15}`

func TestGitLab(t *testing.T) {
	v := newTokenT(t, GitLab, "old-token", "s3cr3t-token")
	ctx := context.Background()
	d, err := v.Verify(ctx, asymReq(http.MethodPost, "", gitlabHeaders("s3cr3t-token"), []byte(gitlabPush)), asymNow)
	require.NoError(t, err)
	assert.Equal(t, Delivery{ID: "f5e5f430-f57b-4e6e-9fac-d9128cd7232f", IDSigned: true, EventType: "push", MAC: sha([]byte(gitlabPush))}, d)

	// Older GitLab without Idempotency-Key: the content form; the header
	// gives the type when the body has no object_kind.
	h := gitlabHeaders("old-token")
	h.Del("Idempotency-Key")
	d, err = v.Verify(ctx, asymReq(http.MethodPost, "", h, []byte(`{"x":1}`)), asymNow)
	require.NoError(t, err)
	assert.Equal(t, Delivery{EventType: "Push Hook", MAC: sha([]byte(`{"x":1}`))}, d)

	set := func(k, val string) func(r *Request) { return func(r *Request) { r.Header.Set(k, val) } }
	runAsymCases(t, v, func() *Request {
		return asymReq(http.MethodPost, "", gitlabHeaders("s3cr3t-token"), []byte(gitlabPush))
	}, []asymCase{
		{"wrong token", set("X-Gitlab-Token", "s3cr3t-tokeN"), ErrSignatureMismatch},
		{"token prefix", set("X-Gitlab-Token", "s3cr3t"), ErrSignatureMismatch},
		{"token oversized", set("X-Gitlab-Token", strings.Repeat("s", 9000)), ErrSignatureMismatch},
		{"no token", func(r *Request) { r.Header.Del("X-Gitlab-Token") }, ErrMissingSignature},
		{"empty token", set("X-Gitlab-Token", ""), ErrMissingSignature},
		{"two tokens", func(r *Request) { r.Header.Add("X-Gitlab-Token", "s3cr3t-token") }, ErrMalformedSignature},
	}, "s3cr3t-token", "old-token")
}

// The verification request of Okta's support article "Unable to verify
// event hook" (support.okta.com), header for header.
func oktaVerification() *Request {
	h := http.Header{}
	h.Set("User-Agent", "Okta-Integrations")
	h.Set("Accept", "application/json")
	h.Set("X-Okta-Request-Id", "XOZfPkReFFZ10KWyGkzAMwAAADA")
	h.Set("X-Okta-Verification-Challenge", "Me_rShK8JHsTnbyYrWXCEoMGbM_zsZ6k0hLPZ_Pg")
	h.Set("x-any-key", "my-header-value")
	h.Set("Authorization", "my-shared-secret")
	return asymReq(http.MethodGet, "", h, nil)
}

// An event hook delivery modelled on the sample of Okta's event hooks guide
// (developer.okta.com, "Event hooks": eventType com.okta.event_hook, eventId,
// data.events[].eventType).
const oktaDelivery = `{"eventType":"com.okta.event_hook","eventTypeVersion":"1.0","cloudEventsVersion":"0.1",` +
	`"source":"https://example.okta.com/api/v1/eventHooks/whoql0HfiLGPWc8Jx0g3","eventId":"b5a188b9-5ece-4636-b041-482ffda96311",` +
	`"data":{"events":[{"uuid":"4f9e0d4b-5be8-11ed-b1a9-4b1f6c4f4f3a","published":"2019-03-27T16:59:53.032Z","eventType":"user.session.start"}]},` +
	`"eventTime":"2019-03-27T16:59:53.032Z","contentType":"application/json"}`

func TestOktaVerification(t *testing.T) {
	v := newTokenT(t, Okta, "my-shared-secret")
	hs := v.(Handshaker)
	ctx := context.Background()
	resp, err := hs.Handshake(ctx, oktaVerification(), asymNow)
	require.NoError(t, err)
	require.NotNil(t, resp)
	assert.Equal(t, http.StatusOK, resp.Status)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	assert.JSONEq(t, `{"verification":"Me_rShK8JHsTnbyYrWXCEoMGbM_zsZ6k0hLPZ_Pg"}`, string(resp.Body))

	// A challenge with JSON-special characters is escaped, not injected.
	r := oktaVerification()
	r.Header.Set("X-Okta-Verification-Challenge", `a"}, "x":"`)
	resp, err = hs.Handshake(ctx, r, asymNow)
	require.NoError(t, err)
	assert.JSONEq(t, `{"verification":"a\"}, \"x\":\""}`, string(resp.Body))

	for _, c := range []struct {
		name string
		edit func(r *Request)
		want error
	}{
		{"wrong authorization", func(r *Request) { r.Header.Set("Authorization", "guess") }, ErrSignatureMismatch},
		{"no authorization", func(r *Request) { r.Header.Del("Authorization") }, ErrMissingSignature},
		{"no challenge", func(r *Request) { r.Header.Del("X-Okta-Verification-Challenge") }, ErrMalformedRequest},
		{"empty challenge", func(r *Request) { r.Header.Set("X-Okta-Verification-Challenge", "") }, ErrMalformedRequest},
		{"two challenges", func(r *Request) { r.Header.Add("X-Okta-Verification-Challenge", "b") }, ErrMalformedRequest},
		{"oversized challenge", func(r *Request) { r.Header.Set("X-Okta-Verification-Challenge", strings.Repeat("c", 2000)) }, ErrMalformedRequest},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := oktaVerification()
			c.edit(r)
			resp, err := hs.Handshake(ctx, r, asymNow)
			wantSentinel(t, err, c.want)
			assert.Nil(t, resp)
		})
	}

	// A POST is a delivery, not a handshake.
	resp, err = hs.Handshake(ctx, asymReq(http.MethodPost, "", oktaVerification().Header, []byte(oktaDelivery)), asymNow)
	assert.NoError(t, err)
	assert.Nil(t, resp)
	// And a GET is never a delivery.
	_, err = v.Verify(ctx, oktaVerification(), asymNow)
	wantSentinel(t, err, ErrMalformedRequest)
}

func TestOktaDelivery(t *testing.T) {
	v := newTokenT(t, Okta, "my-shared-secret", "next-secret")
	ctx := context.Background()
	h := http.Header{}
	h.Set("Authorization", "next-secret")
	d, err := v.Verify(ctx, asymReq(http.MethodPost, "", h, []byte(oktaDelivery)), asymNow)
	require.NoError(t, err)
	assert.Equal(t, Delivery{ID: "b5a188b9-5ece-4636-b041-482ffda96311", IDSigned: true, EventType: "user.session.start", MAC: sha([]byte(oktaDelivery))}, d)

	mixed := strings.Replace(oktaDelivery, `"eventType":"user.session.start"}]`,
		`"eventType":"user.session.start"},{"uuid":"x","eventType":"user.session.end"}]`, 1)
	d, err = v.Verify(ctx, asymReq(http.MethodPost, "", h, []byte(mixed)), asymNow)
	require.NoError(t, err)
	assert.Equal(t, "com.okta.event_hook", d.EventType, "a mixed batch keeps the envelope's type")

	d, err = v.Verify(ctx, asymReq(http.MethodPost, "", h, []byte("not json")), asymNow)
	require.NoError(t, err)
	assert.Equal(t, Delivery{MAC: sha([]byte("not json"))}, d)

	set := func(val string) func(r *Request) { return func(r *Request) { r.Header.Set("Authorization", val) } }
	runAsymCases(t, v, func() *Request {
		return asymReq(http.MethodPost, "", h.Clone(), []byte(oktaDelivery))
	}, []asymCase{
		{"wrong", set("Bearer next-secret"), ErrSignatureMismatch},
		{"missing", func(r *Request) { r.Header.Del("Authorization") }, ErrMissingSignature},
		{"two", func(r *Request) { r.Header.Add("Authorization", "next-secret") }, ErrMalformedSignature},
	}, "next-secret", "my-shared-secret")
}

// Graph's validation request (learn.microsoft.com/graph/
// change-notifications-delivery-webhooks, "Notification endpoint
// validation": POST ?validationToken=<encoded>), with the token text Graph
// sends (as quoted on Microsoft Q&A 2146042); the answer is the decoded token.
const graphValidationQuery = "validationToken=Validation%3a+Testing+client+application+reachability+for+subscription+Request-Id%3a+3b3c9821-93e1-4a1a-b6b2-1e2a3b4c5d6e"

func graphNotification(clientState ...string) string {
	items := make([]string, len(clientState))
	for i, cs := range clientState {
		items[i] = `{"id":"lsgTZMr9KwAAA` + string(rune('0'+i)) + `","subscriptionId":"7f105c7d-2dc5-4530-97cd-4e7ae6534c07",` +
			`"subscriptionExpirationDateTime":"2026-01-02T00:00:00Z","clientState":"` + cs + `","changeType":"created",` +
			`"resource":"Users/ed0f/Messages/AAMk","tenantId":"84bd8158-6d4d-4958-8b9f-9d6445542f95"}`
	}
	return `{"value":[` + strings.Join(items, ",") + `]}`
}

func TestMSGraphValidation(t *testing.T) {
	v := newTokenT(t, MSGraph, "secretClientValue")
	hs := v.(Handshaker)
	ctx := context.Background()
	resp, err := hs.Handshake(ctx, asymReq(http.MethodPost, graphValidationQuery, nil, nil), asymNow)
	require.NoError(t, err)
	require.NotNil(t, resp)
	assert.Equal(t, http.StatusOK, resp.Status)
	assert.Equal(t, "Validation: Testing client application reachability for subscription Request-Id: 3b3c9821-93e1-4a1a-b6b2-1e2a3b4c5d6e", string(resp.Body))
	assert.Equal(t, "text/plain; charset=utf-8", resp.Header.Get("Content-Type"))
	assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))

	for name, q := range map[string]string{
		"empty":     "validationToken=",
		"twice":     "validationToken=a&validationToken=b",
		"oversized": "validationToken=" + strings.Repeat("a", 2000),
	} {
		resp, err := hs.Handshake(ctx, asymReq(http.MethodPost, q, nil, nil), asymNow)
		wantSentinel(t, err, ErrMalformedRequest)
		assert.Nil(t, resp, name)
	}
	// Not a validation: a notification, or a GET.
	for _, r := range []*Request{
		asymReq(http.MethodPost, "", nil, []byte(graphNotification("secretClientValue"))),
		asymReq(http.MethodPost, "other=1", nil, nil),
		asymReq(http.MethodGet, graphValidationQuery, nil, nil),
	} {
		resp, err := hs.Handshake(ctx, r, asymNow)
		assert.NoError(t, err)
		assert.Nil(t, resp)
	}
}

func TestMSGraphNotifications(t *testing.T) {
	v := newTokenT(t, MSGraph, "oldState", "secretClientValue")
	ctx := context.Background()
	one := graphNotification("secretClientValue")
	d, err := v.Verify(ctx, asymReq(http.MethodPost, "", nil, []byte(one)), asymNow)
	require.NoError(t, err)
	assert.Equal(t, Delivery{ID: "lsgTZMr9KwAAA0", IDSigned: true, EventType: "created", MAC: sha([]byte(one))}, d)

	// A batch (even across a rotation) has no single id: the content form.
	two := graphNotification("secretClientValue", "oldState")
	d, err = v.Verify(ctx, asymReq(http.MethodPost, "", nil, []byte(two)), asymNow)
	require.NoError(t, err)
	assert.Equal(t, Delivery{EventType: "created", MAC: sha([]byte(two))}, d)

	lifecycle := `{"value":[{"subscriptionId":"7f10","lifecycleEvent":"reauthorizationRequired","clientState":"oldState"}]}`
	d, err = v.Verify(ctx, asymReq(http.MethodPost, "", nil, []byte(lifecycle)), asymNow)
	require.NoError(t, err)
	assert.Equal(t, Delivery{EventType: "reauthorizationRequired", MAC: sha([]byte(lifecycle))}, d)

	body := func(s string) func(r *Request) { return func(r *Request) { r.Body = []byte(s) } }
	runAsymCases(t, v, func() *Request { return asymReq(http.MethodPost, "", nil, []byte(one)) }, []asymCase{
		{"wrong clientState", body(graphNotification("guess")), ErrSignatureMismatch},
		{"one of several wrong", body(graphNotification("secretClientValue", "guess")), ErrSignatureMismatch},
		{"one without clientState", body(strings.Replace(graphNotification("secretClientValue", "x"), `"clientState":"x",`, "", 1)), ErrMissingSignature},
		{"clientState not a string", body(`{"value":[{"clientState":5}]}`), ErrMissingSignature},
		{"no value", body(`{}`), ErrMissingSignature},
		{"empty value", body(`{"value":[]}`), ErrMissingSignature},
		{"value not an array", body(`{"value":{}}`), ErrMissingSignature},
		{"not JSON", body(`value=1`), ErrMalformedRequest},
		{"empty", body(``), ErrMalformedRequest},
	}, "secretClientValue", "oldState")
}

func TestTokenSchemeConfig(t *testing.T) {
	for _, scheme := range []string{GitLab, Okta, MSGraph} {
		for _, c := range []Config{
			{Scheme: scheme},
			{Scheme: scheme, Secrets: []string{""}},
			{Scheme: scheme, Secrets: []string{"tok "}},
			{Scheme: scheme, Secrets: []string{"tok"}, Issuer: oidcIssuer},
		} {
			_, err := NewVerifier(c)
			assert.Error(t, err, "%+v", c)
		}
	}
	assert.True(t, AcceptsGET(Okta))
	for _, s := range []string{GitLab, MSGraph, Discord, SendGrid, SNS, OIDC} {
		assert.False(t, AcceptsGET(s), s)
	}
}
