package webhooksig

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// SendGrid is Twilio SendGrid's Signed Event Webhook: ECDSA P-256 with
// SHA-256 over timestamp + body, the signature base64 ASN.1 DER in
// X-Twilio-Email-Event-Webhook-Signature, the timestamp (Unix seconds) in
// X-Twilio-Email-Event-Webhook-Timestamp. secrets hold the verification key
// as the console shows it: base64 of the DER SubjectPublicKeyInfo. SendGrid
// documents no replay window, so the default 5 minutes applies.
//
// The body is a JSON array of events, each with its own sg_event_id; the
// batch has no id, so the event id is the signed-content form. The event
// type is the events' "event" when they all share one, else unknown.
const SendGrid = "sendgrid"

const (
	hdrSendGridSignature = "X-Twilio-Email-Event-Webhook-Signature"
	hdrSendGridTimestamp = "X-Twilio-Email-Event-Webhook-Timestamp"
	// maxECDSASigB64 bounds the signature header: a DER P-256 signature is
	// at most 72 bytes, 96 base64 characters.
	maxECDSASigB64 = 96
)

type sendgridVerifier struct {
	keys      []*ecdsa.PublicKey
	tolerance time.Duration
}

func newSendGrid(c Config) (Verifier, error) {
	if err := c.Uses(FieldSecrets); err != nil {
		return nil, err
	}
	tol, err := c.tolerance(DefaultTolerance)
	if err != nil {
		return nil, err
	}
	keys, err := parseKeys(c, parseSendGridKey)
	if err != nil {
		return nil, err
	}
	return &sendgridVerifier{keys: keys, tolerance: tol}, nil
}

// parseSendGridKey reads the console's verification key: standard base64
// of a DER SubjectPublicKeyInfo holding a P-256 key.
func parseSendGridKey(s string) (*ecdsa.PublicKey, error) {
	if s == "" {
		return nil, errors.New("empty")
	}
	der, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, errors.New("is not standard base64 (paste the verification key as SendGrid's console shows it, without PEM lines)")
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, errors.New("is not a DER public key (SubjectPublicKeyInfo)")
	}
	k, ok := pub.(*ecdsa.PublicKey)
	if !ok || k.Curve != elliptic.P256() {
		return nil, errors.New("is not an ECDSA P-256 public key")
	}
	return k, nil
}

func (v *sendgridVerifier) Verify(_ context.Context, r *Request, now time.Time) (Delivery, error) {
	sigB64, err := singleHeader(r.Header, hdrSendGridSignature, hdrSendGridSignature)
	if err != nil {
		return Delivery{}, err
	}
	ts, err := singleHeader(r.Header, hdrSendGridTimestamp, hdrSendGridTimestamp)
	if err != nil {
		return Delivery{}, err
	}
	if len(sigB64) > maxECDSASigB64 {
		return Delivery{}, fmt.Errorf("%w: %s is %d characters, more than a P-256 signature's %d", ErrMalformedSignature, hdrSendGridSignature, len(sigB64), maxECDSASigB64)
	}
	sig, err := base64.StdEncoding.DecodeString(sigB64)
	if err != nil {
		return Delivery{}, fmt.Errorf("%w: %s is not standard base64", ErrMalformedSignature, hdrSendGridSignature)
	}
	sec, ok := parseUnix(ts)
	if !ok {
		return Delivery{}, fmt.Errorf("%w: %s is not canonical integer Unix seconds", ErrMalformedSignature, hdrSendGridTimestamp)
	}
	if err := checkTolerance(sec, now, v.tolerance); err != nil {
		return Delivery{}, err
	}
	h := sha256.New()
	h.Write([]byte(ts))
	h.Write(r.Body)
	digest := h.Sum(nil)
	verified := false
	for _, k := range v.keys {
		if ecdsa.VerifyASN1(k, digest, sig) {
			verified = true
			break
		}
	}
	if !verified {
		return Delivery{}, fmt.Errorf("%w: %s does not verify under any of %d public keys", ErrSignatureMismatch, hdrSendGridSignature, len(v.keys))
	}
	return Delivery{EventType: sendgridEventType(r.Body), MAC: contentDigest(r.Body)}, nil
}

// sendgridEventType is the "event" all events of the batch share, or "".
func sendgridEventType(body []byte) string {
	var events []map[string]json.RawMessage
	if json.Unmarshal(body, &events) != nil {
		return ""
	}
	types := make([]string, len(events))
	for i, e := range events {
		types[i] = memberString(e["event"])
		if types[i] == "" {
			return ""
		}
	}
	return sameOrEmpty(types)
}
