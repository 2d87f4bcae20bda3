package webhooksig

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// Providers that sign the URL configured with them (signed_url), and
// Mailgun, which signs a token instead of the body.
const (
	HubSpot = "hubspot" // X-HubSpot-Signature-v3: base64 HMAC-SHA256(method + URI + body + timestamp ms)
	Mailgun = "mailgun" // body fields timestamp, token, signature: hex HMAC-SHA256(timestamp + token)
	Square  = "square"  // x-square-hmacsha256-signature: base64 HMAC-SHA256(notification URL + body)
	Twilio  = "twilio"  // X-Twilio-Signature: base64 HMAC-SHA1(URL + sorted form params); bodySHA256 for JSON
)

// HubSpotTolerance is HubSpot's documented bound on X-HubSpot-Request-Timestamp.
const HubSpotTolerance = 5 * time.Minute

type urlVerifier struct {
	scheme string
	k      keyset
	url    string
	tol    time.Duration
}

func newURLProvider(scheme string) func(Config) (Verifier, error) {
	return func(c Config) (Verifier, error) {
		if err := c.Uses(FieldSecrets, FieldSignedURL); err != nil {
			return nil, err
		}
		if err := checkSignedURL(c); err != nil {
			return nil, err
		}
		tol, err := c.tolerance(HubSpotTolerance)
		if err != nil {
			return nil, err
		}
		h := sha256New
		if scheme == Twilio {
			h = sha1.New
		}
		k, err := newKeyset(c, h)
		if err != nil {
			return nil, err
		}
		return &urlVerifier{scheme: scheme, k: k, url: c.SignedURL, tol: tol}, nil
	}
}

func (v *urlVerifier) Verify(_ context.Context, r *Request, now time.Time) (Delivery, error) {
	switch v.scheme {
	case Square:
		const h = "X-Square-Hmacsha256-Signature"
		cands, err := singleSig(r, h, "", encB64, macSize)
		if err != nil {
			return Delivery{}, err
		}
		mac, _, ok := v.k.match(cands, []byte(signedURL(v.url, r)), r.Body)
		if !ok {
			return Delivery{}, fmt.Errorf("%w: %s: no match for signed_url + body", ErrSignatureMismatch, h)
		}
		var b struct {
			EventID string `json:"event_id"`
			Type    string `json:"type"`
		}
		jsonObject(r.Body, &b)
		return Delivery{ID: b.EventID, IDSigned: b.EventID != "", EventType: b.Type, MAC: macID(mac)}, nil
	case HubSpot:
		return v.hubspot(r, now)
	}
	return v.twilio(r)
}

// hubspotDecode undoes the percent-encodings HubSpot decodes in the URI
// before signing (HubSpot, "Validate requests using the v3 request signature").
var hubspotDecode = strings.NewReplacer("%3A", ":", "%2F", "/", "%3F", "?", "%40", "@", "%21", "!", "%24", "$",
	"%27", "'", "%28", "(", "%29", ")", "%2A", "*", "%2C", ",", "%3B", ";")

func (v *urlVerifier) hubspot(r *Request, now time.Time) (Delivery, error) {
	const h = "X-Hubspot-Signature-V3"
	cands, err := singleSig(r, h, "", encB64, macSize)
	if err != nil {
		return Delivery{}, err
	}
	ts, err := unixHeader(r, "X-Hubspot-Request-Timestamp", true, now, v.tol)
	if err != nil {
		return Delivery{}, err
	}
	uri := hubspotDecode.Replace(signedURL(v.url, r))
	mac, _, ok := v.k.match(cands, []byte(r.Method), []byte(uri), r.Body, []byte(ts))
	if !ok {
		return Delivery{}, fmt.Errorf("%w: %s: no match for method + signed_url + body + timestamp", ErrSignatureMismatch, h)
	}
	d := Delivery{MAC: macID(mac)}
	// A delivery is a batch of events; one event's eventId is its id.
	var events []struct {
		EventID          jsonString `json:"eventId"`
		SubscriptionType string     `json:"subscriptionType"`
	}
	_ = json.Unmarshal(r.Body, &events)
	if len(events) == 1 {
		d.ID, d.IDSigned = string(events[0].EventID), events[0].EventID != ""
	}
	for i, e := range events {
		if i > 0 && e.SubscriptionType != d.EventType {
			d.EventType = ""
			break
		}
		d.EventType = e.SubscriptionType
	}
	return d, nil
}

// twilio: the configured URL (with the query as received) followed, for a
// form POST, by every parameter name and value sorted by name (values of a
// repeated name sorted too); a JSON body is covered instead by the
// bodySHA256 query parameter, hex SHA-256 of the body
// (https://www.twilio.com/docs/usage/webhooks/webhooks-security).
func (v *urlVerifier) twilio(r *Request) (Delivery, error) {
	const h = "X-Twilio-Signature"
	cands, err := singleSig(r, h, "", encB64, sha1.Size)
	if err != nil {
		return Delivery{}, err
	}
	signed := signedURL(v.url, r)
	var form url.Values
	if sum := queryValue(r, "bodySHA256"); sum != "" {
		got := sha256.Sum256(r.Body)
		want, err := hex.DecodeString(sum)
		if err != nil || len(want) != sha256.Size {
			return Delivery{}, fmt.Errorf("%w: twilio: bodySHA256 is not a hex SHA-256", ErrMalformedRequest)
		}
		if subtle.ConstantTimeCompare(got[:], want) != 1 {
			return Delivery{}, fmt.Errorf("%w: twilio: body does not match bodySHA256", ErrSignatureMismatch)
		}
	} else if r.Method == "POST" {
		if form, err = url.ParseQuery(string(r.Body)); err != nil {
			return Delivery{}, fmt.Errorf("%w: twilio: body is not a form", ErrMalformedRequest)
		}
		names := make([]string, 0, len(form))
		for n := range form {
			names = append(names, n)
		}
		sort.Strings(names)
		var b strings.Builder
		b.WriteString(signed)
		for _, n := range names {
			vals := append([]string(nil), form[n]...)
			sort.Strings(vals)
			for _, val := range vals {
				b.WriteString(n)
				b.WriteString(val)
			}
		}
		signed = b.String()
	}
	mac, _, ok := v.k.match(cands, []byte(signed))
	if !ok {
		return Delivery{}, fmt.Errorf("%w: %s: no match for signed_url + parameters", ErrSignatureMismatch, h)
	}
	d := Delivery{ID: first(r.Header["I-Twilio-Idempotency-Token"]), MAC: macID(mac)}
	switch {
	case form.Get("MessageStatus") != "":
		d.EventType = "message." + form.Get("MessageStatus")
	case form.Get("CallStatus") != "":
		d.EventType = "call." + form.Get("CallStatus")
	}
	return d, nil
}

// ---- mailgun ----------------------------------------------------------------

// maxMailgunTokens bounds one receiver instance's token cache.
const maxMailgunTokens = 1 << 17

type mailgunVerifier struct {
	k   keyset
	tol time.Duration

	mu     sync.Mutex
	tokens map[string]int64 // token → Unix second after which it may be forgotten
}

func newMailgun(c Config) (Verifier, error) {
	if err := c.Uses(FieldSecrets); err != nil {
		return nil, err
	}
	tol, err := c.tolerance(DefaultTolerance)
	if err != nil {
		return nil, err
	}
	k, err := newKeyset(c, sha256New)
	if err != nil {
		return nil, err
	}
	return &mailgunVerifier{k: k, tol: tol, tokens: map[string]int64{}}, nil
}

// Verify checks Mailgun's signature of timestamp + token (the body itself
// is not signed), the timestamp's window, and that this receiver instance
// has not seen the token before: the token cache is the replay protection,
// per instance (docs/schemes.md).
func (v *mailgunVerifier) Verify(_ context.Context, r *Request, now time.Time) (Delivery, error) {
	var sig struct{ Timestamp, Token, Signature string }
	var evID, evType string
	var js struct {
		Signature *struct {
			Timestamp jsonString `json:"timestamp"`
			Token     string     `json:"token"`
			Signature string     `json:"signature"`
		} `json:"signature"`
		EventData struct {
			ID    string `json:"id"`
			Event string `json:"event"`
		} `json:"event-data"`
	}
	if err := json.Unmarshal(r.Body, &js); err == nil {
		if js.Signature != nil {
			sig.Timestamp, sig.Token, sig.Signature = string(js.Signature.Timestamp), js.Signature.Token, js.Signature.Signature
		}
		evID, evType = js.EventData.ID, js.EventData.Event
	} else {
		form, err := url.ParseQuery(string(r.Body))
		if err != nil {
			return Delivery{}, fmt.Errorf("%w: mailgun: body is neither JSON nor a form", ErrMalformedRequest)
		}
		sig.Timestamp, sig.Token, sig.Signature = form.Get("timestamp"), form.Get("token"), form.Get("signature")
		evID, evType = form.Get("Message-Id"), form.Get("event")
	}
	if sig.Signature == "" || sig.Token == "" || sig.Timestamp == "" {
		return Delivery{}, fmt.Errorf("%w: mailgun: no signature, token and timestamp in the body", ErrMissingSignature)
	}
	if len(sig.Token) > 256 {
		return Delivery{}, fmt.Errorf("%w: mailgun: token longer than 256 bytes", ErrMalformedSignature)
	}
	cand, ok := decodeMAC(sig.Signature, encHex, macSize)
	if !ok {
		return Delivery{}, fmt.Errorf("%w: mailgun: signature is not a hex HMAC-SHA256", ErrMalformedSignature)
	}
	if err := checkUnix(sig.Timestamp, "mailgun timestamp", false, now, v.tol); err != nil {
		return Delivery{}, err
	}
	mac, _, ok := v.k.match([][]byte{cand}, []byte(sig.Timestamp), []byte(sig.Token))
	if !ok {
		return Delivery{}, fmt.Errorf("%w: mailgun: signature does not match timestamp + token", ErrSignatureMismatch)
	}
	ts, _ := parseUnix(sig.Timestamp)
	if err := v.remember(sig.Token, ts+int64(v.tol/time.Second)+1, now); err != nil {
		return Delivery{}, err
	}
	return Delivery{ID: evID, EventType: evType, MAC: macID(mac)}, nil
}

// remember records a token until forget (Unix seconds); a token already
// held is a replay.
func (v *mailgunVerifier) remember(token string, forget int64, now time.Time) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, seen := v.tokens[token]; seen {
		return fmt.Errorf("%w: mailgun: token already used (a replay)", ErrSignatureMismatch)
	}
	if len(v.tokens) >= maxMailgunTokens {
		for t, until := range v.tokens {
			if until < now.Unix() {
				delete(v.tokens, t)
			}
		}
		if len(v.tokens) >= maxMailgunTokens {
			// Full of live tokens: refusing (Mailgun retries) keeps the
			// replay protection; accepting would not.
			return fmt.Errorf("%w: mailgun: token cache full", ErrUnavailable)
		}
	}
	v.tokens[token] = forget
	return nil
}
