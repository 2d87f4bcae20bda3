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

func TestParseGood(t *testing.T) {
	set, err := sources.Parse([]byte(good))
	require.NoError(t, err)
	require.Equal(t, []string{"github", "billing"}, set.Names())
	require.Equal(t, "0123456789abcdef0123456789abcdef", set.OriginSecret)
	require.Equal(t, int64(sources.DefaultMaxBodyBytes), set.MaxBodyBytes(), "the larger of 256 KiB (default) and 1024")

	gh, ok := set.Lookup("github")
	require.True(t, ok)
	require.Equal(t, int64(sources.DefaultMaxBodyBytes), gh.MaxBodyBytes)
	require.Equal(t, sources.DefaultTolerance, gh.Tolerance)
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
		{"http callback", base("    callback_url: http://example.com/x\n"), []string{`"gh"`, "callback_url:"}},
		{"callback url without secret", base("    callback_url: https://x.example/cb\n"), []string{`"gh"`, "callback_secret: required"}},
		{"relative callback", base("    callback_url: /x\n"), []string{`"gh"`, "callback_url:"}},
		{"callback secret without url", base("    callback_secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n"), []string{`"gh"`, "callback_secret: set without"}},
		{"callback secret not whsec", base("    callback_url: https://x.example/cb\n    callback_secret: 'not base64!'\n"), []string{`"gh"`, "callback_secret:"}},
		{"callback secret reused", strings.Replace(base("    callback_url: https://x.example/cb\n    callback_secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n"), "secrets: [s]", "secrets: [whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw]", 1), []string{`"gh"`, "must differ"}},
		{"duplicate", base("  - name: gh\n    hosts: [h.example.com]\n    scheme: github\n    secrets: [s]\n"), []string{`"gh"`, "defined twice"}},
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
	_, err := sources.Parse([]byte("sources:\n  - name: a\n    hosts: [localhost]\n    scheme: github\n    secrets: [s]\n    callback_url: http://127.0.0.1:9999/cb\n    callback_secret: whsec_Y2FsbGJhY2stc2VjcmV0LTAxMjM0NTY3ODlhYg==\n"))
	require.NoError(t, err)
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
