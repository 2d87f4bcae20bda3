package config

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/hookline/hookline/internal/canary"
	"github.com/hookline/hookline/internal/sources"
	"github.com/hookline/hookline/internal/webhooksig"
)

// Edge is the public way in (infra/edge): Cloudflare in front of an API
// Gateway HTTP API with a custom domain. A stack without hookline:edge has
// no public endpoint at all.
type Edge struct {
	ZoneID   string `json:"zoneId"`   // the Cloudflare zone, by id: nothing is looked up over the network
	ZoneName string `json:"zoneName"` // e.g. example.com: every hostname lies under it
	// Plan is the zone's Cloudflare plan: free | pro | business |
	// enterprise. The generated rules use only what it allows.
	Plan      string   `json:"plan"`
	Hostnames []string `json:"hostnames"` // the names senders post to; the first is edgeWebhookUrl's
	// AdvancedCertificate is true when the operator ordered a Cloudflare
	// advanced certificate for names deeper than one label under the zone,
	// which Universal SSL does not cover.
	AdvancedCertificate bool `json:"advancedCertificate"`

	ThrottleBurst int     `json:"throttleBurst"` // API Gateway stage burst
	ThrottleRate  float64 `json:"throttleRate"`  // API Gateway stage steady requests per second

	RateLimit RateLimit `json:"rateLimit"` // the Cloudflare rate limiting rule per client IP
	// Allow optionally restricts a source (by name) to senders from these
	// countries, ASNs or IP ranges; any one match lets a request through.
	Allow map[string]Allow `json:"allow"`
}

// RateLimit is the Cloudflare rate limiting rule: per client IP (and per
// source path where the plan allows), requests over RequestsPerPeriod in
// PeriodSeconds are blocked for MitigationTimeoutSeconds.
type RateLimit struct {
	PeriodSeconds            int `json:"periodSeconds"`            // the counting period, one the plan allows (free: 10)
	RequestsPerPeriod        int `json:"requestsPerPeriod"`        // requests per client IP in a period before blocking, 1 to 1000000
	MitigationTimeoutSeconds int `json:"mitigationTimeoutSeconds"` // how long a client over the limit is blocked, one the plan allows (free: 10)
}

// Allow is one source's sender allow-list.
type Allow struct {
	Countries []string `json:"countries"` // ISO 3166-1 alpha-2, e.g. US
	ASNs      []int    `json:"asns"`      // autonomous system numbers, e.g. 36459
	IPRanges  []string `json:"ipRanges"`  // IPv4 or IPv6 ranges in CIDR notation
}

// CloudflarePlan is what a Cloudflare plan allows the rules the edge
// generates (Cloudflare's rate limiting availability table).
type CloudflarePlan struct {
	RateLimitRules     int   // rate limiting rules per zone
	Periods            []int // counting periods, seconds
	MitigationTimeouts []int // block durations, seconds
	// PathCharacteristic: the rate limit may count per path
	// (http.request.uri.path as a characteristic; Advanced Rate Limiting).
	PathCharacteristic bool
	CustomRules        int // WAF custom rules per zone
}

// CloudflarePlans are the plans a stack may name.
var CloudflarePlans = map[string]CloudflarePlan{
	"free":       {RateLimitRules: 1, Periods: []int{10}, MitigationTimeouts: []int{10}, CustomRules: 5},
	"pro":        {RateLimitRules: 2, Periods: []int{10, 60}, MitigationTimeouts: []int{10, 60, 3600}, CustomRules: 20},
	"business":   {RateLimitRules: 5, Periods: []int{10, 60, 120}, MitigationTimeouts: []int{10, 60, 3600, 86400}, CustomRules: 100},
	"enterprise": {RateLimitRules: 100, Periods: []int{10, 60, 120, 300, 600, 3600}, MitigationTimeouts: []int{10, 60, 120, 300, 600, 3600, 86400}, PathCharacteristic: true, CustomRules: 1000},
}

// Route is one source as the edge sees it: its path, the hosts it accepts,
// and whether its scheme confirms the endpoint with a GET handshake.
type Route struct {
	Name  string   // /webhooks/<Name>
	Hosts []string // lower case
	// GET: the source's scheme has a GET handshake (webhooksig.AcceptsGET):
	// the edge opens GET to this path only.
	GET bool
}

var (
	zoneIDPattern  = regexp.MustCompile(`^[0-9a-f]{32}$`)
	hostnameRegexp = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)
	countryPattern = regexp.MustCompile(`^[A-Z]{2}$`)
)

// parseOriginSecrets reads hookline:originSecrets: a JSON list (newest
// first) or one plain value.
func parseOriginSecrets(raw string) ([]string, error) {
	if raw == "" {
		return nil, nil
	}
	var list []string
	if strings.HasPrefix(strings.TrimSpace(raw), "[") {
		if err := json.Unmarshal([]byte(raw), &list); err != nil {
			return nil, keyErr("originSecrets", "not a JSON list of strings; accepts [\"<new>\", \"<old>\"] or one value")
		}
	} else {
		list = []string{raw}
	}
	for _, s := range list {
		if len(s) < 32 || strings.ContainsAny(s, "\"\\\n\r") {
			return nil, keyErr("originSecrets", "a secret is too short or has quotes, backslashes or line breaks; accepts at least 32 characters without them")
		}
	}
	return list, nil
}

// mergeOrigin writes the origin secrets into the sources document, so that
// the one stack secret hookline:originSecrets feeds both the receiver (the
// document in Secrets Manager) and Cloudflare (the header transform). A
// document that names origin secrets itself is refused: one owner per value.
func mergeOrigin(document string, origins []string) (string, *sources.Set, error) {
	if len(origins) == 0 {
		return document, nil, nil
	}
	js, err := yaml.YAMLToJSON([]byte(document))
	if err != nil {
		return "", nil, keyErr("webhookSources", "not a sources document: %v", err)
	}
	var doc map[string]any
	if err := json.Unmarshal(js, &doc); err != nil || doc == nil {
		return "", nil, keyErr("webhookSources", "not a sources document (a YAML or JSON object with sources:)")
	}
	for _, k := range []string{"origin_secret", "origin_secrets"} {
		if _, ok := doc[k]; ok {
			return "", nil, keyErr("webhookSources", "%s is set in the document; with hookline:originSecrets set, the origin secrets live only there (remove %s from the document)", k, k)
		}
	}
	doc["origin_secrets"] = origins
	out, err := json.Marshal(doc)
	if err != nil {
		return "", nil, keyErr("webhookSources", "%v", err)
	}
	set, err := sources.Parse(out)
	if err != nil {
		return "", nil, keyErr("webhookSources", "%v", err)
	}
	return string(out), set, nil
}

// mergeCanary adds the canary's source to the sources document: name
// hookline-canary, the edge's first hostname, scheme standard, the stack
// secret hookline:canarySecret. A document that defines the source itself
// is refused: one owner per value.
func mergeCanary(document, host, secret string) (string, error) {
	if _, err := webhooksig.New(canary.Scheme, []string{secret}, 0); err != nil {
		return "", keyErr("canarySecret", "not a %s signing secret (%v); accepts whsec_ and the base64 of 24 to 64 random bytes: \"whsec_$(openssl rand -base64 32)\"", canary.Scheme, err)
	}
	js, err := yaml.YAMLToJSON([]byte(document))
	if err != nil {
		return "", keyErr("webhookSources", "not a sources document: %v", err)
	}
	var doc map[string]any
	if err := json.Unmarshal(js, &doc); err != nil || doc == nil {
		return "", keyErr("webhookSources", "not a sources document (a YAML or JSON object with sources:)")
	}
	list, _ := doc["sources"].([]any)
	for _, s := range list {
		if m, _ := s.(map[string]any); m != nil && m["name"] == canary.Source {
			return "", keyErr("webhookSources", "source %q is the canary's: the stack adds it from hookline:canarySecret (remove it from the document, or set hookline:canary.enabled: false)", canary.Source)
		}
	}
	doc["sources"] = append(list, map[string]any{
		"name": canary.Source, "hosts": []string{host}, "scheme": canary.Scheme, "secrets": []string{secret},
	})
	out, err := json.Marshal(doc)
	if err != nil {
		return "", keyErr("webhookSources", "%v", err)
	}
	return string(out), nil
}

// routes lists the sources of a parsed document, in document order.
func routes(set *sources.Set, doc string) ([]Route, error) {
	var d sources.Document
	if err := yaml.Unmarshal([]byte(doc), &d); err != nil {
		return nil, keyErr("webhookSources", "%v", err)
	}
	var out []Route
	for _, s := range d.Sources {
		src, ok := set.Lookup(s.Name)
		if !ok {
			continue
		}
		hosts := make([]string, len(s.Hosts))
		for i, h := range s.Hosts {
			hosts[i] = strings.ToLower(h)
		}
		out = append(out, Route{Name: s.Name, Hosts: hosts, GET: src.AcceptsGET()})
	}
	return out, nil
}

func (c Config) validateEdge() error {
	e := c.Edge
	if e == nil {
		return nil
	}
	if !zoneIDPattern.MatchString(e.ZoneID) {
		return keyErr("edge.zoneId", "%q is not a Cloudflare zone id; accepts the 32 lower-case hex digits of the zone's Overview page", e.ZoneID)
	}
	if !hostnameRegexp.MatchString(e.ZoneName) {
		return keyErr("edge.zoneName", "%q is not a zone name; accepts the zone's apex, e.g. example.com", e.ZoneName)
	}
	plan, ok := CloudflarePlans[e.Plan]
	if !ok {
		return keyErr("edge.plan", "%q is not a Cloudflare plan; accepts free, pro, business or enterprise", e.Plan)
	}
	if len(e.Hostnames) == 0 {
		return keyErr("edge.hostnames", "empty; accepts one or more host names under edge.zoneName, e.g. hooks.%s", e.ZoneName)
	}
	seen := map[string]bool{}
	for _, h := range e.Hostnames {
		if h != strings.ToLower(h) || !hostnameRegexp.MatchString(h) || !strings.HasSuffix(h, "."+e.ZoneName) {
			return keyErr("edge.hostnames", "%q is not a lower-case host name under %s", h, e.ZoneName)
		}
		if seen[h] {
			return keyErr("edge.hostnames", "%q is listed twice", h)
		}
		seen[h] = true
		if strings.Contains(strings.TrimSuffix(h, "."+e.ZoneName), ".") && !e.AdvancedCertificate {
			return keyErr("edge.hostnames", "%q is more than one label under %s: Universal SSL does not cover it; order an advanced certificate for it and set edge.advancedCertificate: true", h, e.ZoneName)
		}
	}
	if e.ThrottleBurst < 1 || e.ThrottleBurst > 5000 {
		return keyErr("edge.throttleBurst", "%d is out of range; accepts 1 to 5000 (the account's API Gateway burst quota)", e.ThrottleBurst)
	}
	if e.ThrottleRate < 1 || e.ThrottleRate > 10000 {
		return keyErr("edge.throttleRate", "%v is out of range; accepts 1 to 10000 requests per second (the account's API Gateway quota)", e.ThrottleRate)
	}
	rl := e.RateLimit
	if !slices.Contains(plan.Periods, rl.PeriodSeconds) {
		return keyErr("edge.rateLimit.periodSeconds", "%d is not a period the %s plan allows; accepts %v", rl.PeriodSeconds, e.Plan, plan.Periods)
	}
	if !slices.Contains(plan.MitigationTimeouts, rl.MitigationTimeoutSeconds) {
		return keyErr("edge.rateLimit.mitigationTimeoutSeconds", "%d is not a mitigation timeout the %s plan allows; accepts %v", rl.MitigationTimeoutSeconds, e.Plan, plan.MitigationTimeouts)
	}
	if rl.RequestsPerPeriod < 1 || rl.RequestsPerPeriod > 1_000_000 {
		return keyErr("edge.rateLimit.requestsPerPeriod", "%d is out of range; accepts 1 to 1000000", rl.RequestsPerPeriod)
	}

	if len(c.Secrets.OriginSecrets) == 0 {
		return keyErr("originSecrets", "required secret is missing with hookline:edge set; set it with `pulumi config set --secret %s:originSecrets '[\"<at least 32 random characters>\"]'`", Namespace)
	}

	// Every source's hosts are served by the edge, and every hostname the
	// edge serves is accepted by some source.
	served := map[string]bool{}
	for _, r := range c.Routes {
		for _, h := range r.Hosts {
			if !seen[h] {
				return keyErr("webhookSources", "source %q accepts host %q, which the edge does not serve; add it to hookline:edge.hostnames or remove it from the source", r.Name, h)
			}
			served[h] = true
		}
	}
	for _, h := range e.Hostnames {
		if !served[h] {
			return keyErr("edge.hostnames", "%q is served but no source in hookline:webhookSources accepts it; add it to a source's hosts or remove it", h)
		}
	}

	names := map[string]bool{}
	for _, r := range c.Routes {
		names[r.Name] = true
	}
	for _, src := range sortedKeys(e.Allow) {
		a := e.Allow[src]
		if !names[src] {
			return keyErr("edge.allow", "%q is not a source of hookline:webhookSources", src)
		}
		if len(a.Countries)+len(a.ASNs)+len(a.IPRanges) == 0 {
			return keyErr("edge.allow."+src, "empty; accepts countries, asns or ipRanges (leave the source out to allow every sender)")
		}
		for _, cc := range a.Countries {
			if !countryPattern.MatchString(cc) {
				return keyErr("edge.allow."+src+".countries", "%q is not a country code; accepts ISO 3166-1 alpha-2 in upper case, e.g. US", cc)
			}
		}
		for _, n := range a.ASNs {
			if n < 1 || n > 4294967295 {
				return keyErr("edge.allow."+src+".asns", "%d is not an ASN; accepts 1 to 4294967295", n)
			}
		}
		for _, p := range a.IPRanges {
			if _, err := netip.ParsePrefix(p); err != nil {
				return keyErr("edge.allow."+src+".ipRanges", "%q is not a CIDR range; accepts e.g. 192.0.2.0/24 or 2001:db8::/32", p)
			}
		}
	}
	if n := len(e.Allow) + 1; n > plan.CustomRules {
		return keyErr("edge.allow", "needs %d WAF custom rules; the %s plan allows %d", n, e.Plan, plan.CustomRules)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// parseEdge reads hookline:edge over the profile's defaults, then the
// origin secrets and the sources they are merged into.
func (c *Config) parseEdge(get Lookup) error {
	if raw, ok := get(Namespace + ":edge"); ok {
		e := DefaultEdge(c.Profile)
		dec := json.NewDecoder(strings.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			return fmt.Errorf("%s:edge: %s", Namespace, decodeMessage(err))
		}
		c.Edge = &e
	}
	raw, _ := get(Namespace + ":originSecrets")
	origins, err := parseOriginSecrets(raw)
	if err != nil {
		return err
	}
	c.Secrets.OriginSecrets = origins
	if c.Secrets.WebhookSources == "" {
		return nil // validateSecrets names the missing key
	}
	if c.CanaryOn() && c.Secrets.CanarySecret != "" && len(c.Edge.Hostnames) > 0 {
		doc, err := mergeCanary(c.Secrets.WebhookSources, c.Edge.Hostnames[0], c.Secrets.CanarySecret)
		if err != nil {
			return err
		}
		c.Secrets.WebhookSources = doc
	}
	merged, set, err := mergeOrigin(c.Secrets.WebhookSources, origins)
	if err != nil {
		return err
	}
	if c.Edge == nil {
		c.Secrets.WebhookSources = merged
		return nil
	}
	if set == nil { // no origin secrets: validateEdge names the key; still check the document
		if set, err = sources.Parse([]byte(merged)); err != nil {
			return keyErr("webhookSources", "%v", err)
		}
	}
	if c.Routes, err = routes(set, merged); err != nil {
		return err
	}
	c.Secrets.WebhookSources = merged
	return nil
}
