package rules_test

import (
	"testing"

	"github.com/hookline/hookline/infra/edge/rules"
)

// What the edge generates parses; a typo in a field, operator or quoting
// does not.
func TestCheck(t *testing.T) {
	hosts, srcs := []string{"hooks.example.com", "b.example.com"}, []string{"github", "stripe"}
	good := []string{
		rules.BlockAllButWebhooks(hosts, srcs, nil),
		rules.BlockAllButWebhooks(hosts, srcs, []string{"stripe"}),
		rules.BlockOutsideAllowList("github", rules.AllowList{Countries: []string{"US", "DE"}, ASNs: []int{36459}, IPRanges: []string{"192.30.252.0/22", "2a0a:a440::/29"}}),
		rules.BlockOutsideAllowList("github", rules.AllowList{ASNs: []int{1}}),
		rules.Webhooks(),
		rules.SourcePath("github"),
		rules.OnHosts(hosts),
		`http.request.uri.path eq "/a\"b\\c"`,
	}
	for _, e := range good {
		if err := rules.Check(e, nil); err != nil {
			t.Errorf("%s: %v", e, err)
		}
	}
	bad := map[string]string{
		"unknown field":          `http.request.uri.pth eq "/x"`,
		"unknown operator":       `http.request.method equals "POST"`,
		"unquoted string":        `http.request.method eq POST`,
		"single quotes":          `http.request.method eq 'POST'`,
		"unterminated string":    `http.request.method eq "POST`,
		"bad escape":             `http.request.method eq "a\nb"`,
		"unbalanced parenthesis": `not (http.request.method eq "POST"`,
		"empty set":              `http.host in {}`,
		"quoted IP":              `ip.src in {"192.0.2.1"}`,
		"bad CIDR":               `ip.src in {192.0.2.0/33}`,
		"ASN as string":          `ip.src.asnum in {"36459"}`,
		"dangling and":           `http.host in {"a"} and`,
		"trailing tokens":        `http.host in {"a"} "b"`,
		"starts_with on an IP":   `starts_with(ip.src, "1")`,
		"double operator":        `http.request.method eq eq "POST"`,
		"and without operands":   `and`,
		"bare field":             `http.host`,
	}
	for name, e := range bad {
		if err := rules.Check(e, nil); err == nil {
			t.Errorf("%s: %s accepted", name, e)
		}
	}
	if err := rules.Check(rules.BlockAllButWebhooks(hosts, srcs, nil), rules.RateLimitFields); err == nil {
		t.Error("the method and host fields passed as allowed in a free rate limiting rule")
	}
	if err := rules.Check(rules.Webhooks(), rules.RateLimitFields); err != nil {
		t.Error(err)
	}
}

func FuzzCheck(f *testing.F) {
	f.Add(rules.BlockAllButWebhooks([]string{"h.example.com"}, []string{"x"}, []string{"x"}))
	f.Add(`ip.src in {10.0.0.0/8}`)
	f.Fuzz(func(t *testing.T, s string) { _ = rules.Check(s, nil) })
}

// GET is let through only to the paths of the sources given as handshake
// sources, POST to every source's; without handshake sources the rule is
// what it was before GETs existed.
func TestAllowedMethods(t *testing.T) {
	hosts := []string{"hooks.example.com"}
	if got, want := rules.Allowed(hosts, []string{"gh", "meta"}, nil),
		`http.host in {"hooks.example.com"} and http.request.method eq "POST" and http.request.uri.path in {"/webhooks/gh" "/webhooks/meta"}`; got != want {
		t.Errorf("POST only:\n got %s\nwant %s", got, want)
	}
	got := rules.Allowed(hosts, []string{"meta", "gh", "dbx"}, []string{"meta", "dbx"})
	want := `http.host in {"hooks.example.com"} and ((http.request.method eq "POST" and http.request.uri.path in {"/webhooks/dbx" "/webhooks/gh" "/webhooks/meta"}) or (http.request.method eq "GET" and http.request.uri.path in {"/webhooks/dbx" "/webhooks/meta"}))`
	if got != want {
		t.Errorf("with GET sources:\n got %s\nwant %s", got, want)
	}
	if err := rules.Check(got, nil); err != nil {
		t.Error(err)
	}
}
