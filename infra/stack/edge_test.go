package stack_test

import (
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/hookline/hookline/infra/config"
	"github.com/hookline/hookline/infra/edge"
	"github.com/hookline/hookline/infra/edge/rules"
	"github.com/hookline/hookline/infra/plan"
	"github.com/hookline/hookline/infra/stack"
)

const (
	typAPI         = "aws:apigatewayv2/api:Api"
	typRecord      = "cloudflare:index/record:Record"
	typRuleset     = "cloudflare:index/ruleset:Ruleset"
	typDomain      = "aws:apigatewayv2/domainName:DomainName"
	typPermission  = "aws:lambda/permission:Permission"
	typCertificate = "aws:acm/certificate:Certificate"
)

// stackConfig is a variant's parsed config, as the program sees it offline.
func stackConfig(t *testing.T, v variant) config.Config {
	t.Helper()
	root, err := config.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	values, _, err := plan.StackConfig(plan.Options{Root: root, Stack: v.stack, Override: v.override})
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Parse(config.Namespace, v.stack, func(k string) (string, bool) { s, ok := values[k]; return s, ok })
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func one(t *testing.T, r *plan.Result, typ string) plan.Resource {
	t.Helper()
	rs := r.OfType(typ)
	if len(rs) != 1 {
		t.Fatalf("%d %s; want 1", len(rs), typ)
	}
	return rs[0]
}

// The API is reachable only at its custom domains, invokes only the
// receiver, and only it may invoke the receiver.
func TestEdgeAPI(t *testing.T) {
	forEachStack(t, func(t *testing.T, v variant, r *plan.Result) {
		c := stackConfig(t, v)
		api := one(t, r, typAPI)
		if api.Str("protocolType") != "HTTP" || !api.Bool("disableExecuteApiEndpoint") {
			t.Errorf("API %s: protocol %q disableExecuteApiEndpoint %v; want HTTP and true", api.Name, api.Str("protocolType"), api.Input("disableExecuteApiEndpoint"))
		}
		fns := receiverFns(r)
		if len(fns) != 1 {
			t.Fatalf("%d receiver functions; want 1", len(fns))
		}
		fn := fns[0]
		integ := one(t, r, "aws:apigatewayv2/integration:Integration")
		if integ.Str("apiId") != api.ID() || integ.Str("integrationType") != "AWS_PROXY" || integ.Str("payloadFormatVersion") != "2.0" {
			t.Errorf("integration: api %q type %q payload %q; want this API, AWS_PROXY, 2.0", integ.Str("apiId"), integ.Str("integrationType"), integ.Str("payloadFormatVersion"))
		}
		if !strings.HasPrefix(integ.Str("integrationUri"), "arn:aws:lambda:") || !strings.HasSuffix(integ.Str("integrationUri"), fn.Name) {
			t.Errorf("integration URI %q; want the receiver's ARN", integ.Str("integrationUri"))
		}
		// POST for every source; GET only per source whose scheme's
		// handshake is a GET, never GET /webhooks/{source}.
		wantRoutes := []string{"POST /webhooks/{source}"}
		exec := "arn:aws:execute-api:" + c.Region + ":123456789012:" + api.ID() + "/"
		wantArns := []string{exec + "*/POST/webhooks/*"}
		for _, rt := range c.Routes {
			if rt.GET {
				wantRoutes = append(wantRoutes, "GET /webhooks/"+rt.Name)
				wantArns = append(wantArns, exec+"*/GET/webhooks/"+rt.Name)
			}
		}
		if v.stack == "prod" && len(wantRoutes) < 2 {
			t.Errorf("the prod sample's dropbox source has no GET route (config.Route.GET is not set)")
		}
		var gotRoutes []string
		for _, route := range r.OfType("aws:apigatewayv2/route:Route") {
			gotRoutes = append(gotRoutes, route.Str("routeKey"))
			if route.Str("target") != "integrations/"+integ.ID() || route.Str("apiId") != api.ID() {
				t.Errorf("route %q → %q; want → the receiver integration", route.Str("routeKey"), route.Str("target"))
			}
		}
		slices.Sort(gotRoutes)
		slices.Sort(wantRoutes)
		if !slices.Equal(gotRoutes, wantRoutes) {
			t.Errorf("routes %q; want %q", gotRoutes, wantRoutes)
		}

		var gotArns []string
		for _, p := range r.OfType(typPermission) {
			if p.Name == "hookline-"+v.stack+"-canary" {
				continue // the canary's schedule may invoke the canary: TestCanary
			}
			if p.Str("principal") != "apigateway.amazonaws.com" || p.Str("function") != fn.Name || p.Str("action") != "lambda:InvokeFunction" {
				t.Errorf("permission: %q may %q %q; want API Gateway to invoke the receiver", p.Str("principal"), p.Str("action"), p.Str("function"))
			}
			gotArns = append(gotArns, p.Str("sourceArn"))
		}
		slices.Sort(gotArns)
		slices.Sort(wantArns)
		if !slices.Equal(gotArns, wantArns) {
			t.Errorf("permission source ARNs %q; want %q (this API, POST to every source, GET only to handshake sources)", gotArns, wantArns)
		}

		stage := one(t, r, "aws:apigatewayv2/stage:Stage")
		if stage.Str("apiId") != api.ID() || stage.Str("name") != "$default" || !stage.Bool("autoDeploy") {
			t.Errorf("stage %q of %q autoDeploy %v", stage.Str("name"), stage.Str("apiId"), stage.Input("autoDeploy"))
		}
		if b, rate := stage.Int("defaultRouteSettings", "throttlingBurstLimit"), stage.Input("defaultRouteSettings", "throttlingRateLimit"); b != c.Edge.ThrottleBurst || rate != c.Edge.ThrottleRate {
			t.Errorf("throttling burst %d rate %v; want the stack's %d and %v", b, rate, c.Edge.ThrottleBurst, c.Edge.ThrottleRate)
		}
		var logs plan.Resource
		for _, lg := range r.OfType("aws:cloudwatch/logGroup:LogGroup") {
			if lg.Str("name") == "/hookline/"+c.Name()+"/api" {
				logs = lg
			}
		}
		if logs.Name == "" || logs.Int("retentionInDays") != c.Receiver.LogRetentionDays {
			t.Fatalf("access log group %q retention %d; want /hookline/%s/api with the receiver's %d days", logs.Str("name"), logs.Int("retentionInDays"), c.Name(), c.Receiver.LogRetentionDays)
		}
		if dst := stage.Str("accessLogSettings", "destinationArn"); !strings.HasSuffix(dst, ":"+logs.Name) {
			t.Errorf("access logs go to %q; want the API's log group", dst)
		}
		var line map[string]string
		if err := json.Unmarshal([]byte(stage.Str("accessLogSettings", "format")), &line); err != nil || line["status"] != "$context.status" || line["requestId"] == "" {
			t.Errorf("access log format is not one JSON object with requestId and status: %v", err)
		}
	})
}

// One certificate covers every hostname, validated through DNS-only
// records; each custom domain is regional, TLS 1.2, on the validated
// certificate; each hostname's record is proxied to its domain's target.
func TestEdgeDNSAndCertificates(t *testing.T) {
	forEachStack(t, func(t *testing.T, v variant, r *plan.Result) {
		c := stackConfig(t, v)
		cert := one(t, r, typCertificate)
		names := append([]string{cert.Str("domainName")}, cert.Strs("subjectAlternativeNames")...)
		if !slices.Equal(names, c.Edge.Hostnames) || cert.Str("validationMethod") != "DNS" {
			t.Errorf("certificate for %v validated by %q; want %v by DNS", names, cert.Str("validationMethod"), c.Edge.Hostnames)
		}
		validation := one(t, r, "aws:acm/certificateValidation:CertificateValidation")
		fqdns := validation.Strs("validationRecordFqdns")

		records := map[string]plan.Resource{}
		for _, rec := range r.OfType(typRecord) {
			if rec.Str("zoneId") != c.Edge.ZoneID {
				t.Errorf("record %s in zone %q; want %s", rec.Name, rec.Str("zoneId"), c.Edge.ZoneID)
			}
			records[rec.Str("name")] = rec
		}
		if len(records) != 2*len(c.Edge.Hostnames) {
			t.Errorf("%d records; want a proxied and a validation record per hostname (%d)", len(records), len(c.Edge.Hostnames))
		}
		domains := map[string]plan.Resource{}
		for _, d := range r.OfType(typDomain) {
			domains[d.Str("domainName")] = d
		}
		for i, host := range c.Edge.Hostnames {
			// ACM's record for the host, as the mock shapes it.
			vname := strings.TrimSuffix("_acm"+two(i)+"."+host+".", ".")
			vr, ok := records[vname]
			if !ok {
				t.Errorf("%s: no validation record %s", host, vname)
			} else if !vr.Has("proxied") || vr.Bool("proxied") || vr.Str("type") != "CNAME" || !strings.HasSuffix(vr.Str("content"), ".validations.aws") {
				t.Errorf("validation record %s: proxied %v type %q content %q; want DNS-only, ACM's CNAME", vname, vr.Input("proxied"), vr.Str("type"), vr.Str("content"))
			}
			if !slices.Contains(fqdns, vname) {
				t.Errorf("certificate validation waits for %v; want %s among them", fqdns, vname)
			}

			d, ok := domains[host]
			if !ok {
				t.Fatalf("no API Gateway custom domain %s", host)
			}
			certArn := "arn:aws:acm:" + c.Region + ":123456789012:" + cert.Name // through the validation, which waits for the records
			if d.Str("domainNameConfiguration", "endpointType") != "REGIONAL" || d.Str("domainNameConfiguration", "securityPolicy") != "TLS_1_2" ||
				d.Str("domainNameConfiguration", "certificateArn") != certArn || validation.Str("certificateArn") != certArn {
				t.Errorf("domain %s: %v; want REGIONAL, TLS_1_2, the validated certificate", host, d.Input("domainNameConfiguration"))
			}
			rec, ok := records[host]
			if !ok {
				t.Fatalf("no record for %s", host)
			}
			if !rec.Bool("proxied") || rec.Str("type") != "CNAME" || !strings.HasPrefix(rec.Str("content"), "d-") || !strings.Contains(rec.Str("content"), ".execute-api.") {
				t.Errorf("record %s: proxied %v %s → %q; want proxied CNAME to the custom domain's regional target", host, rec.Input("proxied"), rec.Str("type"), rec.Str("content"))
			}
		}
		for _, m := range r.OfType("aws:apigatewayv2/apiMapping:ApiMapping") {
			if m.Str("apiId") != one(t, r, typAPI).ID() {
				t.Errorf("API mapping %s maps another API", m.Name)
			}
		}

		zs := one(t, r, "cloudflare:index/zoneSettingsOverride:ZoneSettingsOverride")
		if zs.Str("settings", "ssl") != "strict" || zs.Str("settings", "minTlsVersion") != "1.2" || zs.Str("settings", "alwaysUseHttps") != "on" {
			t.Errorf("zone settings %v; want ssl strict, minimum TLS 1.2, Always Use HTTPS", zs.Input("settings"))
		}
	})
}

func two(i int) string { return string(rune('0'+i/10)) + string(rune('0'+i%10)) }

// The rulesets: every expression parses; the WAF blocks all but POST to a
// known source's path with one negated block rule (and senders outside an
// allow-list); the rate limit counts per colo and client IP with the
// stack's numbers, in what the plan allows; the transform sets the header.
func TestEdgeRulesets(t *testing.T) {
	forEachStack(t, func(t *testing.T, v variant, r *plan.Result) {
		c := stackConfig(t, v)
		cfPlan := config.CloudflarePlans[c.Edge.Plan]
		phases := map[string]plan.Resource{}
		for _, rs := range r.OfType(typRuleset) {
			if rs.Str("kind") != "zone" || rs.Str("zoneId") != c.Edge.ZoneID {
				t.Errorf("ruleset %s: kind %q zone %q; want a zone ruleset of %s", rs.Name, rs.Str("kind"), rs.Str("zoneId"), c.Edge.ZoneID)
			}
			if _, dup := phases[rs.Str("phase")]; dup {
				t.Errorf("two rulesets in phase %s (a zone has one entry point per phase)", rs.Str("phase"))
			}
			phases[rs.Str("phase")] = rs
			for _, rule := range rulesOf(rs) {
				if err := rules.Check(str(rule["expression"]), nil); err != nil {
					t.Errorf("ruleset %s: %q: %v", rs.Name, rule["expression"], err)
				}
			}
		}
		for _, ph := range []string{edge.PhaseCustom, edge.PhaseRateLimit, edge.PhaseTransform} {
			if _, ok := phases[ph]; !ok {
				t.Errorf("no ruleset in phase %s", ph)
			}
		}

		var srcs, getSrcs []string
		for _, rt := range c.Routes {
			srcs = append(srcs, rt.Name)
			if rt.GET {
				getSrcs = append(getSrcs, rt.Name)
			}
		}
		waf := rulesOf(phases[edge.PhaseCustom])
		if len(waf) != len(c.Edge.Allow)+1 || len(waf) > cfPlan.CustomRules {
			t.Fatalf("%d WAF custom rules; want one per allow-list and the block rule, within the plan's %d", len(waf), cfPlan.CustomRules)
		}
		block := waf[len(waf)-1]
		want := rules.BlockAllButWebhooks(c.Edge.Hostnames, srcs, getSrcs)
		if str(block["action"]) != "block" || str(block["expression"]) != want || !strings.HasPrefix(want, "not (") {
			t.Errorf("block rule %v %q; want block %q", block["action"], block["expression"], want)
		}
		for _, s := range srcs {
			if !strings.Contains(want, `"`+rules.Path(s)+`"`) {
				t.Errorf("the block rule lets no request to %s through", rules.Path(s))
			}
		}
		for _, rule := range waf {
			if a := str(rule["action"]); a != "block" {
				t.Errorf("WAF rule %q has action %q; want block only (skip would bypass the rate limit)", rule["description"], a)
			}
		}
		if a, ok := c.Edge.Allow["github"]; ok {
			wantAllow := rules.BlockOutsideAllowList("github", rules.AllowList{Countries: a.Countries, ASNs: a.ASNs, IPRanges: a.IPRanges})
			found := false
			for _, rule := range waf {
				found = found || str(rule["expression"]) == wantAllow
			}
			if !found {
				t.Errorf("no rule blocks github senders outside its allow-list (%q)", wantAllow)
			}
		}

		rl := rulesOf(phases[edge.PhaseRateLimit])
		if len(rl) == 0 || len(rl) > cfPlan.RateLimitRules {
			t.Fatalf("%d rate limiting rules; the %s plan allows 1 to %d", len(rl), c.Edge.Plan, cfPlan.RateLimitRules)
		}
		for _, rule := range rl {
			lim, _ := rule["ratelimit"].(map[string]any)
			chars := strsOf(lim["characteristics"])
			if str(rule["action"]) != "block" || !slices.Contains(chars, "cf.colo.id") || !slices.Contains(chars, "ip.src") {
				t.Errorf("rate limit %q: action %v characteristics %v; want block per cf.colo.id and ip.src", rule["description"], rule["action"], chars)
			}
			if slices.Contains(chars, "http.request.uri.path") && !cfPlan.PathCharacteristic {
				t.Errorf("rate limit counts per path on the %s plan, which does not allow it", c.Edge.Plan)
			}
			if num(lim["period"]) != c.Edge.RateLimit.PeriodSeconds || num(lim["requestsPerPeriod"]) != c.Edge.RateLimit.RequestsPerPeriod || num(lim["mitigationTimeout"]) != c.Edge.RateLimit.MitigationTimeoutSeconds {
				t.Errorf("rate limit %v; want the stack's %+v", lim, c.Edge.RateLimit)
			}
			if !slices.Contains(cfPlan.Periods, num(lim["period"])) || !slices.Contains(cfPlan.MitigationTimeouts, num(lim["mitigationTimeout"])) {
				t.Errorf("rate limit %v uses a period or timeout the %s plan lacks", lim, c.Edge.Plan)
			}
			if err := rules.Check(str(rule["expression"]), rules.RateLimitFields); err != nil {
				t.Errorf("rate limit expression %q: %v (every plan allows the path only)", rule["expression"], err)
			}
		}

		tr := rulesOf(phases[edge.PhaseTransform])
		if len(tr) != 1 || str(tr[0]["action"]) != "rewrite" {
			t.Fatalf("transform rules %v; want one rewrite", tr)
		}
		params, _ := tr[0]["actionParameters"].(map[string]any)
		headers, _ := params["headers"].([]any)
		if len(headers) != 1 {
			t.Fatalf("transform headers %v; want one", params["headers"])
		}
		h, _ := headers[0].(map[string]any)
		if str(h["name"]) != "X-Origin-Verify" || str(h["operation"]) != "set" || h["value"] != plan.Secret {
			t.Errorf("transform header %v; want X-Origin-Verify set to a secret value", h)
		}
	})
}

// One stack secret, hookline:originSecrets, feeds both sides: Cloudflare's
// header value is its newest entry, the receiver's document lists all of
// them newest first; both are Pulumi secrets, and no input holds the
// value in clear.
func TestOriginSecretOneValue(t *testing.T) {
	newer, older := strings.Repeat("N", 40), strings.Repeat("O", 40)
	v := variant{name: "prod-rotating", stack: "prod", override: map[string]string{"hookline:originSecrets": `["` + newer + `","` + older + `"]`}}
	root, err := config.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	r, err := plan.Run(stack.Program, plan.Options{Root: root, Stack: v.stack, Override: v.override})
	if err != nil {
		t.Fatal(err)
	}
	var header []string
	var document []string
	for _, res := range r.Resources {
		clear := plainStrings(resource.NewObjectProperty(res.Inputs), false)
		for _, s := range clear {
			if strings.Contains(s, newer) || strings.Contains(s, older) {
				t.Errorf("%s %s holds an origin secret in clear", res.Type, res.Name)
			}
		}
		secret := plainStrings(resource.NewObjectProperty(res.Inputs), true)
		switch {
		case res.Type == typRuleset && res.Str("phase") == edge.PhaseTransform:
			header = secret
		case res.Type == "aws:secretsmanager/secretVersion:SecretVersion" && strings.Contains(res.Name, "-sources"):
			document = secret
		}
	}
	if !slices.Contains(header, newer) {
		t.Errorf("Cloudflare's header value is not the newest origin secret (secret strings %d)", len(header))
	}
	if len(document) != 1 {
		t.Fatalf("sources document: %d secret strings; want the document", len(document))
	}
	var doc struct {
		OriginSecrets []string `json:"origin_secrets"`
	}
	if err := json.Unmarshal([]byte(document[0]), &doc); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(doc.OriginSecrets, []string{newer, older}) {
		t.Errorf("the receiver's document accepts %d origin secrets; want both, newest first", len(doc.OriginSecrets))
	}
}

// A stack without hookline:edge has no public endpoint at all: no API, no
// Cloudflare resource, no Lambda permission, no edgeWebhookUrl.
func TestNoEdgeNoEndpoint(t *testing.T) {
	root, err := config.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	r, err := plan.Run(stack.Program, plan.Options{Root: root, Stack: "dev", Omit: []string{"hookline:edge"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, res := range r.Resources {
		if strings.HasPrefix(res.Type, "aws:apigatewayv2/") || strings.HasPrefix(res.Type, "cloudflare:") || res.Type == typPermission || res.Type == typCertificate {
			t.Errorf("%s %s declared without hookline:edge", res.Type, res.Name)
		}
	}
	if url := webhookURL(t, plan.Options{Root: root, Stack: "dev", Omit: []string{"hookline:edge"}}); url != "" {
		t.Errorf("edgeWebhookUrl %q without an edge", url)
	}
	if url := webhookURL(t, plan.Options{Root: root, Stack: "prod"}); url != "https://hooks.example.com/webhooks/" {
		t.Errorf("prod edgeWebhookUrl %q; want https://hooks.example.com/webhooks/", url)
	}
}

// webhookURL builds a stack under the mock and reads the edge's URL (the
// value Export publishes as edgeWebhookUrl) once the run has settled.
func webhookURL(t *testing.T, opt plan.Options) string {
	t.Helper()
	values, _, err := plan.StackConfig(opt)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var url string
	rec := &plan.Recorder{Project: config.Namespace, Stack: opt.Stack, Region: values["aws:region"]}
	err = pulumi.RunErr(func(ctx *pulumi.Context) error {
		cfg, err := config.Load(ctx)
		if err != nil {
			return err
		}
		p, err := stack.Build(ctx, cfg)
		if err != nil || p.Edge == nil {
			return err
		}
		p.Edge.WebhookURL.ApplyT(func(s string) string {
			mu.Lock()
			defer mu.Unlock()
			url = s
			return s
		})
		return nil
	}, pulumi.WithMocks(config.Namespace, opt.Stack, rec), func(info *pulumi.RunInfo) {
		info.Config, info.ConfigSecretKeys, info.RootDirectory = values, config.SecretKeys, opt.Root
	})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	return url
}

func rulesOf(rs plan.Resource) []map[string]any {
	list, _ := rs.Input("rules").([]any)
	var out []map[string]any
	for _, e := range list {
		if m, ok := e.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func str(v any) string { s, _ := v.(string); return s }

func num(v any) int { f, _ := v.(float64); return int(f) }

func strsOf(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, e := range list {
		out = append(out, str(e))
	}
	return out
}

// plainStrings collects the strings in v: those inside secrets when
// inSecret, else those outside any secret.
func plainStrings(v resource.PropertyValue, inSecret bool) []string {
	var out []string
	var walk func(v resource.PropertyValue, secret bool)
	walk = func(v resource.PropertyValue, secret bool) {
		switch {
		case v.IsSecret():
			walk(v.SecretValue().Element, true)
		case v.IsOutput():
			o := v.OutputValue()
			walk(o.Element, secret || o.Secret)
		case v.IsString():
			if secret == inSecret {
				out = append(out, v.StringValue())
			}
		case v.IsArray():
			for _, e := range v.ArrayValue() {
				walk(e, secret)
			}
		case v.IsObject():
			for _, e := range v.ObjectValue() {
				walk(e, secret)
			}
		}
	}
	walk(v, false)
	return out
}
