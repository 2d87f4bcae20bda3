package stack_test

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"github.com/hookline/hookline/infra/plan"
)

// The broker nodes' role reads only the broker's own secrets and key, and
// may list instances only when it has peers to find.
func TestBrokerRoleLeastPrivilege(t *testing.T) {
	forEachStack(t, func(t *testing.T, v variant, r *plan.Result) {
		secrets := map[string]bool{}
		for _, s := range r.OfType("aws:secretsmanager/secret:Secret") {
			if strings.Contains(s.Name, "-rabbitmq-") {
				secrets["arn:aws:secretsmanager:us-east-1:123456789012:"+s.Name] = true
			}
		}
		cluster := len(r.OfType("aws:ec2/instance:Instance")) > 1
		var found bool
		for _, p := range r.OfType("aws:iam/rolePolicy:RolePolicy") {
			if !strings.HasSuffix(p.Name, "-rabbitmq") {
				continue
			}
			found = true
			var doc struct {
				Statement []struct {
					Effect   string
					Action   []string
					Resource []string
				}
			}
			if err := json.Unmarshal([]byte(p.Str("policy")), &doc); err != nil {
				t.Fatalf("policy %s: %v", p.Name, err)
			}
			var actions []string
			for _, st := range doc.Statement {
				if st.Effect != "Allow" {
					continue
				}
				for _, a := range st.Action {
					actions = append(actions, a)
					switch a {
					case "secretsmanager:GetSecretValue":
						if len(st.Resource) != len(secrets) {
							t.Errorf("reads %d secrets; want the broker's %d", len(st.Resource), len(secrets))
						}
						for _, res := range st.Resource {
							if !secrets[res] {
								t.Errorf("reads secret %s, not one of the broker's", res)
							}
						}
					case "kms:Decrypt":
						if len(st.Resource) != 1 || st.Resource[0] != "arn:aws:kms:us-east-1:123456789012:hookline-"+v.stack+"-rabbitmq" {
							t.Errorf("decrypts with %v; want only the broker's key", st.Resource)
						}
					case "secretsmanager:PutSecretValue", "secretsmanager:ListSecretVersionIds":
						// Only node 0's first boot writes: the CA it creates.
						if len(st.Resource) != 2 || !strings.HasSuffix(st.Resource[0], "-rabbitmq-ca-key") || !strings.HasSuffix(st.Resource[1], "-rabbitmq-ca-cert") {
							t.Errorf("writes secrets %v; want only the broker CA's two", st.Resource)
						}
					case "ssm:PutParameter":
						if len(st.Resource) != 1 || st.Resource[0] != "arn:aws:ssm:us-east-1:*:parameter/hookline/"+v.stack+"/broker/*" {
							t.Errorf("writes parameters %v; want only the nodes' ready markers", st.Resource)
						}
					}
					if strings.Contains(a, "*") {
						t.Errorf("wildcard action %s", a)
					}
				}
			}
			sort.Strings(actions)
			want := "cloudwatch:PutMetricData kms:Decrypt kms:GenerateDataKey logs:CreateLogStream logs:PutLogEvents secretsmanager:GetSecretValue secretsmanager:ListSecretVersionIds secretsmanager:PutSecretValue ssm:GetDocument ssm:PutParameter"
			if cluster {
				want = "cloudwatch:PutMetricData ec2:DescribeInstances " + strings.TrimPrefix(want, "cloudwatch:PutMetricData ")
			}
			if strings.Join(actions, " ") != want {
				t.Errorf("actions %v; want %s", actions, want)
			}
		}
		if !found {
			t.Fatal("no inline policy on the broker role")
		}
	})
}
