package webhooksig

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Discord is the scheme of Discord's interactions endpoint and of its
// webhook events endpoint: both sign timestamp + body with Ed25519 under
// the application's public key (X-Signature-Ed25519: 128 hex digits,
// X-Signature-Timestamp: Unix seconds). secrets hold the public key in hex,
// as the Developer Portal shows it (several during a move between
// applications). Discord documents no replay window for its signed
// timestamp, so the default 5 minutes applies, in both directions.
//
// The two endpoints are told apart by the body: a webhook event has
// "type" 0 (PING) or an "event" object; anything else is an interaction
// (type 1 PING, 2..5 commands, components, autocomplete, modals).
//
//   - interaction PING: answered {"type":1} (PONG), published nothing;
//   - other interactions: published, then answered with a deferred
//     response ({"type":5}; {"type":8} with no choices for autocomplete,
//     the only valid answer there) once the broker confirms. Discord needs
//     an answer within 3 s, and the real reply must come from the consumer
//     as a follow-up through Discord's API: a command that needs an
//     immediate answer (a modal, an autocomplete list) is not a fit.
//   - webhook event PING (type 0): 204 with an empty body, published nothing;
//   - webhook events: published, answered 204.
const Discord = "discord"

const (
	hdrDiscordSignature = "X-Signature-Ed25519"
	hdrDiscordTimestamp = "X-Signature-Timestamp"
)

// Interaction types and responses (discord.com/developers/docs/interactions/receiving-and-responding).
const (
	discordPing         = 1
	discordAutocomplete = 4
)

var (
	discordPong        = []byte(`{"type":1}`)
	discordDeferred    = []byte(`{"type":5}`)
	discordNoChoices   = []byte(`{"type":8,"data":{"choices":[]}}`)
	errDiscordNotShape = errors.New("not a Discord interaction or webhook event")
)

type discordVerifier struct {
	keys      []ed25519.PublicKey
	tolerance time.Duration
}

func newDiscord(c Config) (Verifier, error) {
	if err := c.Uses(FieldSecrets); err != nil {
		return nil, err
	}
	tol, err := c.tolerance(DefaultTolerance)
	if err != nil {
		return nil, err
	}
	keys, err := parseKeys(c, parseDiscordKey)
	if err != nil {
		return nil, err
	}
	return &discordVerifier{keys: keys, tolerance: tol}, nil
}

// parseDiscordKey accepts the public key as the Developer Portal shows it:
// 64 hex digits (32 bytes).
func parseDiscordKey(s string) (ed25519.PublicKey, error) {
	if len(s) != 2*ed25519.PublicKeySize {
		return nil, fmt.Errorf("is %d characters; a Discord public key is %d hex digits", len(s), 2*ed25519.PublicKeySize)
	}
	k, err := hex.DecodeString(s)
	if err != nil {
		return nil, errors.New("is not hex (a Discord public key is 64 hex digits)")
	}
	return k, nil
}

// discordBody is what hookline reads of a verified body.
type discordBody struct {
	webhookEvent bool   // a webhook event (type 0 PING or an "event" object), not an interaction
	typ          int64  // "type"
	id           string // interaction "id" (snowflake); webhook events have none
	eventType    string // event.type (webhook events) or the interaction's type name
}

func parseDiscordBody(body []byte) (discordBody, error) {
	m, ok := jsonMembers(body)
	if !ok {
		return discordBody{}, errDiscordNotShape
	}
	typ, ok := jsonInt(m["type"])
	if !ok {
		return discordBody{}, errDiscordNotShape
	}
	var d discordBody
	d.typ = typ
	if ev, isEvent := m["event"]; typ == 0 || isEvent {
		d.webhookEvent = true
		if em, ok := jsonMembers(ev); ok {
			d.eventType = memberString(em["type"])
		}
		if typ == 0 {
			d.eventType = "PING"
		}
		return d, nil
	}
	d.id = memberString(m["id"])
	d.eventType = discordInteractionName(typ)
	return d, nil
}

func discordInteractionName(t int64) string {
	switch t {
	case 1:
		return "PING"
	case 2:
		return "APPLICATION_COMMAND"
	case 3:
		return "MESSAGE_COMPONENT"
	case 4:
		return "APPLICATION_COMMAND_AUTOCOMPLETE"
	case 5:
		return "MODAL_SUBMIT"
	}
	return fmt.Sprintf("interaction_%d", t)
}

// verify checks the signature and timestamp; the body is parsed only after.
func (v *discordVerifier) verify(r *Request, now time.Time) error {
	sigHex, err := singleHeader(r.Header, hdrDiscordSignature, hdrDiscordSignature)
	if err != nil {
		return err
	}
	ts, err := singleHeader(r.Header, hdrDiscordTimestamp, hdrDiscordTimestamp)
	if err != nil {
		return err
	}
	if len(sigHex) != 2*ed25519.SignatureSize {
		return fmt.Errorf("%w: %s is %d characters, want %d hex digits", ErrMalformedSignature, hdrDiscordSignature, len(sigHex), 2*ed25519.SignatureSize)
	}
	var sig [ed25519.SignatureSize]byte
	if _, err := hex.Decode(sig[:], []byte(sigHex)); err != nil {
		return fmt.Errorf("%w: %s is not hex", ErrMalformedSignature, hdrDiscordSignature)
	}
	sec, ok := parseUnix(ts)
	if !ok {
		return fmt.Errorf("%w: %s is not canonical integer Unix seconds", ErrMalformedSignature, hdrDiscordTimestamp)
	}
	if err := checkTolerance(sec, now, v.tolerance); err != nil {
		return err
	}
	msg := make([]byte, 0, len(ts)+len(r.Body))
	msg = append(append(msg, ts...), r.Body...)
	for _, k := range v.keys {
		if ed25519.Verify(k, msg, sig[:]) {
			return nil
		}
	}
	return fmt.Errorf("%w: %s does not verify under any of %d public keys", ErrSignatureMismatch, hdrDiscordSignature, len(v.keys))
}

// Handshake answers the two PINGs, after verifying them: Discord checks
// that an endpoint refuses bad signatures before it saves the URL.
func (v *discordVerifier) Handshake(_ context.Context, r *Request, now time.Time) (*Response, error) {
	b, err := parseDiscordBody(r.Body)
	if err != nil || !(b.webhookEvent && b.typ == 0 || !b.webhookEvent && b.typ == discordPing) {
		return nil, nil // not a PING: Verify decides
	}
	if err := v.verify(r, now); err != nil {
		return nil, err
	}
	if b.webhookEvent {
		return &Response{Status: http.StatusNoContent}, nil
	}
	return jsonResponse(http.StatusOK, discordPong), nil
}

func (v *discordVerifier) Verify(_ context.Context, r *Request, now time.Time) (Delivery, error) {
	if err := v.verify(r, now); err != nil {
		return Delivery{}, err
	}
	b, err := parseDiscordBody(r.Body)
	if err != nil {
		return Delivery{}, fmt.Errorf("%w: discord: %v (a JSON object with an integer \"type\")", ErrMalformedRequest, err)
	}
	d := Delivery{ID: b.id, IDSigned: b.id != "", EventType: b.eventType, MAC: contentDigest(r.Body)}
	switch {
	case b.webhookEvent:
		d.Reply = &Response{Status: http.StatusNoContent}
	case b.typ == discordAutocomplete:
		d.Reply = jsonResponse(http.StatusOK, discordNoChoices)
	default:
		d.Reply = jsonResponse(http.StatusOK, discordDeferred)
	}
	return d, nil
}

// jsonResponse is a Response with a JSON body.
func jsonResponse(status int, body []byte) *Response {
	h := make(http.Header, 1)
	h.Set("Content-Type", "application/json")
	return &Response{Status: status, Header: h, Body: body}
}
