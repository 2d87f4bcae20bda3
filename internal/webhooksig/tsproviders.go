package webhooksig

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/hookline/hookline/internal/jsonscan"
)

// Providers that sign a timestamp with the body (replay window).
const (
	Calendly  = "calendly"  // Calendly-Webhook-Signature: t=<unix>,v1=<hex>; t + "." + body
	PagerDuty = "pagerduty" // X-PagerDuty-Signature: v1=<hex>[,v1=<hex>]; body (v3 webhooks)
	Paddle    = "paddle"    // Paddle-Signature: ts=<unix>;h1=<hex>; ts + ":" + body
	Slack     = "slack"     // X-Slack-Signature: v0=<hex>; "v0:" + ts + ":" + body
	Zoom      = "zoom"      // x-zm-signature: v0=<hex>; "v0:" + ts + ":" + body
)

// Documented replay windows.
const (
	PaddleTolerance   = 5 * time.Second // Paddle: "within 5 seconds"
	SlackTolerance    = 5 * time.Minute // Slack: "more than five minutes"
	CalendlyTolerance = 3 * time.Minute // Calendly's verification example
)

type tsVerifier struct {
	scheme string
	k      keyset
	tol    time.Duration
}

func newTS(scheme string, def time.Duration) func(Config) (Verifier, error) {
	return func(c Config) (Verifier, error) {
		if err := c.Uses(FieldSecrets); err != nil {
			return nil, err
		}
		tol, err := c.tolerance(def)
		if err != nil {
			return nil, err
		}
		k, err := newKeyset(c, sha256New)
		if err != nil {
			return nil, err
		}
		v := &tsVerifier{scheme: scheme, k: k, tol: tol}
		switch scheme {
		case Slack:
			return &slackVerifier{v}, nil
		case Zoom:
			return &zoomVerifier{v}, nil
		}
		return v, nil
	}
}

// verify checks the signature and returns the verified MAC and the index
// of the key that verified it.
func (v *tsVerifier) verify(r *Request, now time.Time) ([]byte, int, error) {
	var (
		ts     string
		cands  [][]byte
		parts  [][]byte
		header string
		err    error
	)
	switch v.scheme {
	case Calendly:
		header = "Calendly-Webhook-Signature"
		ts, cands, err = kvSig(r, header, ',', "t", "v1", encHex)
		parts = [][]byte{[]byte(ts + "."), r.Body}
	case Paddle:
		header = "Paddle-Signature"
		ts, cands, err = kvSig(r, header, ';', "ts", "h1", encHex)
		parts = [][]byte{[]byte(ts + ":"), r.Body}
	case PagerDuty:
		header = "X-Pagerduty-Signature"
		_, cands, err = kvSig(r, header, ',', "", "v1", encHex)
		parts = [][]byte{r.Body}
	case Slack, Zoom:
		header, tsHeader := "X-Slack-Signature", "X-Slack-Request-Timestamp"
		if v.scheme == Zoom {
			header, tsHeader = "X-Zm-Signature", "X-Zm-Request-Timestamp"
		}
		if cands, err = singleSig(r, header, "v0=", encHex, macSize); err != nil {
			return nil, -1, err
		}
		if ts, err = unixHeader(r, tsHeader, false, now, v.tol); err != nil {
			return nil, -1, err
		}
		parts = [][]byte{[]byte("v0:" + ts + ":"), r.Body}
	}
	if err != nil {
		return nil, -1, err
	}
	if ts != "" && v.scheme != Slack && v.scheme != Zoom {
		if err := checkUnix(ts, header+" timestamp", false, now, v.tol); err != nil {
			return nil, -1, err
		}
	}
	mac, i, ok := v.k.match(cands, parts...)
	if !ok {
		return nil, -1, fmt.Errorf("%w: %s: none of %d signatures matches", ErrSignatureMismatch, header, len(cands))
	}
	return mac, i, nil
}

func (v *tsVerifier) Verify(_ context.Context, r *Request, now time.Time) (Delivery, error) {
	mac, _, err := v.verify(r, now)
	if err != nil {
		return Delivery{}, err
	}
	d := Delivery{MAC: macID(mac)}
	switch v.scheme {
	case Calendly:
		var b struct{ Event string }
		jsonObject(r.Body, &b)
		d.EventType = b.Event
	case Paddle:
		var b struct {
			EventID   string `json:"event_id"`
			EventType string `json:"event_type"`
		}
		jsonObject(r.Body, &b)
		d.ID, d.EventType = b.EventID, b.EventType
	case PagerDuty:
		var b struct {
			Event struct {
				ID        string `json:"id"`
				EventType string `json:"event_type"`
			} `json:"event"`
		}
		jsonObject(r.Body, &b)
		d.ID, d.EventType = b.Event.ID, b.Event.EventType
	case Slack:
		d.ID, d.EventType = slackFields(r.Body)
	case Zoom:
		var b struct{ Event string }
		jsonObject(r.Body, &b)
		d.EventType = b.Event
	}
	d.IDSigned = d.ID != ""
	return d, nil
}

// slackFields: Events API bodies carry event_id and, for event_callback,
// the inner event's type; interactivity posts a form with a JSON payload;
// slash commands a form with command.
func slackFields(body []byte) (id, typ string) {
	if b, ok := slackJSON(body); ok {
		if b.typ == "event_callback" && b.eventType != "" {
			return b.eventID, b.eventType
		}
		return b.eventID, b.typ
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return "", ""
	}
	if p := form.Get("payload"); p != "" {
		var pl struct{ Type string }
		_ = json.Unmarshal([]byte(p), &pl)
		return "", pl.Type
	}
	if form.Get("command") != "" {
		return "", "slash_command"
	}
	return "", ""
}

// slackVerifier answers Slack's url_verification (a signed POST whose JSON
// type is url_verification) with its challenge
// (https://api.slack.com/events/url_verification).
type slackVerifier struct{ *tsVerifier }

func (v *slackVerifier) Handshake(_ context.Context, r *Request, now time.Time) (*Response, error) {
	var b struct{ Type, Challenge string }
	if r.Method != http.MethodPost || json.Unmarshal(r.Body, &b) != nil || b.Type != "url_verification" {
		return nil, nil
	}
	if _, _, err := v.verify(r, now); err != nil {
		return nil, err
	}
	if b.Challenge == "" || len(b.Challenge) > maxChallenge {
		return nil, fmt.Errorf("%w: slack: url_verification without a challenge of 1–%d bytes", ErrMalformedRequest, maxChallenge)
	}
	out, _ := json.Marshal(map[string]string{"challenge": b.Challenge})
	return &Response{Status: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}}, Body: out}, nil
}

// zoomVerifier answers Zoom's endpoint.url_validation, itself signed like
// every event: {"plainToken", "encryptedToken": hex(HMAC-SHA256(secret
// token, plainToken))}, with the secret that verified the request
// (https://developers.zoom.us/docs/api/webhooks/#validate-your-webhook-endpoint).
type zoomVerifier struct{ *tsVerifier }

func (v *zoomVerifier) Handshake(_ context.Context, r *Request, now time.Time) (*Response, error) {
	var b struct {
		Event   string `json:"event"`
		Payload struct {
			PlainToken string `json:"plainToken"`
		} `json:"payload"`
	}
	if r.Method != http.MethodPost || json.Unmarshal(r.Body, &b) != nil || b.Event != "endpoint.url_validation" {
		return nil, nil
	}
	_, i, err := v.verify(r, now)
	if err != nil {
		return nil, err
	}
	if b.Payload.PlainToken == "" || len(b.Payload.PlainToken) > maxChallenge {
		return nil, fmt.Errorf("%w: zoom: endpoint.url_validation without a plainToken of 1–%d bytes", ErrMalformedRequest, maxChallenge)
	}
	enc := hexString(v.k.sum(i, []byte(b.Payload.PlainToken)))
	out, _ := json.Marshal(map[string]string{"plainToken": b.Payload.PlainToken, "encryptedToken": enc})
	return &Response{Status: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}}, Body: out}, nil
}

// slackBody is what slackFields reads from an Events API body.
type slackBody struct{ typ, eventID, eventType string }

// slackJSON reads body as json.Unmarshal into
//
//	struct {
//		Type    string `json:"type"`
//		EventID string `json:"event_id"`
//		Event   struct{ Type string `json:"type"` } `json:"event"`
//	}
//
// would, without decoding the rest: false where Unmarshal returns an error
// (invalid JSON, trailing data, a top level that is neither an object nor
// null, a field of another type than its own or null). Keys select fields
// as encoding/json's do (exact or case-folded); null leaves a field as it
// was; a later "event" object merges into an earlier one, as Unmarshal
// decodes both into the same struct. FuzzSlackJSON checks it against
// encoding/json.
func slackJSON(body []byte) (slackBody, bool) {
	var b slackBody
	if !jsonscan.Valid(body) {
		return b, false
	}
	if top, _ := jsonscan.First(body); top[0] != '{' {
		return b, top[0] == 'n' // null: no error, nothing set
	}
	ok := true
	// str sets *dst from a string value; null keeps it; anything else is
	// Unmarshal's type error.
	str := func(dst *string, v []byte) {
		switch v[0] {
		case '"':
			*dst = jsonscan.Unquote(v)
		case 'n':
		default:
			ok = false
		}
	}
	jsonscan.Object(body, func(k, v []byte) {
		switch {
		case jsonscan.KeyFolds(k, "type"):
			str(&b.typ, v)
		case jsonscan.KeyFolds(k, "event_id"):
			str(&b.eventID, v)
		case jsonscan.KeyFolds(k, "event"):
			switch v[0] {
			case '{':
				jsonscan.Members(v, func(k, v []byte) bool {
					if jsonscan.KeyFolds(k, "type") {
						str(&b.eventType, v)
					}
					return true
				})
			case 'n':
			default:
				ok = false
			}
		}
	})
	if !ok {
		return slackBody{}, false
	}
	return b, true
}
