package edge

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/acm"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/apigatewayv2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/lambda"
	"github.com/pulumi/pulumi-cloudflare/sdk/v5/go/cloudflare"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Route is the route every source is served by.
const Route = "POST /webhooks/{source}"

// GETRoute is the route of one source whose scheme's endpoint handshake is
// a GET: a route per such source, never GET /webhooks/{source}, so GET
// reaches the receiver only for them.
func GETRoute(source string) string { return "GET /webhooks/" + source }

// accessLogFormat is the stage's JSON access log line. sourceIp is a
// Cloudflare address; the sender's is in the receiver's log
// (CF-Connecting-IP).
const accessLogFormat = `{"requestId":"$context.requestId","time":"$context.requestTime","domain":"$context.domainName",` +
	`"method":"$context.httpMethod","path":"$context.path","routeKey":"$context.routeKey","status":"$context.status",` +
	`"sourceIp":"$context.identity.sourceIp","responseLength":"$context.responseLength",` +
	`"integrationStatus":"$context.integrationStatus","integrationLatency":"$context.integrationLatency",` +
	`"integrationError":"$context.integrationErrorMessage","error":"$context.error.message"}`

// certificate is the ACM certificate of every hostname, validated through
// DNS records in the Cloudflare zone. Those records are DNS-only: ACM must
// see them as they are, and a proxied record would answer with Cloudflare's
// addresses instead.
func (e *Edge) certificate(ctx *pulumi.Context, name string, args Args, parent pulumi.ResourceOption) (pulumi.StringOutput, error) {
	cert, err := acm.NewCertificate(ctx, name+"-cert", &acm.CertificateArgs{
		DomainName:              pulumi.String(args.Hostnames[0]),
		SubjectAlternativeNames: pulumi.ToStringArray(args.Hostnames[1:]),
		ValidationMethod:        pulumi.String("DNS"),
		KeyAlgorithm:            pulumi.String("EC_prime256v1"),
	}, parent)
	if err != nil {
		return pulumi.StringOutput{}, err
	}
	var fqdns pulumi.StringArray
	for _, host := range args.Hostnames {
		option := func(field func(acm.CertificateDomainValidationOption) *string) pulumi.StringOutput {
			return cert.DomainValidationOptions.ApplyT(func(opts []acm.CertificateDomainValidationOption) (string, error) {
				for _, o := range opts {
					if o.DomainName != nil && *o.DomainName == host {
						return strings.TrimSuffix(deref(field(o)), "."), nil
					}
				}
				return "", fmt.Errorf("edge: ACM gave no validation record for %s", host)
			}).(pulumi.StringOutput)
		}
		rec, err := cloudflare.NewRecord(ctx, name+"-acm-"+host, &cloudflare.RecordArgs{
			ZoneId:  pulumi.String(args.ZoneID),
			Name:    option(func(o acm.CertificateDomainValidationOption) *string { return o.ResourceRecordName }),
			Type:    option(func(o acm.CertificateDomainValidationOption) *string { return o.ResourceRecordType }),
			Content: option(func(o acm.CertificateDomainValidationOption) *string { return o.ResourceRecordValue }),
			Proxied: pulumi.Bool(false),
			Ttl:     pulumi.Int(60),
			Comment: pulumi.String("ACM validation of " + host + " (hookline edge); DNS-only"),
		}, parent)
		if err != nil {
			return pulumi.StringOutput{}, err
		}
		fqdns = append(fqdns, rec.Name) // the FQDN it was given
	}
	valid, err := acm.NewCertificateValidation(ctx, name+"-cert", &acm.CertificateValidationArgs{
		CertificateArn:        cert.Arn,
		ValidationRecordFqdns: fqdns,
	}, parent)
	if err != nil {
		return pulumi.StringOutput{}, err
	}
	return valid.CertificateArn, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// api is the HTTP API, its stage and its custom domains; it returns each
// hostname's regional target for the Cloudflare CNAME.
func (e *Edge) api(ctx *pulumi.Context, name string, args Args, certArn pulumi.StringOutput, parent pulumi.ResourceOption) (map[string]pulumi.StringOutput, error) {
	api, err := apigatewayv2.NewApi(ctx, name+"-api", &apigatewayv2.ApiArgs{
		Name:         pulumi.String(name),
		ProtocolType: pulumi.String("HTTP"),
		// The custom domains behind Cloudflare are the only way in.
		DisableExecuteApiEndpoint: pulumi.Bool(true),
		Description:               pulumi.String("hookline webhooks: reachable only at its custom domains, through Cloudflare"),
	}, parent)
	if err != nil {
		return nil, err
	}
	e.APIID = api.ID()
	e.ExecutionArn = api.ExecutionArn

	integration, err := apigatewayv2.NewIntegration(ctx, name+"-receiver", &apigatewayv2.IntegrationArgs{
		ApiId:                api.ID(),
		IntegrationType:      pulumi.String("AWS_PROXY"),
		IntegrationMethod:    pulumi.String("POST"),
		IntegrationUri:       args.FunctionArn,
		PayloadFormatVersion: pulumi.String("2.0"),
		TimeoutMilliseconds:  pulumi.Int(30000),
	}, parent)
	if err != nil {
		return nil, err
	}
	if _, err := apigatewayv2.NewRoute(ctx, name+"-webhooks", &apigatewayv2.RouteArgs{
		ApiId:    api.ID(),
		RouteKey: pulumi.String(Route),
		Target:   pulumi.Sprintf("integrations/%s", integration.ID()),
	}, parent); err != nil {
		return nil, err
	}
	// Only this API, only its POST route, may invoke the receiver.
	if _, err := lambda.NewPermission(ctx, name+"-invoke", &lambda.PermissionArgs{
		Action:    pulumi.String("lambda:InvokeFunction"),
		Function:  args.FunctionName,
		Principal: pulumi.String("apigateway.amazonaws.com"),
		SourceArn: pulumi.Sprintf("%s/*/POST/webhooks/*", api.ExecutionArn),
	}, parent); err != nil {
		return nil, err
	}
	// The handshake GETs: a route and a permission per source that needs
	// one, each for its own path only.
	for _, src := range args.Sources {
		if !src.GET {
			continue
		}
		if _, err := apigatewayv2.NewRoute(ctx, name+"-get-"+src.Name, &apigatewayv2.RouteArgs{
			ApiId:    api.ID(),
			RouteKey: pulumi.String(GETRoute(src.Name)),
			Target:   pulumi.Sprintf("integrations/%s", integration.ID()),
		}, parent); err != nil {
			return nil, err
		}
		if _, err := lambda.NewPermission(ctx, name+"-invoke-get-"+src.Name, &lambda.PermissionArgs{
			Action:    pulumi.String("lambda:InvokeFunction"),
			Function:  args.FunctionName,
			Principal: pulumi.String("apigateway.amazonaws.com"),
			SourceArn: pulumi.Sprintf("%s/*/GET/webhooks/%s", api.ExecutionArn, src.Name),
		}, parent); err != nil {
			return nil, err
		}
	}

	logs, err := cloudwatch.NewLogGroup(ctx, name+"-access", &cloudwatch.LogGroupArgs{
		Name:            pulumi.String(args.LogGroupName),
		RetentionInDays: pulumi.Int(args.LogRetentionDays),
	}, parent)
	if err != nil {
		return nil, err
	}
	e.LogGroupName = logs.Name
	stage, err := apigatewayv2.NewStage(ctx, name+"-default", &apigatewayv2.StageArgs{
		ApiId:      api.ID(),
		Name:       pulumi.String("$default"),
		AutoDeploy: pulumi.Bool(true),
		DefaultRouteSettings: &apigatewayv2.StageDefaultRouteSettingsArgs{
			ThrottlingBurstLimit: pulumi.Int(args.ThrottleBurst),
			ThrottlingRateLimit:  pulumi.Float64(args.ThrottleRate),
		},
		AccessLogSettings: &apigatewayv2.StageAccessLogSettingsArgs{
			DestinationArn: logs.Arn,
			Format:         pulumi.String(accessLogFormat),
		},
	}, parent)
	if err != nil {
		return nil, err
	}

	targets := map[string]pulumi.StringOutput{}
	for _, host := range args.Hostnames {
		dn, err := apigatewayv2.NewDomainName(ctx, name+"-"+host, &apigatewayv2.DomainNameArgs{
			DomainName: pulumi.String(host),
			DomainNameConfiguration: &apigatewayv2.DomainNameDomainNameConfigurationArgs{
				CertificateArn: certArn,
				EndpointType:   pulumi.String("REGIONAL"),
				SecurityPolicy: pulumi.String("TLS_1_2"),
			},
		}, parent)
		if err != nil {
			return nil, err
		}
		if _, err := apigatewayv2.NewApiMapping(ctx, name+"-"+host, &apigatewayv2.ApiMappingArgs{
			ApiId:      api.ID(),
			DomainName: dn.ID(),
			Stage:      stage.ID(),
		}, parent); err != nil {
			return nil, err
		}
		targets[host] = dn.DomainNameConfiguration.TargetDomainName().Elem()
		if host == args.Hostnames[0] {
			// The URL exists once its custom domain does (and is tracked
			// like every resource output).
			e.WebhookURL = pulumi.Sprintf("https://%s/webhooks/", dn.DomainName)
		}
	}
	return targets, nil
}
