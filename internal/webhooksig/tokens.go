package webhooksig

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// Shared-token schemes: the provider sends a secret the source configured
// with it, and signs nothing. Whoever holds one captured request can send
// anything, so there is no replay protection: a resent request is only
// deduplicated, by the provider's delivery id. That id is authenticated by
// the token exactly as much as the body is (both are only as trustworthy
// as the token), so it is used as the event id (Delivery.IDSigned); a
// request without it falls back to the digest of the body. Tokens are
// compared in constant time over their SHA-256 digests; several tokens per
// source allow rotation.
const (
	// GitLab: X-Gitlab-Token holds the webhook's secret token; the id is
	// Idempotency-Key (kept across GitLab's retries), the type the body's
	// object_kind (else X-Gitlab-Event).
	GitLab = "gitlab"
	// Okta: event hooks send the configured authorization header value in
	// Authorization; the id is the body's eventId; the type the events'
	// eventType when the batch shares one, else the body's eventType.
	// One-time verification: a GET with X-Okta-Verification-Challenge
	// (sent with the same Authorization) is answered
	// {"verification":"<challenge>"}.
	Okta = "okta"
	// MSGraph: Microsoft Graph change notifications carry the
	// subscription's clientState in every notification of the body's
	// "value"; each must match. Validation: a POST with ?validationToken=
	// is answered 200 text/plain with the decoded token.
	MSGraph = "msgraph"
)

const (
	hdrGitLabToken    = "X-Gitlab-Token"
	hdrGitLabEvent    = "X-Gitlab-Event"
	hdrIdempotencyKey = "Idempotency-Key"
	hdrAuthorization  = "Authorization"
	hdrOktaChallenge  = "X-Okta-Verification-Challenge"
)

// ---- gitlab ---------------------------------------------------------------

type gitlabVerifier struct{ tokens tokenSet }

func newGitLab(c Config) (Verifier, error) {
	if err := c.Uses(FieldSecrets); err != nil {
		return nil, err
	}
	ts, err := newTokenSet(c)
	if err != nil {
		return nil, err
	}
	return &gitlabVerifier{tokens: ts}, nil
}

func (v *gitlabVerifier) Verify(_ context.Context, r *Request, _ time.Time) (Delivery, error) {
	tok, err := singleHeader(r.Header, hdrGitLabToken, hdrGitLabToken)
	if err != nil {
		return Delivery{}, err
	}
	if !v.tokens.match(tok) {
		return Delivery{}, fmt.Errorf("%w: %s matches none of %d tokens", ErrSignatureMismatch, hdrGitLabToken, len(v.tokens))
	}
	id := first(r.Header[hdrIdempotencyKey])
	typ := first(r.Header[hdrGitLabEvent])
	if k := memberString(member(r.Body, "object_kind")); k != "" {
		typ = k
	}
	return Delivery{ID: id, IDSigned: id != "", EventType: typ, MAC: contentDigest(r.Body)}, nil
}

// ---- okta -------------------------------------------------------------------

type oktaVerifier struct{ tokens tokenSet }

func newOkta(c Config) (Verifier, error) {
	if err := c.Uses(FieldSecrets); err != nil {
		return nil, err
	}
	ts, err := newTokenSet(c)
	if err != nil {
		return nil, err
	}
	return &oktaVerifier{tokens: ts}, nil
}

func (v *oktaVerifier) authorize(r *Request) error {
	tok, err := singleHeader(r.Header, hdrAuthorization, hdrAuthorization)
	if err != nil {
		return err
	}
	if !v.tokens.match(tok) {
		return fmt.Errorf("%w: okta: Authorization matches none of %d configured values", ErrSignatureMismatch, len(v.tokens))
	}
	return nil
}

// Handshake answers Okta's one-time verification GET, which carries the
// hook's Authorization value like every delivery.
func (v *oktaVerifier) Handshake(_ context.Context, r *Request, _ time.Time) (*Response, error) {
	if r.Method != http.MethodGet {
		return nil, nil
	}
	if err := v.authorize(r); err != nil {
		return nil, err
	}
	vals := r.Header[hdrOktaChallenge]
	if len(vals) != 1 || vals[0] == "" || len(vals[0]) > maxChallenge {
		return nil, fmt.Errorf("%w: okta: a GET is Okta's verification and needs one %s header of at most %d bytes", ErrMalformedRequest, hdrOktaChallenge, maxChallenge)
	}
	body, err := json.Marshal(struct {
		Verification string `json:"verification"`
	}{vals[0]})
	if err != nil {
		return nil, fmt.Errorf("%w: okta: challenge: %v", ErrMalformedRequest, err)
	}
	return jsonResponse(http.StatusOK, body), nil
}

func (v *oktaVerifier) Verify(_ context.Context, r *Request, _ time.Time) (Delivery, error) {
	if r.Method == http.MethodGet {
		return Delivery{}, fmt.Errorf("%w: okta: a GET is only Okta's one-time verification", ErrMalformedRequest)
	}
	if err := v.authorize(r); err != nil {
		return Delivery{}, err
	}
	d := Delivery{MAC: contentDigest(r.Body)}
	m, ok := jsonMembers(r.Body)
	if !ok {
		return d, nil
	}
	d.ID = memberString(m["eventId"])
	d.IDSigned = d.ID != ""
	d.EventType = memberString(m["eventType"])
	if data, ok := jsonMembers(m["data"]); ok {
		var events []map[string]json.RawMessage
		if json.Unmarshal(data["events"], &events) == nil {
			types := make([]string, 0, len(events))
			for _, e := range events {
				types = append(types, memberString(e["eventType"]))
			}
			if t := sameOrEmpty(types); t != "" {
				d.EventType = t
			}
		}
	}
	return d, nil
}

// ---- msgraph ----------------------------------------------------------------

type msgraphVerifier struct{ tokens tokenSet }

func newMSGraph(c Config) (Verifier, error) {
	if err := c.Uses(FieldSecrets); err != nil {
		return nil, err
	}
	ts, err := newTokenSet(c)
	if err != nil {
		return nil, err
	}
	return &msgraphVerifier{tokens: ts}, nil
}

// Handshake answers Graph's endpoint validation: a POST whose query holds
// validationToken, answered within 10 s with the decoded token as
// text/plain (nosniff, so the echo cannot be read as markup). Graph sends
// no clientState with it; the answer proves only that the endpoint is
// reachable, and no subscription can be created without the token.
func (v *msgraphVerifier) Handshake(_ context.Context, r *Request, _ time.Time) (*Response, error) {
	if r.Method != http.MethodPost || r.URL == nil {
		return nil, nil
	}
	q := r.URL.Query()
	vals, ok := q["validationToken"]
	if !ok {
		return nil, nil
	}
	if len(vals) != 1 || vals[0] == "" || len(vals[0]) > maxChallenge {
		return nil, fmt.Errorf("%w: msgraph: validationToken must be one non-empty value of at most %d bytes", ErrMalformedRequest, maxChallenge)
	}
	h := make(http.Header, 2)
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	return &Response{Status: http.StatusOK, Header: h, Body: []byte(vals[0])}, nil
}

func (v *msgraphVerifier) Verify(_ context.Context, r *Request, _ time.Time) (Delivery, error) {
	m, ok := jsonMembers(r.Body)
	if !ok {
		return Delivery{}, fmt.Errorf("%w: msgraph: body is not a JSON object (a change notification collection)", ErrMalformedRequest)
	}
	var items []map[string]json.RawMessage
	if raw, ok := m["value"]; !ok || json.Unmarshal(raw, &items) != nil || len(items) == 0 {
		return Delivery{}, fmt.Errorf("%w: msgraph: no notifications in \"value\", so no clientState", ErrMissingSignature)
	}
	if len(items) > maxEntries*16 {
		return Delivery{}, fmt.Errorf("%w: msgraph: %d notifications in one request", ErrMalformedRequest, len(items))
	}
	types := make([]string, len(items))
	for i, it := range items {
		cs := memberString(it["clientState"])
		if cs == "" {
			return Delivery{}, fmt.Errorf("%w: msgraph: notification %d has no clientState", ErrMissingSignature, i+1)
		}
		if !v.tokens.match(cs) {
			return Delivery{}, fmt.Errorf("%w: msgraph: notification %d: clientState matches none of %d configured values", ErrSignatureMismatch, i+1, len(v.tokens))
		}
		types[i] = memberString(it["changeType"])
		if types[i] == "" {
			types[i] = memberString(it["lifecycleEvent"])
		}
	}
	d := Delivery{EventType: sameOrEmpty(types), MAC: contentDigest(r.Body)}
	if len(items) == 1 {
		d.ID = memberString(items[0]["id"])
		d.IDSigned = d.ID != ""
	}
	return d, nil
}
