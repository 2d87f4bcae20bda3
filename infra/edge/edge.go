// Package edge declares the only public way in: an API Gateway HTTP API in
// front of the receiver Lambda, reachable only at its custom domains
// (execute-api endpoint disabled), and the Cloudflare zone's records, TLS
// settings and rules in front of those (DESIGN.md's picture):
//
//	sender ─HTTPS─▶ Cloudflare (proxied CNAME, WAF, rate limit, adds X-Origin-Verify)
//	       ─▶ API Gateway custom domain (ACM, validated through DNS-only records)
//	       ─▶ Lambda receiver (checks Host and X-Origin-Verify)
//
// api.go declares the AWS side, cloudflare.go the zone's side.
package edge

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/hookline/hookline/infra/edge/rules"
)

// Args is what a stack decides about its edge.
type Args struct {
	Hostnames []string // the custom domains; the first is WebhookURL's
	Sources   []Source // the sources of the sources document (paths and hosts)

	// API Gateway
	ThrottleBurst    int
	ThrottleRate     float64 // requests per second
	LogGroupName     string
	LogRetentionDays int
	FunctionName     pulumi.StringInput // the receiver
	FunctionArn      pulumi.StringInput // its ARN (the integration's URI)

	// Cloudflare
	ZoneID    string
	Plan      Plan
	RateLimit RateLimit
	Allow     map[string]rules.AllowList // per source name
	// OriginSecret is the X-Origin-Verify value Cloudflare adds: the newest
	// of the stack secret hookline:originSecrets, which the receiver's
	// document also carries. Pass it as a Pulumi secret.
	OriginSecret pulumi.StringInput
}

// Source is one sender: its path /webhooks/<Name>, the hosts it accepts,
// and whether its scheme's endpoint handshake is a GET (then, and only
// then, GET to its path is routed and let through).
type Source struct {
	Name  string
	Hosts []string
	GET   bool
}

// Plan is what the zone's Cloudflare plan allows the generated rules.
type Plan struct {
	Name               string
	RateLimitRules     int
	PathCharacteristic bool // Advanced Rate Limiting: count per path too
}

// RateLimit is the per-client rate limit.
type RateLimit struct {
	PeriodSeconds, RequestsPerPeriod, MitigationTimeoutSeconds int
}

// OriginHeader is the header Cloudflare adds and the receiver checks
// (lambda/receiver.OriginHeader; infra does not import the receiver).
const OriginHeader = "X-Origin-Verify"

// Edge is the edge component.
type Edge struct {
	pulumi.ResourceState

	WebhookURL   pulumi.StringOutput // https://<first hostname>/webhooks/
	APIID        pulumi.IDOutput
	ExecutionArn pulumi.StringOutput
	LogGroupName pulumi.StringOutput
}

// New declares the edge.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Edge, error) {
	e := &Edge{}
	if err := ctx.RegisterComponentResource("hookline:edge:Edge", name, e, opts...); err != nil {
		return nil, err
	}
	// Children inherit the stack's AWS provider from the component (opts);
	// the Cloudflare ones use the default Cloudflare provider, configured
	// with cloudflare:apiToken.
	parent := pulumi.Parent(e)

	cert, err := e.certificate(ctx, name, args, parent)
	if err != nil {
		return nil, err
	}
	targets, err := e.api(ctx, name, args, cert, parent)
	if err != nil {
		return nil, err
	}
	if err := e.zone(ctx, name, args, targets, parent); err != nil {
		return nil, err
	}

	return e, ctx.RegisterResourceOutputs(e, pulumi.Map{
		"webhookUrl":   e.WebhookURL,
		"apiId":        e.APIID,
		"executionArn": e.ExecutionArn,
	})
}
