package stack_test

import (
	"encoding/json"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"sigs.k8s.io/yaml"

	"github.com/hookline/hookline/infra/config"
	"github.com/hookline/hookline/infra/plan"
	"github.com/hookline/hookline/infra/stack"
)

// receiverFns are the recorded receiver functions (the canary is the
// other Lambda function).
func receiverFns(r *plan.Result) []plan.Resource {
	var out []plan.Resource
	for _, f := range r.OfType("aws:lambda/function:Function") {
		if strings.HasSuffix(f.Name, "-receiver") {
			out = append(out, f)
		}
	}
	return out
}

// byName is the one recorded resource of typ named name.
func byName(t *testing.T, r *plan.Result, typ, name string) plan.Resource {
	t.Helper()
	var found []plan.Resource
	for _, res := range r.OfType(typ) {
		if res.Name == name {
			found = append(found, res)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d %s named %s; want 1", len(found), typ, name)
	}
	return found[0]
}

// TestCanary: every shipped stack (each has an edge) runs the canary: an
// EventBridge schedule every 5 minutes invokes the canary function, which
// only that rule may invoke; the function is arm64 provided.al2023 from
// build/lambda/canary.zip, outside the VPC, one run at a time, never
// retried, and posts to the edge's first hostname on the canary source's
// path; its role writes only its log group and reads only its own secret
// (decrypting with that secret's key through Secrets Manager only); the
// secret holds the stack's canarySecret, which the sources document the
// receiver reads has as source hookline-canary on that hostname.
func TestCanary(t *testing.T) {
	root, err := config.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	forEachStack(t, func(t *testing.T, v variant, r *plan.Result) {
		n := "hookline-" + v.stack + "-canary"
		host := map[string]string{"dev": "hooks-dev.example.com", "prod": "hooks.example.com"}[v.stack]

		rule := byName(t, r, "aws:cloudwatch/eventRule:EventRule", n)
		if rule.Str("scheduleExpression") != "rate(1 minute)" || rule.Has("eventPattern") {
			t.Errorf("rule %s: schedule %q; want rate(1 minute), no pattern", rule.Name, rule.Str("scheduleExpression"))
		}
		fnArn := "arn:aws:lambda:us-east-1:" + account + ":" + n
		target := byName(t, r, "aws:cloudwatch/eventTarget:EventTarget", n)
		if target.Str("rule") != n || target.Str("arn") != fnArn {
			t.Errorf("target: rule %q arn %q; want %s → %s", target.Str("rule"), target.Str("arn"), n, fnArn)
		}
		perm := byName(t, r, "aws:lambda/permission:Permission", n)
		if perm.Str("principal") != "events.amazonaws.com" || perm.Str("action") != "lambda:InvokeFunction" ||
			perm.Str("sourceArn") != "arn:aws:events:us-east-1:"+account+":rule/"+n && perm.Str("sourceArn") != "arn:aws:cloudwatch:us-east-1:"+account+":"+n {
			t.Errorf("permission %v; want only EventBridge, only from the canary's rule", perm.Inputs)
		}

		f := byName(t, r, "aws:lambda/function:Function", n)
		if f.Str("runtime") != "provided.al2023" || strings.Join(f.Strs("architectures"), ",") != "arm64" || f.Str("handler") != "bootstrap" {
			t.Errorf("runtime %s %v %s", f.Str("runtime"), f.Strs("architectures"), f.Str("handler"))
		}
		if code := f.Inputs["code"]; !code.IsArchive() || code.ArchiveValue().Path != filepath.Join(root, "build", "lambda", "canary.zip") {
			t.Errorf("code %v; want build/lambda/canary.zip from the project root", code)
		}
		if f.Has("vpcConfig") {
			t.Errorf("vpcConfig %v; the canary posts from outside, as a sender does", f.Input("vpcConfig"))
		}
		if f.Int("reservedConcurrentExecutions") != 1 || f.Int("timeout") != 20 || f.Int("memorySize") != 128 {
			t.Errorf("concurrency %d timeout %d memory %d; want 1, 10 s request + 10 s, 128 MiB",
				f.Int("reservedConcurrentExecutions"), f.Int("timeout"), f.Int("memorySize"))
		}
		env := strMap(f.Input("environment", "variables"))
		secret := "arn:aws:secretsmanager:us-east-1:" + account + ":" + n
		if env["CANARY_URL"] != "https://"+host+"/webhooks/hookline-canary" || env["CANARY_SECRET_ARN"] != secret ||
			env["HOOKLINE_STACK"] != "hookline-"+v.stack || env["CANARY_TIMEOUT"] != "10s" {
			t.Errorf("environment %v; want the public URL, the secret's ARN, the stack, 10s", env)
		}
		for k, val := range env {
			if strings.Contains(val, "whsec_") || strings.Contains(val, plan.Placeholder) {
				t.Errorf("environment %s holds a secret value", k)
			}
		}
		inv := byName(t, r, "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig", n)
		if !inv.Has("maximumRetryAttempts") || inv.Int("maximumRetryAttempts") != 0 || inv.Int("maximumEventAgeInSeconds") != 60 {
			t.Errorf("invoke config %v; want no retries and events dropped after one interval", inv.Inputs)
		}

		// The role: its log group, its secret, its key; nothing else.
		p := byName(t, r, "aws:iam/rolePolicy:RolePolicy", n)
		var doc policyDoc
		if err := json.Unmarshal([]byte(p.Str("policy")), &doc); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, st := range doc.Statement {
			for _, a := range st.Action {
				got = append(got, a+" "+strings.Join(st.Resource, ","))
			}
		}
		sort.Strings(got)
		key := "arn:aws:kms:us-east-1:" + account + ":" + n
		want := []string{
			"kms:Decrypt " + key,
			"logs:CreateLogStream " + groupArn + n + ":*",
			"logs:PutLogEvents " + groupArn + n + ":*",
			"secretsmanager:GetSecretValue " + secret,
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("canary role may\n%s\nwant exactly\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if g := byName(t, r, "aws:cloudwatch/logGroup:LogGroup", n); g.Str("name") != "/hookline/hookline-"+v.stack+"/canary" ||
			g.Int("retentionInDays") != map[string]int{"dev": 30, "prod": 365}[v.stack] {
			t.Errorf("log group %s, retention %d", g.Str("name"), g.Int("retentionInDays"))
		}

		// The secret's value is the stack's canarySecret (offline: the
		// placeholder), and the document has it as the canary source.
		sv := byName(t, r, "aws:secretsmanager/secretVersion:SecretVersion", n)
		value := plainStrings(resource.NewObjectProperty(sv.Inputs), true)
		if !sv.IsSecret("secretString") || len(value) != 1 || value[0] != plan.Placeholder {
			t.Errorf("the canary secret's value %d secret strings; want the stack's canarySecret, as a Pulumi secret", len(value))
		}
		var sources struct {
			Sources []struct {
				Name, Scheme   string
				Hosts, Secrets []string
			}
		}
		dv := byName(t, r, "aws:secretsmanager/secretVersion:SecretVersion", "hookline-"+v.stack+"-sources")
		document := plainStrings(resource.NewObjectProperty(dv.Inputs), true)
		if len(document) != 1 {
			t.Fatalf("sources document: %d secret strings; want the document", len(document))
		}
		if err := yaml.Unmarshal([]byte(document[0]), &sources); err != nil {
			t.Fatal(err)
		}
		var canaries int
		for _, s := range sources.Sources {
			if s.Name != "hookline-canary" {
				continue
			}
			canaries++
			if s.Scheme != "standard" || strings.Join(s.Hosts, ",") != host || len(s.Secrets) != 1 || s.Secrets[0] != plan.Placeholder {
				t.Errorf("canary source %+v; want standard on %s with the canary secret's value", s, host)
			}
		}
		if canaries != 1 {
			t.Errorf("%d canary sources in the document; want 1", canaries)
		}
	})
}

// TestCanaryConfig: hookline:canary.intervalMinutes sets the schedule and
// the canary alarms' period; with enabled false there is no canary and no
// canary alarm, and no canarySecret is needed.
func TestCanaryConfig(t *testing.T) {
	root, err := config.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	r, err := plan.Run(stack.Program, plan.Options{Root: root, Stack: "dev", Set: []string{"hookline:canary.intervalMinutes=7"},
		Override: map[string]string{"hookline:canary": `{"intervalMinutes":1}`}})
	if err != nil {
		t.Fatal(err)
	}
	if s := byName(t, r, "aws:cloudwatch/eventRule:EventRule", "hookline-dev-canary").Str("scheduleExpression"); s != "rate(7 minutes)" {
		t.Errorf("schedule %q; want rate(7 minutes)", s)
	}
	for _, a := range []string{"canary-failed", "canary-arrivals-missing"} {
		al := byName(t, r, "aws:cloudwatch/metricAlarm:MetricAlarm", "hookline-dev-watch-"+a)
		if al.Int("period") != 420 || al.Int("evaluationPeriods") != 10 {
			t.Errorf("%s: period %d over %d; want 420 s over 10 (dev's canaryPeriods)", a, al.Int("period"), al.Int("evaluationPeriods"))
		}
	}

	off, err := plan.Run(stack.Program, plan.Options{Root: root, Stack: "dev", Override: map[string]string{"hookline:canary": `{"enabled":false}`},
		Omit: []string{"hookline:canarySecret"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, res := range off.Resources {
		if strings.Contains(res.Name, "canary") {
			t.Errorf("%s %s declared with the canary off", res.Type, res.Name)
		}
	}
}
