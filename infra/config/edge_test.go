package config_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// The shipped stacks' edges parse: the sample documents' hosts are exactly
// the hostnames served, and the origin secrets are merged into the
// document the receiver reads.
func TestShippedEdges(t *testing.T) {
	for _, stack := range []string{"dev", "prod"} {
		t.Run(stack, func(t *testing.T) {
			values := shipped(t, stack)
			values["hookline:originSecrets"] = `["` + strings.Repeat("n", 32) + `","` + strings.Repeat("o", 32) + `"]`
			c, err := parse(stack, values)
			if err != nil {
				t.Fatal(err)
			}
			if c.Edge == nil || len(c.Routes) == 0 {
				t.Fatalf("edge %v routes %v; want both", c.Edge, c.Routes)
			}
			var doc struct {
				OriginSecrets []string `json:"origin_secrets"`
			}
			if err := json.Unmarshal([]byte(c.Secrets.WebhookSources), &doc); err != nil {
				t.Fatal(err)
			}
			if len(doc.OriginSecrets) != 2 || doc.OriginSecrets[0] != strings.Repeat("n", 32) || doc.OriginSecrets[1] != strings.Repeat("o", 32) {
				t.Errorf("document origin_secrets %v; want the stack secret's two, newest first", doc.OriginSecrets)
			}
			if got := c.Secrets.OriginSecrets; len(got) != 2 || got[0] != doc.OriginSecrets[0] {
				t.Errorf("OriginSecrets %v; want the same list", got)
			}
			// GET is opened for exactly the sources whose scheme has a
			// GET handshake (the prod sample's dropbox).
			for _, r := range c.Routes {
				if want := r.Name == "dropbox"; r.GET != want {
					t.Errorf("route %s: GET %v; want %v", r.Name, r.GET, want)
				}
			}
		})
	}
}

// Without hookline:edge a stack has no public endpoint; it still builds.
func TestNoEdge(t *testing.T) {
	values := shipped(t, "dev")
	delete(values, "hookline:edge")
	c, err := parse("dev", values)
	if err != nil {
		t.Fatal(err)
	}
	if c.Edge != nil {
		t.Errorf("edge %v; want none", c.Edge)
	}
}

func TestEdgeErrors(t *testing.T) {
	type edit func(t *testing.T, v map[string]string)
	field := func(f string, val any) edit {
		return func(t *testing.T, v map[string]string) { set(t, v, "hookline:edge", f, val) }
	}
	doc := func(d string) edit {
		return func(t *testing.T, v map[string]string) { v["hookline:webhookSources"] = d }
	}
	for _, tc := range []struct {
		name, stack string
		edit        edit
		want, says  string
	}{
		{"zone by name", "dev", field("zoneId", "example.com"), "hookline:edge.zoneId:", "32 lower-case hex"},
		{"unknown plan", "dev", field("plan", "team"), "hookline:edge.plan:", "free, pro, business or enterprise"},
		{"no hostnames", "dev", field("hostnames", []string{}), "hookline:edge.hostnames:", "one or more"},
		{"hostname outside the zone", "dev", field("hostnames", []string{"hooks.example.org"}), "hookline:edge.hostnames:", "under example.com"},
		{"deep hostname without advanced certificate", "dev", field("hostnames", []string{"a.hooks.example.com"}), "hookline:edge.hostnames:", "Universal SSL"},
		{"period the free plan lacks", "dev", field("rateLimit", map[string]int{"periodSeconds": 60, "requestsPerPeriod": 10, "mitigationTimeoutSeconds": 10}), "hookline:edge.rateLimit.periodSeconds:", "free plan allows"},
		{"timeout the pro plan lacks", "prod", field("rateLimit", map[string]int{"periodSeconds": 10, "requestsPerPeriod": 10, "mitigationTimeoutSeconds": 86400}), "hookline:edge.rateLimit.mitigationTimeoutSeconds:", "pro plan allows"},
		{"no threshold", "dev", field("rateLimit", map[string]int{"periodSeconds": 10, "requestsPerPeriod": 0, "mitigationTimeoutSeconds": 10}), "hookline:edge.rateLimit.requestsPerPeriod:", "1 to"},
		{"throttle", "dev", field("throttleBurst", 0), "hookline:edge.throttleBurst:", "1 to 5000"},
		{"unknown key", "dev", field("wafRules", 3), "hookline:edge:", "unknown field \"wafRules\""},
		{"allow-list for an unknown source", "prod", field("allow", map[string]any{"gitlab": map[string]any{"countries": []string{"US"}}}), "hookline:edge.allow:", "not a source"},
		{"bad country", "prod", field("allow", map[string]any{"github": map[string]any{"countries": []string{"usa"}}}), "hookline:edge.allow.github.countries:", "alpha-2"},
		{"bad range", "prod", field("allow", map[string]any{"github": map[string]any{"ipRanges": []string{"192.30.252.0/33"}}}), "hookline:edge.allow.github.ipRanges:", "CIDR"},
		{"empty allow-list", "prod", field("allow", map[string]any{"github": map[string]any{}}), "hookline:edge.allow.github:", "empty"},
		{"source host the edge does not serve", "dev", doc("sources:\n  - {name: x, hosts: [other.example.com], scheme: github, secrets: [s]}\n"), "hookline:webhookSources:", "does not serve"},
		{"hostname no source accepts", "prod", doc("sources:\n  - {name: x, hosts: [hooks.example.com], scheme: github, secrets: [s]}\n"), "hookline:edge.hostnames:", "no source"},
		{"origin secret in the document too", "dev", doc("origin_secret: " + strings.Repeat("x", 32) + "\nsources:\n  - {name: x, hosts: [hooks-dev.example.com], scheme: github, secrets: [s]}\n"), "hookline:webhookSources:", "live only there"},
		{"broken document", "dev", doc("sources: [{name: x, hosts: [hooks-dev.example.com], scheme: nope, secrets: [s]}]"), "hookline:webhookSources:", "scheme"},
		{"missing origin secrets", "dev", func(t *testing.T, v map[string]string) { delete(v, "hookline:originSecrets") }, "hookline:originSecrets:", "pulumi config set --secret"},
		{"short origin secret", "dev", func(t *testing.T, v map[string]string) { v["hookline:originSecrets"] = `["short"]` }, "hookline:originSecrets:", "at least 32"},
		{"origin secrets not a list", "dev", func(t *testing.T, v map[string]string) { v["hookline:originSecrets"] = `["a",` }, "hookline:originSecrets:", "JSON list"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			values := shipped(t, tc.stack)
			tc.edit(t, values)
			_, err := parse(tc.stack, values)
			if err == nil {
				t.Fatalf("config accepted; want an error starting %q", tc.want)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, tc.want) || !strings.Contains(msg, tc.says) {
				t.Errorf("error %q; want it to start with %q and say %q", msg, tc.want, tc.says)
			}
			if strings.Contains(msg, placeholder) || strings.Contains(msg, "\n") {
				t.Errorf("error leaks a secret or spans lines: %q", msg)
			}
		})
	}
}
