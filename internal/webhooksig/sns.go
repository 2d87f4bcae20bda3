package webhooksig

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha1" // SNS SignatureVersion 1 is SHA1withRSA, as AWS defines it
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
)

// SNS is an Amazon SNS HTTP(S) subscription. The body is SNS's JSON
// envelope; its Signature (base64) is RSA PKCS#1 v1.5 over the documented
// string to sign, SHA-1 for SignatureVersion 1 and SHA-256 for 2, under the
// certificate at SigningCertURL. That URL is fetched only over HTTPS from
// sns.<region>.amazonaws.com or sns.<region>.amazonaws.com.cn, with the path
// AWS uses (/SimpleNotificationService-<id>.pem), and the certificate is
// cached. Every message's TopicArn must be one of the source's topics: SNS
// signs every topic's messages with the same certificates, so a signature
// alone says only "some AWS customer's topic".
//
//   - SubscriptionConfirmation (a handshake): verified, topic checked, then
//     confirmed by fetching its SubscribeURL (HTTPS, sns.<region> host
//     only); answered 200, nothing published.
//   - UnsubscribeConfirmation (a handshake): verified and answered 200;
//     nothing is fetched (re-subscribing is an operator's decision).
//   - Notification: published. The event id is MessageId (signed), the
//     event type "Notification".
//
// The signed Timestamp is the time SNS accepted the message, kept on
// retries; it must be within the tolerance (default 5 minutes, which
// covers SNS's default HTTP delivery policy of 3 retries 20 s apart; a
// source with a longer delivery policy sets a longer tolerance).
// Raw message delivery sends the bare message without envelope or
// signature and is refused.
const SNS = "sns"

const (
	hdrSNSRawDelivery = "X-Amz-Sns-Rawdelivery"
	snsTypeNotify     = "Notification"
	snsTypeSubscribe  = "SubscriptionConfirmation"
	snsTypeUnsub      = "UnsubscribeConfirmation"
	// maxCertBytes bounds a signing certificate download (AWS's are ~2 KB).
	maxCertBytes = 64 << 10
	// snsCertTTL is how long a fetched certificate is used before it is
	// fetched again; snsCertRetry how long a failed fetch is remembered,
	// so a flood of messages naming one bad URL costs one fetch per interval.
	snsCertTTL   = 24 * time.Hour
	snsCertRetry = 30 * time.Second
	// snsCertMax bounds the cache; AWS uses a handful of certificates.
	snsCertMax = 64
	// snsFetchTimeout bounds one certificate fetch.
	snsFetchTimeout = 5 * time.Second
)

var (
	// snsHost is the host of SNS's endpoints, in the commercial and the
	// China partitions (docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html).
	snsHost     = regexp.MustCompile(`^sns\.[a-z0-9]+(-[a-z0-9]+)+\.amazonaws\.com(\.cn)?$`)
	snsCertPath = regexp.MustCompile(`^/SimpleNotificationService-[A-Za-z0-9_-]{1,64}\.pem$`)
	snsTopicARN = regexp.MustCompile(`^arn:aws(-cn|-us-gov)?:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_.-]{1,256}$`)
)

type snsVerifier struct {
	topics    map[string]bool
	tolerance time.Duration
	client    *http.Client
	certs     *snsCertCache
}

func newSNS(c Config) (Verifier, error) {
	if err := c.Uses(FieldTopics); err != nil {
		return nil, err
	}
	tol, err := c.tolerance(DefaultTolerance)
	if err != nil {
		return nil, err
	}
	if len(c.Topics) == 0 {
		return nil, fmt.Errorf("webhooksig: %s: no topics configured (list the topic ARNs this source accepts)", c.Scheme)
	}
	topics := make(map[string]bool, len(c.Topics))
	for i, t := range c.Topics {
		if !snsTopicARN.MatchString(t) {
			return nil, fmt.Errorf("webhooksig: %s topic #%d %q is not an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)", c.Scheme, i+1, t)
		}
		topics[t] = true
	}
	client := c.Client()
	return &snsVerifier{topics: topics, tolerance: tol, client: client, certs: newSNSCertCache(client)}, nil
}

// snsMessage is the JSON envelope. Subject is a pointer: absent (or null)
// and "" differ in the string to sign.
type snsMessage struct {
	Type             string
	MessageID        string `json:"MessageId"`
	Token            string
	TopicArn         string
	Subject          *string
	Message          string
	SubscribeURL     string
	Timestamp        string
	SignatureVersion string
	Signature        string
	SigningCertURL   string
}

// stringToSign builds the documented string to sign: name and value of
// each field, each followed by a newline, in byte order of the names; for
// notifications Message, MessageId, Subject (only if present), Timestamp,
// TopicArn, Type; for the confirmations Message, MessageId, SubscribeURL,
// Timestamp, Token, TopicArn, Type
// (docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message-verify-message-signature.html).
func (m *snsMessage) stringToSign() []byte {
	var b strings.Builder
	add := func(k, v string) {
		b.WriteString(k)
		b.WriteByte('\n')
		b.WriteString(v)
		b.WriteByte('\n')
	}
	add("Message", m.Message)
	add("MessageId", m.MessageID)
	if m.Type == snsTypeNotify {
		if m.Subject != nil {
			add("Subject", *m.Subject)
		}
	} else {
		add("SubscribeURL", m.SubscribeURL)
	}
	add("Timestamp", m.Timestamp)
	if m.Type != snsTypeNotify {
		add("Token", m.Token)
	}
	add("TopicArn", m.TopicArn)
	add("Type", m.Type)
	return []byte(b.String())
}

// parse reads and checks the envelope up to (not including) the signature.
func (v *snsVerifier) parse(r *Request, now time.Time) (*snsMessage, error) {
	if strings.EqualFold(first(r.Header[hdrSNSRawDelivery]), "true") {
		return nil, fmt.Errorf("%w: sns: raw message delivery is unsigned; turn RawMessageDelivery off for this subscription", ErrMissingSignature)
	}
	var m snsMessage
	if len(r.Body) == 0 || r.Body[0] != '{' || json.Unmarshal(r.Body, &m) != nil {
		return nil, fmt.Errorf("%w: sns: body is not an SNS JSON message (raw message delivery is unsigned and refused)", ErrMissingSignature)
	}
	if m.Signature == "" || m.SigningCertURL == "" {
		return nil, fmt.Errorf("%w: sns: no Signature or SigningCertURL", ErrMissingSignature)
	}
	switch m.Type {
	case snsTypeNotify, snsTypeSubscribe, snsTypeUnsub:
	default:
		return nil, fmt.Errorf("%w: sns: unknown message Type %q", ErrMalformedRequest, clip(m.Type, 40))
	}
	if m.SignatureVersion != "1" && m.SignatureVersion != "2" {
		return nil, fmt.Errorf("%w: sns: SignatureVersion %q (want 1 or 2)", ErrMalformedSignature, clip(m.SignatureVersion, 8))
	}
	if _, err := snsCertURL(m.SigningCertURL); err != nil {
		return nil, err
	}
	ts, err := time.Parse(time.RFC3339Nano, m.Timestamp)
	if err != nil {
		return nil, fmt.Errorf("%w: sns: Timestamp is not RFC 3339", ErrMalformedSignature)
	}
	if err := checkTolerance(ts.Unix(), now, v.tolerance); err != nil {
		return nil, err
	}
	return &m, nil
}

// verify checks the signature, then the topic (only signed values are
// trusted for it).
func (v *snsVerifier) verify(ctx context.Context, m *snsMessage) error {
	sig, err := base64.StdEncoding.DecodeString(m.Signature)
	if err != nil || len(sig) == 0 || len(sig) > 1024 {
		return fmt.Errorf("%w: sns: Signature is not base64 of an RSA signature", ErrMalformedSignature)
	}
	key, err := v.certs.get(ctx, m.SigningCertURL)
	if err != nil {
		return err
	}
	sts := m.stringToSign()
	var hash crypto.Hash
	var digest []byte
	if m.SignatureVersion == "1" {
		d := sha1.Sum(sts)
		hash, digest = crypto.SHA1, d[:]
	} else {
		d := sha256.Sum256(sts)
		hash, digest = crypto.SHA256, d[:]
	}
	if rsa.VerifyPKCS1v15(key, hash, digest, sig) != nil {
		return fmt.Errorf("%w: sns: signature (version %s) does not verify under %s", ErrSignatureMismatch, m.SignatureVersion, m.SigningCertURL)
	}
	if !v.topics[m.TopicArn] {
		return fmt.Errorf("%w: sns: topic %q is not one of this source's topics", ErrSignatureMismatch, clip(m.TopicArn, 300))
	}
	return nil
}

// Handshake confirms a subscription (SubscriptionConfirmation) or
// acknowledges an unsubscription; notifications are left to Verify.
func (v *snsVerifier) Handshake(ctx context.Context, r *Request, now time.Time) (*Response, error) {
	m, err := v.parse(r, now)
	if err != nil || m.Type == snsTypeNotify {
		return nil, nil // not a handshake (or not parseable): Verify gives the error
	}
	if err := v.verify(ctx, m); err != nil {
		return nil, err
	}
	if m.Type == snsTypeUnsub {
		return jsonResponse(http.StatusOK, []byte(`{"unsubscribed":true}`)), nil
	}
	u, err := snsEndpointURL(m.SubscribeURL)
	if err != nil {
		return nil, err
	}
	if err := v.confirm(ctx, u); err != nil {
		return nil, err
	}
	return jsonResponse(http.StatusOK, []byte(`{"subscribed":true}`)), nil
}

func (v *snsVerifier) Verify(ctx context.Context, r *Request, now time.Time) (Delivery, error) {
	m, err := v.parse(r, now)
	if err != nil {
		return Delivery{}, err
	}
	if m.Type != snsTypeNotify {
		return Delivery{}, fmt.Errorf("%w: sns: %s is a handshake, not a delivery", ErrMalformedRequest, m.Type)
	}
	if err := v.verify(ctx, m); err != nil {
		return Delivery{}, err
	}
	return Delivery{ID: m.MessageID, IDSigned: m.MessageID != "", EventType: snsTypeNotify, MAC: contentDigest(r.Body)}, nil
}

// confirm fetches the SubscribeURL, which is how SNS wants a subscription
// confirmed. A failure is ErrUnavailable: SNS resends the confirmation.
func (v *snsVerifier) confirm(ctx context.Context, u *url.URL) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("%w: sns: SubscribeURL: %v", ErrMalformedRequest, err)
	}
	resp, err := v.client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: sns: confirming the subscription: %v", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxCertBytes))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%w: sns: confirming the subscription: HTTP %d", ErrUnavailable, resp.StatusCode)
	}
	return nil
}

// snsEndpointURL accepts an SNS endpoint URL: https, host
// sns.<region>.amazonaws.com(.cn), default port, no user info, no fragment.
func snsEndpointURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.User != nil || u.Fragment != "" || u.Opaque != "" ||
		(u.Port() != "" && u.Port() != "443") || !snsHost.MatchString(u.Hostname()) {
		return nil, fmt.Errorf("%w: sns: %q is not an https://sns.<region>.amazonaws.com[.cn] URL", ErrSignatureMismatch, clip(s, 200))
	}
	return u, nil
}

// snsCertURL accepts a SigningCertURL: an SNS endpoint URL whose path is
// /SimpleNotificationService-<id>.pem, without a query.
func snsCertURL(s string) (*url.URL, error) {
	u, err := snsEndpointURL(s)
	if err != nil {
		return nil, err
	}
	if u.RawQuery != "" || u.ForceQuery || !snsCertPath.MatchString(u.EscapedPath()) {
		return nil, fmt.Errorf("%w: sns: SigningCertURL %q is not an SNS certificate path", ErrSignatureMismatch, clip(s, 200))
	}
	return u, nil
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// snsCertCache fetches and caches signing certificates by URL. A URL is
// fetched at most once per snsCertRetry after a failure and once per
// snsCertTTL after a success; concurrent requests for one URL share one
// fetch.
type snsCertCache struct {
	client *http.Client
	now    func() time.Time // wall clock for the cache (tests replace it)

	mu      sync.Mutex
	entries map[string]*snsCertEntry
}

type snsCertEntry struct {
	ready   chan struct{} // closed when the fetch ends
	key     *rsa.PublicKey
	err     error
	expires time.Time
}

func newSNSCertCache(client *http.Client) *snsCertCache {
	return &snsCertCache{client: client, now: time.Now, entries: make(map[string]*snsCertEntry)}
}

func (c *snsCertCache) get(ctx context.Context, rawURL string) (*rsa.PublicKey, error) {
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[rawURL]
	if ok {
		select {
		case <-e.ready:
			if now.After(e.expires) {
				ok = false // expired: fetch again
			}
		default: // in flight: wait below
		}
	}
	if !ok {
		c.evict(now)
		e = &snsCertEntry{ready: make(chan struct{})}
		c.entries[rawURL] = e
		c.mu.Unlock()
		// The fetch serves every waiter: it is not cut short when the
		// request that started it goes away, only by its own deadline.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), snsFetchTimeout)
		e.key, e.err = c.fetch(fctx, rawURL)
		cancel()
		if e.err != nil {
			e.expires = now.Add(snsCertRetry)
		} else {
			e.expires = now.Add(snsCertTTL)
		}
		close(e.ready)
	} else {
		c.mu.Unlock()
	}
	select {
	case <-e.ready:
		return e.key, e.err
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: sns: waiting for the signing certificate: %v", ErrUnavailable, ctx.Err())
	}
}

// evict drops expired entries, then (if still full) every finished one:
// the cache holds a few entries in practice, and refetching is cheap.
// Called with mu held.
func (c *snsCertCache) evict(now time.Time) {
	if len(c.entries) < snsCertMax {
		return
	}
	for k, e := range c.entries {
		select {
		case <-e.ready:
			if now.After(e.expires) || len(c.entries) >= snsCertMax {
				delete(c.entries, k)
			}
		default:
		}
	}
}

func (c *snsCertCache) fetch(ctx context.Context, rawURL string) (*rsa.PublicKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: sns: SigningCertURL: %v", ErrSignatureMismatch, err)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: sns: fetching the signing certificate: %v", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return nil, fmt.Errorf("%w: sns: fetching the signing certificate: HTTP %d", ErrUnavailable, resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		// AWS does not serve it: the message names a certificate SNS never used.
		return nil, fmt.Errorf("%w: sns: signing certificate: HTTP %d", ErrSignatureMismatch, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxCertBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: sns: reading the signing certificate: %v", ErrUnavailable, err)
	}
	if len(body) > maxCertBytes {
		return nil, fmt.Errorf("%w: sns: signing certificate larger than %d bytes", ErrSignatureMismatch, maxCertBytes)
	}
	key, err := parseSNSCert(body)
	if err != nil {
		return nil, fmt.Errorf("%w: sns: signing certificate: %v", ErrSignatureMismatch, err)
	}
	return key, nil
}

func parseSNSCert(b []byte) (*rsa.PublicKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, errors.New("not a PEM certificate")
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, errors.New("not an X.509 certificate")
	}
	key, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("not an RSA key")
	}
	return key, nil
}
