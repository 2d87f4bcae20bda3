package config_test

import (
	"encoding/json"
	"strings"
	"testing"
)

type docSource struct {
	Name, Scheme   string
	Hosts, Secrets []string
}

func docSources(t *testing.T, doc string) map[string]docSource {
	t.Helper()
	var d struct{ Sources []docSource }
	if err := json.Unmarshal([]byte(doc), &d); err != nil {
		t.Fatalf("document %q: %v", doc, err)
	}
	out := map[string]docSource{}
	for _, s := range d.Sources {
		out[s.Name] = s
	}
	return out
}

// With an edge the canary is on: hookline:canarySecret becomes source
// hookline-canary (standard, the edge's first hostname) in the document
// the receiver reads, and a route the edge serves; without an edge, or
// with canary.enabled false, there is no canary and no secret is needed.
func TestCanarySource(t *testing.T) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	values := shipped(t, "prod")
	values["hookline:canarySecret"] = secret
	c, err := parse("prod", values)
	if err != nil {
		t.Fatal(err)
	}
	if !c.CanaryOn() || c.Canary.IntervalMinutes != 1 || c.Canary.TimeoutSeconds != 10 || c.Alarms.CanaryPeriods != 5 || c.Alarms.CanaryFailures != 1 {
		t.Errorf("canary %+v on %v, periods %v, failures %v; want on, 1 min, 10 s, 5, 1", c.Canary, c.CanaryOn(), c.Alarms.CanaryPeriods, c.Alarms.CanaryFailures)
	}
	src, ok := docSources(t, c.Secrets.WebhookSources)["hookline-canary"]
	if !ok || src.Scheme != "standard" || strings.Join(src.Hosts, ",") != "hooks.example.com" || strings.Join(src.Secrets, ",") != secret {
		t.Errorf("canary source %+v (present %v); want standard on hooks.example.com with the secret", src, ok)
	}
	if len(docSources(t, c.Secrets.WebhookSources)) != 5 {
		t.Errorf("document sources %v; want the sample's four and the canary", docSources(t, c.Secrets.WebhookSources))
	}
	routed := false
	for _, r := range c.Routes {
		routed = routed || (r.Name == "hookline-canary" && strings.Join(r.Hosts, ",") == "hooks.example.com" && !r.GET)
	}
	if !routed {
		t.Errorf("routes %+v; want the canary's, POST only, on hooks.example.com", c.Routes)
	}

	off := shipped(t, "dev")
	delete(off, "hookline:canarySecret")
	set(t, off, "hookline:canary", "enabled", false)
	c, err = parse("dev", off)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := docSources(t, c.Secrets.WebhookSources)["hookline-canary"]; c.CanaryOn() || ok {
		t.Errorf("canary.enabled false: on %v, source in the document %v", c.CanaryOn(), ok)
	}

	noEdge := shipped(t, "dev")
	delete(noEdge, "hookline:edge")
	delete(noEdge, "hookline:canarySecret")
	if c, err = parse("dev", noEdge); err != nil {
		t.Fatal(err)
	}
	if c.CanaryOn() || strings.Contains(c.Secrets.WebhookSources, "hookline-canary") {
		t.Error("a stack without an edge has a canary")
	}
}

// Each bad canary setting is refused naming its key.
func TestCanaryErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, v map[string]string)
		key    string
		says   string
	}{
		{"no secret", func(t *testing.T, v map[string]string) { delete(v, "hookline:canarySecret") }, "hookline:canarySecret:", "pulumi config set --secret"},
		{"not a standard secret", func(t *testing.T, v map[string]string) { v["hookline:canarySecret"] = "not-base64!" }, "hookline:canarySecret:", "whsec_"},
		{"document defines it", func(t *testing.T, v map[string]string) {
			v["hookline:webhookSources"] += "\n  - name: hookline-canary\n    hosts: [hooks-dev.example.com]\n    scheme: standard\n    secrets: [\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"]\n"
		}, "hookline:webhookSources:", "hookline-canary"},
		{"interval 0", func(t *testing.T, v map[string]string) { set(t, v, "hookline:canary", "intervalMinutes", 0) }, "hookline:canary.intervalMinutes:", "1 to 60"},
		{"interval 61", func(t *testing.T, v map[string]string) { set(t, v, "hookline:canary", "intervalMinutes", 61) }, "hookline:canary.intervalMinutes:", "1 to 60"},
		{"timeout 0", func(t *testing.T, v map[string]string) { set(t, v, "hookline:canary", "timeoutSeconds", 0) }, "hookline:canary.timeoutSeconds:", "1 to 60"},
		{"retention", func(t *testing.T, v map[string]string) { set(t, v, "hookline:canary", "logRetentionDays", 2) }, "hookline:canary.logRetentionDays:", "retention"},
		{"unknown field", func(t *testing.T, v map[string]string) { set(t, v, "hookline:canary", "every", 5) }, "hookline:canary:", "unknown field"},
		{"periods not whole", func(t *testing.T, v map[string]string) { set(t, v, "hookline:alarms", "canaryPeriods", 1.5) }, "hookline:alarms.canaryPeriods:", "whole number"},
		{"periods over a day", func(t *testing.T, v map[string]string) { set(t, v, "hookline:alarms", "canaryPeriods", 1441) }, "hookline:alarms.canaryPeriods:", "1 to 1440"},
		{"periods 0", func(t *testing.T, v map[string]string) { set(t, v, "hookline:alarms", "canaryPeriods", 0) }, "hookline:alarms.canaryPeriods:", "above 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := shipped(t, "dev")
			tc.change(t, v)
			_, err := parse("dev", v)
			if err == nil || !strings.HasPrefix(err.Error(), tc.key) || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("err %v; want one starting %q and saying %q", err, tc.key, tc.says)
			}
		})
	}
}
