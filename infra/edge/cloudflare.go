package edge

import (
	"sort"

	"github.com/pulumi/pulumi-cloudflare/sdk/v5/go/cloudflare"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/hookline/hookline/infra/edge/rules"
)

// Rulesets' phases (Cloudflare's Ruleset Engine, Terraform provider v4 names).
const (
	PhaseCustom    = "http_request_firewall_custom"
	PhaseRateLimit = "http_ratelimit"
	PhaseTransform = "http_request_late_transform"
)

// zone declares the Cloudflare side: a proxied CNAME per hostname to its
// API Gateway regional domain, the zone's TLS settings, and the three
// rulesets (WAF custom rules, rate limiting, the origin header).
func (e *Edge) zone(ctx *pulumi.Context, name string, args Args, targets map[string]pulumi.StringOutput, parent pulumi.ResourceOption) error {
	zone := pulumi.String(args.ZoneID)
	for _, host := range args.Hostnames {
		if _, err := cloudflare.NewRecord(ctx, name+"-"+host, &cloudflare.RecordArgs{
			ZoneId:  zone,
			Name:    pulumi.String(host),
			Type:    pulumi.String("CNAME"),
			Content: targets[host],
			Proxied: pulumi.Bool(true), // senders reach Cloudflare, never API Gateway directly
			Ttl:     pulumi.Int(1),     // automatic: required for proxied records
			Comment: pulumi.String("hookline webhooks; proxied through Cloudflare"),
		}, parent); err != nil {
			return err
		}
	}

	// Full (strict): Cloudflare checks API Gateway's ACM certificate.
	if _, err := cloudflare.NewZoneSettingsOverride(ctx, name+"-tls", &cloudflare.ZoneSettingsOverrideArgs{
		ZoneId: zone,
		Settings: &cloudflare.ZoneSettingsOverrideSettingsArgs{
			Ssl:            pulumi.String("strict"),
			MinTlsVersion:  pulumi.String("1.2"),
			AlwaysUseHttps: pulumi.String("on"),
		},
	}, parent); err != nil {
		return err
	}

	if _, err := cloudflare.NewRuleset(ctx, name+"-waf", &cloudflare.RulesetArgs{
		ZoneId:      zone,
		Name:        pulumi.String(name + " webhooks only"),
		Description: pulumi.String("hookline: block all but POST to a known source's path (GET to a handshake source's), and senders outside a source's allow-list"),
		Kind:        pulumi.String("zone"),
		Phase:       pulumi.String(PhaseCustom),
		Rules:       customRules(args),
	}, parent); err != nil {
		return err
	}

	if _, err := cloudflare.NewRuleset(ctx, name+"-ratelimit", &cloudflare.RulesetArgs{
		ZoneId:      zone,
		Name:        pulumi.String(name + " rate limit"),
		Description: pulumi.String("hookline: per client IP (and source path where the plan allows)"),
		Kind:        pulumi.String("zone"),
		Phase:       pulumi.String(PhaseRateLimit),
		Rules:       rateLimitRules(args),
	}, parent); err != nil {
		return err
	}

	_, err := cloudflare.NewRuleset(ctx, name+"-origin", &cloudflare.RulesetArgs{
		ZoneId:      zone,
		Name:        pulumi.String(name + " origin header"),
		Description: pulumi.String("hookline: adds " + OriginHeader + ", which the receiver checks"),
		Kind:        pulumi.String("zone"),
		Phase:       pulumi.String(PhaseTransform),
		Rules: cloudflare.RulesetRuleArray{&cloudflare.RulesetRuleArgs{
			Action:      pulumi.String("rewrite"),
			Description: pulumi.String("set " + OriginHeader),
			Enabled:     pulumi.Bool(true),
			Expression:  pulumi.String(rules.OnHosts(args.Hostnames)),
			ActionParameters: &cloudflare.RulesetRuleActionParametersArgs{
				Headers: cloudflare.RulesetRuleActionParametersHeaderArray{&cloudflare.RulesetRuleActionParametersHeaderArgs{
					Name:      pulumi.String(OriginHeader),
					Operation: pulumi.String("set"),
					Value:     pulumi.ToSecret(args.OriginSecret).(pulumi.StringOutput),
				}},
			},
		}},
	}, parent)
	return err
}

// customRules are the WAF custom rules: one per source allow-list, then the
// block rule with the negated expression. Custom rules have no allow
// action, and skip would bypass rate limiting too, so "allow" is "block
// what is not this".
func customRules(args Args) cloudflare.RulesetRuleArray {
	var out cloudflare.RulesetRuleArray
	names := make([]string, 0, len(args.Allow))
	for n := range args.Allow {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, src := range names {
		out = append(out, &cloudflare.RulesetRuleArgs{
			Action:      pulumi.String("block"),
			Description: pulumi.String("only " + src + "'s allow-listed senders"),
			Enabled:     pulumi.Bool(true),
			Expression:  pulumi.String(rules.BlockOutsideAllowList(src, args.Allow[src])),
		})
	}
	out = append(out, &cloudflare.RulesetRuleArgs{
		Action:      pulumi.String("block"),
		Description: pulumi.String("all but POST /webhooks/<source> (and GET for handshake sources) on a served host"),
		Enabled:     pulumi.Bool(true),
		Expression:  pulumi.String(rules.BlockAllButWebhooks(args.Hostnames, sourceNames(args.Sources), getSourceNames(args.Sources))),
	})
	return out
}

// rateLimitRules count per client IP (ip.src; cf.colo.id is mandatory) and
// per source: with Advanced Rate Limiting in one rule keyed by path too;
// otherwise one rule per source while the plan has rules enough, else one
// shared rule (then sources that share sender IPs share a counter).
func rateLimitRules(args Args) cloudflare.RulesetRuleArray {
	rl := args.RateLimit
	rule := func(desc, expr string, characteristics ...string) *cloudflare.RulesetRuleArgs {
		return &cloudflare.RulesetRuleArgs{
			Action:      pulumi.String("block"),
			Description: pulumi.String(desc),
			Enabled:     pulumi.Bool(true),
			Expression:  pulumi.String(expr),
			Ratelimit: &cloudflare.RulesetRuleRatelimitArgs{
				Characteristics:   pulumi.ToStringArray(append([]string{"cf.colo.id", "ip.src"}, characteristics...)),
				Period:            pulumi.Int(rl.PeriodSeconds),
				RequestsPerPeriod: pulumi.Int(rl.RequestsPerPeriod),
				MitigationTimeout: pulumi.Int(rl.MitigationTimeoutSeconds),
			},
		}
	}
	switch {
	case args.Plan.PathCharacteristic:
		return cloudflare.RulesetRuleArray{rule("per source path and client IP", rules.Webhooks(), "http.request.uri.path")}
	case len(args.Sources) <= args.Plan.RateLimitRules:
		var out cloudflare.RulesetRuleArray
		for _, s := range args.Sources {
			out = append(out, rule(s.Name+": per client IP", rules.SourcePath(s.Name)))
		}
		return out
	default:
		return cloudflare.RulesetRuleArray{rule("all sources: per client IP", rules.Webhooks())}
	}
}

// getSourceNames are the sources whose scheme's handshake is a GET.
func getSourceNames(srcs []Source) []string {
	var out []string
	for _, s := range srcs {
		if s.GET {
			out = append(out, s.Name)
		}
	}
	return out
}

func sourceNames(srcs []Source) []string {
	out := make([]string, len(srcs))
	for i, s := range srcs {
		out[i] = s.Name
	}
	return out
}
