package stack_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/hookline/hookline/infra/config"
	"github.com/hookline/hookline/infra/plan"
	"github.com/hookline/hookline/infra/stack"
)

// broker.credentials switches clients, nothing else: with every role on
// credential b, the receiver, the processor and its collector read the b
// users' secrets (environment, injected secrets, the IAM policies that let
// them), and no resource of the broker changes: it has both users always,
// so a switch is never a reconcile that could refuse someone.
func TestCredentialsSwitchOnlyTheClients(t *testing.T) {
	for _, stackName := range []string{"dev", "prod"} {
		t.Run(stackName, func(t *testing.T) {
			root, err := config.FindRoot(".")
			if err != nil {
				t.Fatal(err)
			}
			a, err := plan.Run(stack.Program, plan.Options{Root: root, Stack: stackName})
			if err != nil {
				t.Fatal(err)
			}
			b, err := plan.Run(stack.Program, plan.Options{Root: root, Stack: stackName, Set: []string{
				`hookline:broker.credentials={"receiver":"b","processor":"b","collector":"b","admin":"b"}`,
			}})
			if err != nil {
				t.Fatal(err)
			}
			n := "hookline-" + stackName + "-"

			f := receiverFns(b)[0]
			if got, want := f.Str("environment", "variables", "RABBITMQ_SECRET_ARN"), secretArn+n+"rabbitmq-receiver-b"; got != want {
				t.Errorf("receiver RABBITMQ_SECRET_ARN %s; want %s", got, want)
			}
			svc, _ := taskDefs(t, b)
			injected := map[string]string{}
			for _, s := range containers(t, svc)[0].Secrets {
				injected[s.Name] = s.ValueFrom
			}
			for name, want := range map[string]string{
				"RABBITMQ_USERNAME":      secretArn + n + "rabbitmq-processor-b:username::",
				"RABBITMQ_PASSWORD":      secretArn + n + "rabbitmq-processor-b:password::",
				"QUEUE_METRICS_USERNAME": secretArn + n + "rabbitmq-collector-b:username::",
				"QUEUE_METRICS_PASSWORD": secretArn + n + "rabbitmq-collector-b:password::",
			} {
				if injected[name] != want {
					t.Errorf("processor %s from %q; want %q", name, injected[name], want)
				}
			}
			for role, want := range map[string][]string{
				n + "receiver":            {secretArn + n + "rabbitmq-receiver-b"},
				n + "processor-execution": {secretArn + n + "rabbitmq-processor-b", secretArn + n + "rabbitmq-collector-b"},
			} {
				policy := rolePolicy(t, b, role)
				for _, arn := range want {
					if !strings.Contains(policy, `"`+arn+`"`) {
						t.Errorf("%s may not read %s", role, arn)
					}
					if a := strings.TrimSuffix(arn, "-b"); strings.Contains(policy, `"`+a+`"`) {
						t.Errorf("%s may still read the inactive %s", role, a)
					}
				}
			}

			// What changed between the two plans: the clients only.
			broker := ""
			for _, r := range a.Resources {
				if r.Type == "hookline:broker:RabbitMQ" {
					broker = r.URN
				}
			}
			if broker == "" {
				t.Fatal("no broker component")
			}
			changed := map[string]bool{}
			for _, c := range plan.Diff(a.File(), b.File()) {
				t.Logf("%s %s %v", c.Kind, c.URN[strings.LastIndex(c.URN, "::")+2:], c.Inputs)
				changed[c.Type] = true
				if c.Kind == "added" || c.Kind == "removed" {
					t.Errorf("switching credentials %s %s", c.Kind, c.URN)
				}
				if r, ok := a.ByURN(c.URN); ok && under(a, r, broker) {
					t.Errorf("switching credentials changes the broker's %s (%v)", c.URN, c.Inputs)
				}
				if c.Stateful {
					t.Errorf("switching credentials changes stateful %s", c.URN)
				}
			}
			for _, typ := range []string{"aws:lambda/function:Function", "aws:ecs/taskDefinition:TaskDefinition", "aws:iam/rolePolicy:RolePolicy"} {
				if !changed[typ] {
					t.Errorf("no %s changed: the switch did not reach the clients", typ)
				}
			}
			for typ := range changed {
				switch typ {
				case "aws:lambda/function:Function", "aws:ecs/taskDefinition:TaskDefinition", "aws:iam/rolePolicy:RolePolicy", "aws:ecs/service:Service":
				default:
					t.Errorf("switching credentials changes a %s", typ)
				}
			}
		})
	}
}

// under says whether r is urn or one of its descendants.
func under(res *plan.Result, r plan.Resource, urn string) bool {
	for {
		if r.URN == urn {
			return true
		}
		p, ok := res.ByURN(r.Parent)
		if !ok {
			return false
		}
		r = p
	}
}

// rolePolicy is the inline policy document of role name, as JSON text.
func rolePolicy(t *testing.T, r *plan.Result, name string) string {
	t.Helper()
	var out []string
	for _, p := range r.OfType("aws:iam/rolePolicy:RolePolicy") {
		if strings.TrimPrefix(p.Str("role"), "role-") == name {
			var doc any
			if err := json.Unmarshal([]byte(p.Str("policy")), &doc); err != nil {
				t.Fatalf("policy %s: %v", p.Name, err)
			}
			out = append(out, p.Str("policy"))
		}
	}
	if len(out) == 0 {
		t.Fatalf("no policy on role %s", name)
	}
	return strings.Join(out, "\n")
}
