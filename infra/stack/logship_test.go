package stack_test

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"github.com/hookline/hookline/infra/plan"
)

const (
	typLogSubscription = "aws:cloudwatch/logSubscriptionFilter:LogSubscriptionFilter"
	typFunction        = "aws:lambda/function:Function"
	typInvokeConfig    = "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig"
	lokiSecret         = "arn:aws:secretsmanager:us-east-1:" + account + ":secret:hookline/dev/loki-AbCdEf"
)

// Shipping to Loki, on: dev with a basic-auth secret, prod without one.
var logshipOn = []struct {
	variant
	url, secret string
}{
	{variant{name: "dev-loki", stack: "dev", override: map[string]string{
		"hookline:logs": `{"lokiUrl":"https://logs-prod-006.grafana.net","lokiSecretArn":"` + lokiSecret + `"}`,
	}}, "https://logs-prod-006.grafana.net", lokiSecret},
	{variant{name: "prod-loki", stack: "prod", override: map[string]string{
		"hookline:logs": `{"lokiUrl":"https://loki.example.com/tenant-a"}`,
	}}, "https://loki.example.com/tenant-a", ""},
}

// isLogship reports whether a resource belongs to the shipper.
func isLogship(res plan.Resource) bool {
	return strings.Contains(res.Name, "logship") || strings.Contains(res.Parent, "hookline:logship:Shipper") ||
		res.Type == typLogSubscription
}

// Off (every shipped stack, no hookline:logs): no shipper, no subscription,
// no permission for CloudWatch Logs to invoke anything.
func TestLogshipOff(t *testing.T) {
	forEachStack(t, func(t *testing.T, v variant, r *plan.Result) {
		for _, res := range r.Resources {
			if isLogship(res) {
				t.Errorf("%s %s declared without hookline:logs.lokiUrl", res.Type, res.Name)
			}
			if res.Type == typPermission && res.Str("principal") == "logs.amazonaws.com" {
				t.Errorf("permission %s lets CloudWatch Logs invoke %s", res.Name, res.Str("function"))
			}
		}
	})
}

// On: one arm64 function outside the VPC, subscribed to exactly the
// receiver's and the processor's log groups (every line), each invocation
// allowed only from that group, Lambda's retries declared, and a role that
// writes its own logs and reads only the Loki secret, if any.
func TestLogshipOn(t *testing.T) {
	for _, v := range logshipOn {
		t.Run(v.name, func(t *testing.T) {
			r := run(t, v.variant)
			n := "hookline-" + v.stack + "-"
			ship := n + "logship"
			withSecret := v.secret != ""

			var fn plan.Resource
			for _, f := range r.OfType(typFunction) {
				if f.Name == ship {
					fn = f
				}
			}
			if fn.Name == "" {
				t.Fatalf("no function %s", ship)
			}
			if fn.Str("runtime") != "provided.al2023" || strings.Join(fn.Strs("architectures"), ",") != "arm64" || fn.Str("handler") != "bootstrap" {
				t.Errorf("shipper runs %s %v %s; want provided.al2023 arm64 bootstrap", fn.Str("runtime"), fn.Strs("architectures"), fn.Str("handler"))
			}
			if fn.Has("vpcConfig") {
				t.Errorf("shipper in a VPC (%v); it reaches Loki on the internet", fn.Input("vpcConfig"))
			}
			env, _ := fn.Input("environment", "variables").(map[string]any)
			wantEnv := map[string]any{"LOKI_URL": v.url, "HOOKLINE_STACK": "hookline-" + v.stack}
			if withSecret {
				wantEnv["LOKI_SECRET_ARN"] = lokiSecret
			}
			if len(env) != len(wantEnv) {
				t.Errorf("shipper environment %v; want %v", env, wantEnv)
			}
			for k, want := range wantEnv {
				if env[k] != want {
					t.Errorf("shipper %s = %v; want %v", k, env[k], want)
				}
			}
			if g := fn.Str("loggingConfig", "logGroup"); g != "/hookline/hookline-"+v.stack+"/logship" {
				t.Errorf("shipper logs to %q; want its own group", g)
			}
			retention := map[string]int{}
			for _, g := range r.OfType("aws:cloudwatch/logGroup:LogGroup") {
				retention[g.Name] = g.Int("retentionInDays")
			}
			if retention[ship] == 0 || retention[ship] != retention[n+"receiver"] {
				t.Errorf("shipper log group retention %d; want the receiver's %d", retention[ship], retention[n+"receiver"])
			}

			var ic []plan.Resource
			for _, c := range r.OfType(typInvokeConfig) {
				if !strings.HasSuffix(c.Name, "-canary") { // the canary's own: TestCanary
					ic = append(ic, c)
				}
			}
			if len(ic) != 1 || ic[0].Str("functionName") != ship || ic[0].Int("maximumRetryAttempts") != 2 || ic[0].Int("maximumEventAgeInSeconds") != 21600 {
				t.Errorf("async invoke config %+v; want 2 retries within 6 h for %s", ic, ship)
			}

			// Subscriptions and permissions: exactly the two groups.
			groups := map[string]string{ // log group name → its mock ARN
				"/hookline/hookline-" + v.stack + "/receiver":  groupArn + n + "receiver",
				"/hookline/hookline-" + v.stack + "/processor": groupArn + n + "processor",
			}
			var subscribed, allowed []string
			for _, f := range r.OfType(typLogSubscription) {
				subscribed = append(subscribed, f.Str("logGroup"))
				if f.Str("destinationArn") != "arn:aws:lambda:us-east-1:"+account+":"+ship || f.Str("filterPattern") != "" || f.Has("roleArn") {
					t.Errorf("filter %s sends %q to %s (role %q); want every line to the shipper, no role", f.Name, f.Str("filterPattern"), f.Str("destinationArn"), f.Str("roleArn"))
				}
			}
			for _, p := range r.OfType(typPermission) {
				if p.Str("principal") != "logs.amazonaws.com" {
					continue
				}
				allowed = append(allowed, p.Str("sourceArn"))
				if p.Str("function") != ship || p.Str("action") != "lambda:InvokeFunction" {
					t.Errorf("permission %s: %s on %s; want lambda:InvokeFunction on %s", p.Name, p.Str("action"), p.Str("function"), ship)
				}
			}
			var wantGroups, wantSources []string
			for name, arn := range groups {
				wantGroups = append(wantGroups, name)
				wantSources = append(wantSources, arn+":*")

			}
			for _, l := range [][]string{subscribed, allowed, wantGroups, wantSources} {
				sort.Strings(l)
			}
			if strings.Join(subscribed, " ") != strings.Join(wantGroups, " ") {
				t.Errorf("subscription filters on %v; want %v", subscribed, wantGroups)
			}
			if strings.Join(allowed, " ") != strings.Join(wantSources, " ") {
				t.Errorf("CloudWatch Logs may invoke from %v; want only %v", allowed, wantSources)
			}

			// The role: trusts Lambda; writes its own group; reads the secret.
			var trusted bool
			for _, role := range r.OfType("aws:iam/role:Role") {
				if role.Name == ship {
					trusted = strings.Contains(role.Str("assumeRolePolicy"), `"Service":"lambda.amazonaws.com"`)
				}
			}
			if !trusted {
				t.Errorf("no role %s trusting lambda.amazonaws.com", ship)
			}
			var policies int
			for _, p := range r.OfType("aws:iam/rolePolicy:RolePolicy") {
				if p.Str("role") != "role-"+ship {
					continue
				}
				policies++
				var doc policyDoc
				if err := json.Unmarshal([]byte(p.Str("policy")), &doc); err != nil {
					t.Fatal(err)
				}
				got := map[string]string{} // action → its resources
				for _, st := range doc.Statement {
					if st.Effect != "Allow" || len(st.Condition) > 0 {
						t.Errorf("statement %s: %s with %v", st.Sid, st.Effect, st.Condition)
					}
					for _, a := range st.Action {
						got[a] = strings.TrimSpace(got[a] + " " + strings.Join(st.Resource, " "))
					}
				}
				want := map[string]string{
					"logs:CreateLogStream": groupArn + ship + ":*",
					"logs:PutLogEvents":    groupArn + ship + ":*",
				}
				if withSecret {
					want["secretsmanager:GetSecretValue"] = lokiSecret
				}
				if len(got) != len(want) {
					t.Errorf("shipper may %v; want exactly %v", got, want)
				}
				for a, res := range want {
					if got[a] != res {
						t.Errorf("shipper %s on %q; want %q", a, got[a], res)
					}
				}
			}
			if policies != 1 {
				t.Errorf("shipper role has %d inline policies; want 1", policies)
			}

			// Every shipper resource is a child of the component.
			for _, res := range r.Resources {
				if isLogship(res) && res.Type != "hookline:logship:Shipper" && !strings.Contains(res.Parent, "hookline:logship:Shipper") {
					t.Errorf("%s %s is not parented to the shipper", res.Type, res.Name)
				}
			}
		})
	}
}
