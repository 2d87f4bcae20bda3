package webhooksig

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash"
	"net/http"
	"strings"
	"time"
)

// Providers whose signature is an HMAC of the raw body alone (no signed
// timestamp, so no replay window: only deduplicated, docs/schemes.md).
const (
	Bitbucket = "bitbucket" // X-Hub-Signature: sha256=<hex>
	Dropbox   = "dropbox"   // X-Dropbox-Signature: <hex>; GET challenge
	Intercom  = "intercom"  // X-Hub-Signature: sha1=<hex>
	Linear    = "linear"    // Linear-Signature: <hex>; webhookTimestamp (ms) in the signed body
	Meta      = "meta"      // X-Hub-Signature-256: sha256=<hex>; GET hub.challenge
	Sentry    = "sentry"    // Sentry-Hook-Signature: <hex>
	Shopify   = "shopify"   // X-Shopify-Hmac-Sha256: <base64>
	Typeform  = "typeform"  // Typeform-Signature: sha256=<base64>
	X         = "x"         // X-Twitter-Webhooks-Signature: sha256=<base64>; GET crc_token
)

// LinearTolerance is Linear's documented bound on webhookTimestamp.
const LinearTolerance = time.Minute

// bodyProvider is one body-MAC provider's rules.
type bodyProvider struct {
	header string
	prefix string
	enc    macEncoding
	hash   func() hash.Hash
	size   int
	// fields reads id, whether the signature covers it, and type.
	fields func(r *Request) (id string, signed bool, typ string)
}

var bodyProviders = map[string]bodyProvider{
	Bitbucket: {header: "X-Hub-Signature", prefix: "sha256=", enc: encHex, hash: sha256.New, size: 32,
		fields: func(r *Request) (string, bool, string) {
			return first(r.Header["X-Request-Uuid"]), false, first(r.Header["X-Event-Key"])
		}},
	// Dropbox's body (a list of changed accounts) carries no id or type.
	Dropbox: {header: "X-Dropbox-Signature", enc: encHex, hash: sha256.New, size: 32,
		fields: func(*Request) (string, bool, string) { return "", false, "" }},
	Intercom: {header: "X-Hub-Signature", prefix: "sha1=", enc: encHex, hash: sha1.New, size: 20,
		fields: func(r *Request) (string, bool, string) {
			var b struct {
				ID    jsonString `json:"id"`
				Topic string     `json:"topic"`
			}
			jsonObject(r.Body, &b)
			return string(b.ID), true, b.Topic
		}},
	Linear: {header: "Linear-Signature", enc: encHex, hash: sha256.New, size: 32,
		fields: func(r *Request) (string, bool, string) {
			var b struct{ Type, Action string }
			jsonObject(r.Body, &b)
			return first(r.Header["Linear-Delivery"]), false, joinType(b.Type, b.Action)
		}},
	Meta: {header: "X-Hub-Signature-256", prefix: "sha256=", enc: encHex, hash: sha256.New, size: 32,
		fields: func(r *Request) (string, bool, string) {
			var b struct{ Object string }
			jsonObject(r.Body, &b)
			return "", false, b.Object
		}},
	Sentry: {header: "Sentry-Hook-Signature", enc: encHex, hash: sha256.New, size: 32,
		fields: func(r *Request) (string, bool, string) {
			var b struct{ Action string }
			jsonObject(r.Body, &b)
			return first(r.Header["Request-Id"]), false, joinType(first(r.Header["Sentry-Hook-Resource"]), b.Action)
		}},
	Shopify: {header: "X-Shopify-Hmac-Sha256", enc: encB64, hash: sha256.New, size: 32,
		fields: func(r *Request) (string, bool, string) {
			return first(r.Header["X-Shopify-Webhook-Id"]), false, first(r.Header["X-Shopify-Topic"])
		}},
	Typeform: {header: "Typeform-Signature", prefix: "sha256=", enc: encB64, hash: sha256.New, size: 32,
		fields: func(r *Request) (string, bool, string) {
			var b struct {
				EventID   string `json:"event_id"`
				EventType string `json:"event_type"`
			}
			jsonObject(r.Body, &b)
			return b.EventID, true, b.EventType
		}},
	X: {header: "X-Twitter-Webhooks-Signature", prefix: "sha256=", enc: encB64, hash: sha256.New, size: 32,
		fields: func(r *Request) (string, bool, string) {
			// The event kind is the body's one "<kind>_events" member.
			var b map[string]json.RawMessage
			jsonObject(r.Body, &b)
			typ := ""
			for k := range b {
				if strings.HasSuffix(k, "_events") {
					if typ != "" {
						return "", false, "" // several kinds: no one type
					}
					typ = k
				}
			}
			return "", false, typ
		}},
}

// joinType is "<a>.<b>", or whichever is set.
func joinType(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "." + b
}

type bodyVerifier struct {
	scheme string
	p      bodyProvider
	k      keyset
	tol    time.Duration // linear's webhookTimestamp window
	token  string        // meta's handshake_token
}

func newBodyProvider(scheme string) func(Config) (Verifier, error) {
	return func(c Config) (Verifier, error) {
		uses := []string{FieldSecrets}
		if scheme == Meta {
			uses = append(uses, FieldHandshakeToken)
		}
		if err := c.Uses(uses...); err != nil {
			return nil, err
		}
		p := bodyProviders[scheme]
		k, err := newKeyset(c, p.hash)
		if err != nil {
			return nil, err
		}
		tol, err := c.tolerance(LinearTolerance)
		if err != nil {
			return nil, err
		}
		v := &bodyVerifier{scheme: scheme, p: p, k: k, tol: tol, token: c.HandshakeToken}
		switch scheme {
		case Dropbox:
			return &dropboxVerifier{v}, nil
		case Meta:
			if c.HandshakeToken == "" {
				return nil, fmt.Errorf("webhooksig: meta: handshake_token: required (the Verify Token entered with the callback URL)")
			}
			return &metaVerifier{v}, nil
		case X:
			return &xVerifier{v}, nil
		}
		return v, nil
	}
}

func (v *bodyVerifier) Verify(_ context.Context, r *Request, now time.Time) (Delivery, error) {
	cands, err := singleSig(r, v.p.header, v.p.prefix, v.p.enc, v.p.size)
	if err != nil {
		return Delivery{}, err
	}
	mac, _, ok := v.k.match(cands, r.Body)
	if !ok {
		return Delivery{}, fmt.Errorf("%w: %s: none of %d signatures matches", ErrSignatureMismatch, v.p.header, len(cands))
	}
	if v.scheme == Linear {
		// webhookTimestamp is inside the signed body: Linear's replay bound.
		var b struct {
			WebhookTimestamp json.Number `json:"webhookTimestamp"`
		}
		jsonObject(r.Body, &b)
		if b.WebhookTimestamp == "" {
			return Delivery{}, fmt.Errorf("%w: linear: signed body has no webhookTimestamp", ErrMalformedRequest)
		}
		if err := checkUnix(b.WebhookTimestamp.String(), "webhookTimestamp", true, now, v.tol); err != nil {
			return Delivery{}, err
		}
	}
	id, signed, typ := v.p.fields(r)
	return Delivery{ID: id, IDSigned: signed && id != "", EventType: typ, MAC: macID(mac)}, nil
}

// metaVerifier adds Meta's verification request: GET with hub.mode=subscribe,
// hub.verify_token equal to the source's handshake_token, and hub.challenge
// echoed (https://developers.facebook.com/docs/graph-api/webhooks/getting-started).
type metaVerifier struct{ *bodyVerifier }

func (v *metaVerifier) Handshake(_ context.Context, r *Request, _ time.Time) (*Response, error) {
	if r.Method != http.MethodGet {
		return nil, nil
	}
	q := r.URL.Query()
	mode, token, ch := q.Get("hub.mode"), q.Get("hub.verify_token"), q.Get("hub.challenge")
	if mode != "subscribe" || ch == "" || len(ch) > maxChallenge {
		return nil, fmt.Errorf("%w: meta: GET without hub.mode=subscribe and a hub.challenge of 1–%d bytes", ErrMalformedRequest, maxChallenge)
	}
	if !constantEqual(token, v.token) {
		return nil, fmt.Errorf("%w: meta: hub.verify_token does not match handshake_token", ErrSignatureMismatch)
	}
	return textResponse(ch), nil
}

// xVerifier adds X's challenge-response check: GET ?crc_token=… answered
// {"response_token": "sha256=" + base64(HMAC-SHA256(consumer secret,
// crc_token))} (X Account Activity API, "Securing webhooks"). The newest
// secret (the first listed) answers.
type xVerifier struct{ *bodyVerifier }

func (v *xVerifier) Handshake(_ context.Context, r *Request, _ time.Time) (*Response, error) {
	if r.Method != http.MethodGet {
		return nil, nil
	}
	tok := queryValue(r, "crc_token")
	if tok == "" || len(tok) > maxCRCToken || !crcAlphabet(tok) {
		return nil, fmt.Errorf("%w: x: GET without a crc_token of 1–%d base64 or base64url characters", ErrMalformedRequest, maxCRCToken)
	}
	mac := v.k.sum(0, []byte(tok))
	body, _ := json.Marshal(map[string]string{"response_token": "sha256=" + base64.StdEncoding.EncodeToString(mac)})
	return &Response{Status: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}}, Body: body}, nil
}

// maxCRCToken bounds X's crc_token (X sends a short random token).
const maxCRCToken = 256

// crcAlphabet reports whether s uses only the base64 and base64url
// alphabets. The CRC answer is the HMAC, under the very key that signs
// deliveries, of a string the caller chooses: restricted to this alphabet
// it can never be the signature of a delivery, whose body is a JSON
// object (Verify refuses any other body).
func crcAlphabet(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Verify accepts only a JSON object body (X's deliveries are), so that no
// CRC answer, which signs a base64-alphabet token, verifies as a delivery.
func (v *xVerifier) Verify(ctx context.Context, r *Request, now time.Time) (Delivery, error) {
	d, err := v.bodyVerifier.Verify(ctx, r, now)
	if err != nil {
		return d, err
	}
	if b := strings.TrimLeft(string(r.Body), " \t\r\n"); !strings.HasPrefix(b, "{") {
		return Delivery{}, fmt.Errorf("%w: x: body is not a JSON object", ErrMalformedRequest)
	}
	return d, nil
}
