package sources_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookline/hookline/internal/sources"
)

const good = `
origin_secret: "0123456789abcdef0123456789abcdef"
sources:
  - name: github
    hosts: [hooks.example.com]
    scheme: github
    secrets: ["s1", "s0"]
    entity_key: /repository/full_name
  - name: billing
    hosts: [hooks.example.com, Billing.Example.com]
    scheme: standard
    secrets: ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]
    tolerance: 2m
    max_body_bytes: 1024
    callback_url: https://billing.example.com/hookline
    callback_secret: whsec_Y2FsbGJhY2stc2VjcmV0LTAxMjM0NTY3ODlhYg==
`

// origin_secrets and origin_secret merge, newest first, without duplicates;
// each is at least 32 characters.
func TestOriginSecrets(t *testing.T) {
	const a, b = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	src := "sources:\n  - {name: x, hosts: [h.example.com], scheme: github, secrets: [s]}\n"
	for _, tc := range []struct {
		doc     string
		want    []string
		wantErr string
	}{
		{"", nil, ""},
		{"origin_secret: " + a + "\n", []string{a}, ""},
		{"origin_secrets: [" + b + ", " + a + "]\n", []string{b, a}, ""},
		{"origin_secrets: [" + b + "]\norigin_secret: " + a + "\n", []string{b, a}, ""},
		{"origin_secrets: [" + a + "]\norigin_secret: " + a + "\n", []string{a}, ""},
		{"origin_secrets: [" + a + ", short]\n", nil, "origin_secrets[1]: must be at least 32"},
		{"origin_secret: short\n", nil, "origin_secret: must be at least 32"},
	} {
		set, err := sources.Parse([]byte(tc.doc + src))
		if tc.wantErr != "" {
			require.ErrorContains(t, err, tc.wantErr, tc.doc)
			continue
		}
		require.NoError(t, err, tc.doc)
		require.Equal(t, tc.want, set.OriginSecrets, tc.doc)
		if len(tc.want) > 0 {
			require.Equal(t, tc.want[0], set.OriginSecret, "the newest is the one to send")
		}
	}
}

func TestParseGood(t *testing.T) {
	set, err := sources.Parse([]byte(good))
	require.NoError(t, err)
	require.Equal(t, []string{"github", "billing"}, set.Names())
	require.Equal(t, "0123456789abcdef0123456789abcdef", set.OriginSecret)
	require.Equal(t, int64(sources.DefaultMaxBodyBytes), set.MaxBodyBytes(), "the larger of 256 KiB (default) and 1024")

	gh, ok := set.Lookup("github")
	require.True(t, ok)
	require.Equal(t, int64(sources.DefaultMaxBodyBytes), gh.MaxBodyBytes)
	require.Equal(t, time.Duration(0), gh.Tolerance, "no tolerance set: the scheme's own window applies")
	require.NotNil(t, gh.Verifier())

	b, _ := set.Lookup("billing")
	require.Equal(t, 2*time.Minute, b.Tolerance)
	require.True(t, b.AllowsHost("billing.example.com:443"))
	require.True(t, b.AllowsHost("HOOKS.example.com"))
	require.False(t, b.AllowsHost("evil.example.com"))
	require.False(t, b.AllowsHost(""))

	_, ok = set.Lookup("nope")
	require.False(t, ok)
}

func TestParseJSONSameKeys(t *testing.T) {
	_, err := sources.Parse([]byte(`{"sources":[{"name":"a","hosts":["h.example"],"scheme":"hmac-sha256","secrets":["k"],"tolerance":30}]}`))
	require.NoError(t, err)
}

func TestLoadFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "s.yaml")
	require.NoError(t, os.WriteFile(p, []byte(good), 0o600))
	_, err := sources.LoadFile(p)
	require.NoError(t, err)
	_, err = sources.LoadFile(filepath.Join(t.TempDir(), "missing.yaml"))
	require.Error(t, err)
}

// Catalog sources parse with the fields their scheme reads; GET is open
// only for a scheme whose handshake is a GET.
func TestCatalogSources(t *testing.T) {
	set, err := sources.Parse([]byte(`
sources:
  - {name: tw, hosts: [h.example.com], scheme: twilio, secrets: [t], signed_url: "https://h.example.com/webhooks/tw"}
  - {name: fb, hosts: [h.example.com], scheme: meta, secrets: [m], handshake_token: tok}
  - {name: pd, hosts: [h.example.com], scheme: paddle, secrets: [p]}
`))
	require.NoError(t, err)
	tw, _ := set.Lookup("tw")
	fb, _ := set.Lookup("fb")
	pd, _ := set.Lookup("pd")
	require.Equal(t, "https://h.example.com/webhooks/tw", tw.SignedURL)
	require.False(t, tw.AcceptsGET())
	require.True(t, fb.AcceptsGET())
	require.Equal(t, time.Duration(0), pd.Tolerance, "paddle's own 5 s window applies")
}

func TestParseErrorsNameSourceAndField(t *testing.T) {
	base := func(extra string) string {
		return "sources:\n  - name: gh\n    hosts: [h.example.com]\n    scheme: github\n    secrets: [s]\n" + extra
	}
	cases := []struct {
		name, doc string
		want      []string
	}{
		{"empty", "", []string{"empty"}},
		{"no sources", "sources: []", []string{"sources: at least one"}},
		{"unknown key", base("    hostz: [x]\n"), []string{"hostz"}},
		{"short origin secret", "origin_secret: short\n" + base(""), []string{"origin_secret"}},
		{"bad name", strings.Replace(base(""), "name: gh", "name: Git.Hub", 1), []string{`"Git.Hub"`, "name:"}},
		{"missing name", strings.Replace(base(""), "name: gh", "name: ''", 1), []string{"sources[0]", "name:"}},
		{"no hosts", strings.Replace(base(""), "hosts: [h.example.com]", "hosts: []", 1), []string{`"gh"`, "hosts:"}},
		{"host with scheme", strings.Replace(base(""), "h.example.com", "https://h.example.com", 1), []string{`"gh"`, "hosts:"}},
		{"no secrets", strings.Replace(base(""), "secrets: [s]", "secrets: []", 1), []string{`"gh"`, "secrets:"}},
		{"unknown scheme", strings.Replace(base(""), "scheme: github", "scheme: md5", 1), []string{`"gh"`, "scheme"}},
		{"missing scheme", strings.Replace(base(""), "scheme: github", "scheme: ''", 1), []string{`"gh"`, "scheme: required"}},
		{"bad tolerance", base("    tolerance: soon\n"), []string{"tolerance", "soon"}},
		{"huge tolerance", base("    tolerance: 48h\n"), []string{`"gh"`, "tolerance:"}},
		{"body too big", base("    max_body_bytes: 99999999\n"), []string{`"gh"`, "max_body_bytes:"}},
		{"negative body", base("    max_body_bytes: -1\n"), []string{`"gh"`, "max_body_bytes:"}},
		{"bad pointer", base("    entity_key: repository\n"), []string{`"gh"`, "entity_key:"}},
		{"bad pointer escape", base("    entity_key: /a~2\n"), []string{`"gh"`, "entity_key:"}},
		{"order key not a pointer", base("    order_key: created\n"), []string{`"gh"`, "order_key:", `"created"`}},
		{"order key bad escape", base("    order_key: /a~\n"), []string{`"gh"`, "order_key:"}},
		{"order key not a string", base("    order_key: [/a]\n"), []string{"order_key"}},
		{"http callback", base("    callback_url: http://example.com/x\n"), []string{`"gh"`, "callback_url:"}},
		{"callback url without secret", base("    callback_url: https://x.example/cb\n"), []string{`"gh"`, "callback_secret: required"}},
		{"relative callback", base("    callback_url: /x\n"), []string{`"gh"`, "callback_url:"}},
		{"callback secret without url", base("    callback_secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n"), []string{`"gh"`, "callback_secret: set without"}},
		{"allow private without url", base("    callback_allow_private: true\n"), []string{`"gh"`, "callback_allow_private: set without"}},
		{"callback secret not whsec", base("    callback_url: https://x.example/cb\n    callback_secret: 'not base64!'\n"), []string{`"gh"`, "callback_secret:"}},
		{"callback secret is a whpk_ public key", base("    callback_url: https://x.example/cb\n    callback_secret: whpk_wi0FF69pdzVI2ie2eM0TSJFKXmLTQ46HiNu3vdnaGfw=\n"), []string{`"gh"`, "callback_secret:", "cannot sign"}},
		{"standard whpk_ key of 31 bytes", strings.Replace(strings.Replace(base(""), "scheme: github", "scheme: standard", 1), "secrets: [s]", "secrets: [whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw, whpk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==]", 1), []string{`"gh"`, "secret #2", "whpk_ key decodes to 31 bytes"}},
		{"callback secret reused", strings.Replace(base("    callback_url: https://x.example/cb\n    callback_secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n"), "secrets: [s]", "secrets: [whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw]", 1), []string{`"gh"`, "must differ"}},
		{"duplicate", base("  - name: gh\n    hosts: [h.example.com]\n    scheme: github\n    secrets: [s]\n"), []string{`"gh"`, "defined twice"}},
		{"signed_url on a scheme that signs no url", base("    signed_url: https://h.example.com/webhooks/gh\n"), []string{`"gh"`, "signed_url: not read by this scheme"}},
		{"handshake_token on github", base("    handshake_token: t\n"), []string{`"gh"`, "handshake_token: not read"}},
		{"issuer on github", base("    issuer: https://accounts.google.com\n"), []string{`"gh"`, "issuer: not read"}},
		{"audience on github", base("    audience: a\n"), []string{`"gh"`, "audience: not read"}},
		{"jwks_url on github", base("    jwks_url: https://x.example/jwks\n"), []string{`"gh"`, "jwks_url: not read"}},
		{"claims on github", base("    claims: {email: a@b.example}\n"), []string{`"gh"`, "claims: not read"}},
		{"topics on github", base("    topics: [arn:aws:sns:us-east-1:123456789012:t]\n"), []string{`"gh"`, "topics: not read"}},
		{"twilio without signed_url", strings.Replace(base(""), "scheme: github", "scheme: twilio", 1), []string{`"gh"`, "signed_url: required"}},
		{"square with a relative signed_url", strings.Replace(base("    signed_url: /webhooks/gh\n"), "scheme: github", "scheme: square", 1), []string{`"gh"`, "signed_url:"}},
		{"meta without handshake_token", strings.Replace(base(""), "scheme: github", "scheme: meta", 1), []string{`"gh"`, "handshake_token: required"}},
		{"slack with signed_url", strings.Replace(base("    signed_url: https://h.example.com/x\n"), "scheme: github", "scheme: slack", 1), []string{`"gh"`, "signed_url: not read"}},
		{"claims not a map", base("    claims: [email]\n"), []string{"claims"}},
		{"bad standard secret", strings.Replace(strings.Replace(base(""), "scheme: github", "scheme: standard", 1), "secrets: [s]", "secrets: ['whsec_!!!']", 1), []string{`"gh"`, "scheme standard"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := sources.Parse([]byte(c.doc))
			require.Error(t, err)
			for _, w := range c.want {
				require.Contains(t, err.Error(), w)
			}
			require.NotContains(t, err.Error(), "whsec_!!!", "errors must not echo secrets")
		})
	}
}

func TestHTTPCallbackToLoopbackAllowed(t *testing.T) {
	set, err := sources.Parse([]byte("sources:\n  - name: a\n    hosts: [localhost]\n    scheme: github\n    secrets: [s]\n    callback_url: http://127.0.0.1:9999/cb\n    callback_secret: whsec_Y2FsbGJhY2stc2VjcmV0LTAxMjM0NTY3ODlhYg==\n    callback_allow_private: true\n"))
	require.NoError(t, err)
	src, _ := set.Lookup("a")
	require.True(t, src.CallbackAllowPrivate)
}

func TestEntity(t *testing.T) {
	set, err := sources.Parse([]byte(`sources:
  - {name: a, hosts: [h.example], scheme: github, secrets: [s], entity_key: "/repo/full~1name"}
  - {name: b, hosts: [h.example], scheme: github, secrets: [s], entity_key: "/items/1/id"}
  - {name: c, hosts: [h.example], scheme: github, secrets: [s]}
`))
	require.NoError(t, err)
	a, _ := set.Lookup("a")
	b, _ := set.Lookup("b")
	c, _ := set.Lookup("c")
	cases := []struct {
		src  *sources.Source
		body string
		want string
	}{
		{a, `{"repo":{"full/name":"o/r"}}`, "o/r"},
		{b, `{"items":[{"id":1},{"id":12345678901234567890}]}`, "12345678901234567890"},
		{b, `{"items":[{"id":true},{"id":false}]}`, "false"},
		{a, `{"repo":{}}`, ""},
		{a, `{"repo":{"full/name":{"x":1}}}`, ""},
		{a, `{"repo":{"full/name":""}}`, ""},
		{a, `not json`, ""},
		{b, `{"items":[]}`, ""},
		{b, `{"items":{"1":{"id":"x"}}}`, "x"},
		{c, `{"a":1}`, ""},
	}
	for _, tc := range cases {
		got, err := tc.src.Entity([]byte(tc.body))
		if tc.want == "" {
			require.True(t, errors.Is(err, sources.ErrNoEntity), "%s: %v", tc.body, err)
			continue
		}
		require.NoError(t, err, tc.body)
		require.Equal(t, tc.want, got, tc.body)
	}
}

// FuzzParse: the loader must never panic, and anything it accepts must be
// usable: every name looks up, every source has a verifier.
func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte(`{"sources":[{"name":"a","hosts":["h"],"scheme":"stripe","secrets":["whsec_x"]}]}`))
	f.Add([]byte("sources:\n  - name: x\n    hosts: [a.b]\n    scheme: standard\n    secrets: [whsec_AAAA]\n    entity_key: /~0/~1\n"))
	f.Add([]byte("sources:\n  - name: x\n    hosts: [a.b]\n    scheme: github\n    secrets: [s]\n    order_key: /data/object/created\n"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		set, err := sources.Parse(doc)
		if err != nil {
			return
		}
		for _, n := range set.Names() {
			src, ok := set.Lookup(n)
			if !ok || src.Verifier() == nil || src.MaxBodyBytes <= 0 {
				t.Fatalf("accepted source %q is unusable", n)
			}
		}
	})
}

func TestOrder(t *testing.T) {
	set, err := sources.Parse([]byte(`sources:
  - {name: s, hosts: [h.example], scheme: stripe, secrets: [whsec_x], order_key: /created}
  - {name: q, hosts: [h.example], scheme: github, secrets: [s], order_key: "/meta/seq~1no"}
  - {name: plain, hosts: [h.example], scheme: github, secrets: [s]}
`))
	require.NoError(t, err)
	s, _ := set.Lookup("s")
	q, _ := set.Lookup("q")
	n, _ := set.Lookup("plain")
	require.True(t, s.HasOrder())
	require.False(t, n.HasOrder())
	cases := []struct {
		src  *sources.Source
		body string
		want string // Order.String(); "" = ErrNoOrder
	}{
		{s, `{"created":1700000000}`, "1700000000.000000000"},
		{s, `{"created":1700000000.25}`, "1700000000.250000000"},
		{s, `{"created":1.7e9}`, "1700000000.000000000"},
		{s, `{"created":"1700000000.5"}`, "1700000000.500000000"},
		{s, `{"created":"2026-01-01T00:00:00.5Z"}`, "1767225600.500000000"},
		{s, `{"created":"2026-01-01T01:00:00+01:00"}`, "1767225600.000000000"},
		{s, `{"created":-1.5}`, "-1.500000000"},
		{s, `{"created":0.0000000019}`, "0.000000001"},
		{s, `{"created":9223372036854775807}`, "9223372036854775807.000000000"},
		{q, `{"meta":{"seq/no":42}}`, "42.000000000"},
		{s, `{"created":92233720368547758070}`, ""}, // beyond int64 seconds
		{s, `{"created":1e99}`, ""},
		{s, `{"created":"yesterday"}`, ""},
		{s, `{"created":"0x10"}`, ""},
		{s, `{"created":"1/3"}`, ""},
		{s, `{"created":"2026-01-01"}`, ""},
		{s, `{"created":null}`, ""},
		{s, `{"created":true}`, ""},
		{s, `{"created":{"t":1}}`, ""},
		{s, `{}`, ""},
		{s, `not json`, ""},
		{n, `{"created":1}`, ""},
	}
	for _, tc := range cases {
		got, err := tc.src.Order([]byte(tc.body))
		if tc.want == "" {
			require.ErrorIs(t, err, sources.ErrNoOrder, tc.body)
			continue
		}
		require.NoError(t, err, tc.body)
		require.Equal(t, tc.want, got.String(), tc.body)
		back, err := sources.ParseOrder(got.String())
		require.NoError(t, err)
		require.Zero(t, back.Compare(got), "String and ParseOrder round-trip %s", got)
	}
	a, _ := sources.ParseOrder("-2")
	b, _ := sources.ParseOrder("-1.5")
	c, _ := sources.ParseOrder("-1.4")
	d, _ := sources.ParseOrder("0")
	require.Equal(t, -1, a.Compare(b))
	require.Equal(t, -1, b.Compare(c))
	require.Equal(t, -1, c.Compare(d))
	require.Equal(t, 1, d.Compare(a))
	require.Zero(t, b.Compare(b))
}

// FuzzOrder: bodies come from outside; reading an order never panics, and
// what it returns survives the database's decimal form unchanged.
func FuzzOrder(f *testing.F) {
	set, err := sources.Parse([]byte("sources:\n  - {name: s, hosts: [h.example], scheme: github, secrets: [s], order_key: /o}\n"))
	require.NoError(f, err)
	src, _ := set.Lookup("s")
	for _, b := range []string{`{"o":1}`, `{"o":-0.5e-3}`, `{"o":"2026-01-01T00:00:00Z"}`, `{"o":"12.5"}`, `{"o":1e99}`, `{"o":[1]}`} {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		o, err := src.Order(body)
		if err != nil {
			if !errors.Is(err, sources.ErrNoOrder) {
				t.Fatalf("error not ErrNoOrder: %v", err)
			}
			return
		}
		back, err := sources.ParseOrder(o.String())
		if err != nil || back.Compare(o) != 0 {
			t.Fatalf("%s does not round-trip: %v", o, err)
		}
	})
}

// TestParseStandardWithWhpkKeys: a standard source may list whsec_ secrets
// and whpk_ public keys together (v1 and v1a), and a whpk_-only one.
func TestParseStandardWithWhpkKeys(t *testing.T) {
	for _, secrets := range []string{
		"[whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw, whpk_wi0FF69pdzVI2ie2eM0TSJFKXmLTQ46HiNu3vdnaGfw=]",
		"[whpk_wi0FF69pdzVI2ie2eM0TSJFKXmLTQ46HiNu3vdnaGfw=]",
	} {
		_, err := sources.Parse([]byte("sources:\n  - name: std\n    hosts: [h.example.com]\n    scheme: standard\n    secrets: " + secrets + "\n"))
		require.NoError(t, err, secrets)
	}
}

// TestParseSecretlessSchemes: an sns source is configured by its topics
// and an oidc source by issuer, audience and jwks_url, neither with
// secrets; each refuses a missing required field, or secrets, at load
// with an error naming the source and the field.
func TestParseSecretlessSchemes(t *testing.T) {
	const (
		topic = "arn:aws:sns:us-east-1:123456789012:orders"
		iss   = "https://accounts.google.com"
		aud   = "https://hooks.example.com/webhooks/pubsub"
		jwks  = "https://www.googleapis.com/oauth2/v3/certs"
	)
	src := func(name, scheme, fields string) string {
		return "sources:\n  - name: " + name + "\n    hosts: [h.example.com]\n    scheme: " + scheme + "\n" + fields
	}
	sns := func(fields string) string { return src("orders", "sns", fields) }
	oidc := func(fields string) string { return src("pubsub", "oidc", fields) }
	all := "    issuer: " + iss + "\n    audience: " + aud + "\n    jwks_url: " + jwks + "\n"

	for name, doc := range map[string]string{
		"sns with topics":       sns("    topics: [" + topic + "]\n"),
		"sns with two topics":   sns("    topics: [" + topic + ", arn:aws-cn:sns:cn-north-1:123456789012:b]\n"),
		"oidc":                  oidc(all),
		"oidc with claims":      oidc(all + "    claims: {email: pusher@p.iam.gserviceaccount.com, email_verified: \"true\"}\n"),
		"oidc with a tolerance": oidc(all + "    tolerance: 30s\n"),
	} {
		t.Run(name, func(t *testing.T) {
			set, err := sources.Parse([]byte(doc))
			require.NoError(t, err)
			s, ok := set.Lookup(map[bool]string{true: "orders", false: "pubsub"}[strings.Contains(doc, "scheme: sns")])
			require.True(t, ok)
			require.NotNil(t, s.Verifier())
			require.Empty(t, s.Secrets)
		})
	}

	for _, c := range []struct {
		name, doc string
		want      []string
	}{
		{"sns without topics", sns(""), []string{`"orders"`, "no topics configured"}},
		{"sns with empty topics", sns("    topics: []\n"), []string{`"orders"`, "no topics configured"}},
		{"sns with a bad topic", sns("    topics: [orders]\n"), []string{`"orders"`, "topic #1", "not an SNS topic ARN"}},
		{"sns with secrets", sns("    topics: [" + topic + "]\n    secrets: [s]\n"), []string{`"orders"`, "secrets: not read by this scheme"}},
		{"sns with issuer", sns("    topics: [" + topic + "]\n    issuer: " + iss + "\n"), []string{`"orders"`, "issuer: not read"}},
		{"oidc without issuer", oidc("    audience: " + aud + "\n    jwks_url: " + jwks + "\n"), []string{`"pubsub"`, "issuer is required"}},
		{"oidc without audience", oidc("    issuer: " + iss + "\n    jwks_url: " + jwks + "\n"), []string{`"pubsub"`, "audience is required"}},
		{"oidc without jwks_url", oidc("    issuer: " + iss + "\n    audience: " + aud + "\n"), []string{`"pubsub"`, "jwks_url is required"}},
		{"oidc with http jwks_url", oidc("    issuer: " + iss + "\n    audience: " + aud + "\n    jwks_url: http://www.googleapis.com/oauth2/v3/certs\n"), []string{`"pubsub"`, "jwks_url", "not an https URL"}},
		{"oidc with secrets", oidc(all + "    secrets: [s]\n"), []string{`"pubsub"`, "secrets: not read by this scheme"}},
		{"oidc with topics", oidc(all + "    topics: [" + topic + "]\n"), []string{`"pubsub"`, "topics: not read"}},
		{"oidc with nothing", oidc(""), []string{`"pubsub"`, "issuer is required"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := sources.Parse([]byte(c.doc))
			require.Error(t, err)
			for _, w := range c.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}
