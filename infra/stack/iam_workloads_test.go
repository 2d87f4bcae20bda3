package stack_test

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"github.com/hookline/hookline/infra/plan"
	"github.com/hookline/hookline/internal/queuemetrics"
)

type policyDoc struct {
	Version   string
	Statement []struct {
		Sid       string
		Effect    string
		Action    stringList
		Resource  stringList
		NotAction stringList
		Condition map[string]map[string]string
	}
}

// stringList reads IAM's "one string or a list of strings".
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*l = []string{one}
		return nil
	}
	var many []string
	err := json.Unmarshal(b, &many)
	*l = many
	return err
}

// wildcardResourceActions are the only actions that may name Resource "*":
// AWS offers no resource-level permission for them (README, IAM table).
var wildcardResourceActions = map[string]bool{
	"ecr:GetAuthorizationToken":      true, // processor task execution
	"ec2:CreateNetworkInterface":     true, // receiver: Lambda's VPC interfaces
	"ec2:DeleteNetworkInterface":     true,
	"ec2:DescribeNetworkInterfaces":  true,
	"ec2:DescribeSubnets":            true,
	"ec2:AssignPrivateIpAddresses":   true,
	"ec2:UnassignPrivateIpAddresses": true,
	"ec2:DescribeInstances":          true, // broker cluster peer discovery
	"cloudwatch:PutMetricData":       true, // processor queue metrics and broker ready/health metrics, each confined by a cloudwatch:namespace condition
}

// Every inline policy in the plan, parsed: no wildcard action, no "*"
// resource outside the table above, and each role reads exactly its own
// secrets and decrypts only with the keys of those secrets, only through
// Secrets Manager. Roles are one per workload, each trusting only its
// service. The processor's task role reads only what its code re-reads at
// run time (its own database user, the sources document), never the RDS
// master secret; the execution role injects, and the run task gets, no
// sources document any more.
func TestEveryRoleReadsOnlyItsOwnSecrets(t *testing.T) {
	forEachStack(t, func(t *testing.T, v variant, r *plan.Result) {
		n := "hookline-" + v.stack + "-"
		keyOf := map[string]string{} // secret ARN → KMS key ARN
		for _, s := range r.OfType("aws:secretsmanager/secret:Secret") {
			keyOf[secretArn+s.Name] = s.Str("kmsKeyId")
		}
		for _, db := range r.OfType("aws:rds/instance:Instance") {
			keyOf[secretArn+"rds!"+db.Name] = db.Str("masterUserSecretKmsKeyId")
		}
		ca := secretArn + n + "rabbitmq-ca-cert"
		brokerSecrets := []string{secretArn + n + "rabbitmq-admin", secretArn + n + "rabbitmq-admin-b", ca, secretArn + n + "rabbitmq-ca-key",
			secretArn + n + "rabbitmq-collector", secretArn + n + "rabbitmq-collector-b", secretArn + n + "rabbitmq-processor", secretArn + n + "rabbitmq-processor-b",
			secretArn + n + "rabbitmq-receiver", secretArn + n + "rabbitmq-receiver-b"}
		if v.name == "prod-cluster" {
			brokerSecrets = append(brokerSecrets, secretArn+n+"rabbitmq-erlang-cookie")
		}
		// role name → the secrets it must read, exactly.
		want := map[string][]string{
			n + "processor-execution": {secretArn + n + "cache-auth", ca, secretArn + n + "rabbitmq-collector", secretArn + n + "rabbitmq-processor", secretArn + n + "database-processor", secretArn + "rds!" + n + "database"},
			n + "processor-task":      {secretArn + n + "database-processor", secretArn + n + "sources"},
			n + "receiver":            {ca, secretArn + n + "rabbitmq-receiver", secretArn + n + "sources"},
			n + "rabbitmq":            brokerSecrets,
			n + "flow-logs":           nil,
			n + "canary":              {secretArn + n + "canary"},
		}
		trust := map[string]string{
			n + "processor-execution": "ecs-tasks.amazonaws.com",
			n + "processor-task":      "ecs-tasks.amazonaws.com",
			n + "receiver":            "lambda.amazonaws.com",
			n + "rabbitmq":            "ec2.amazonaws.com",
			n + "flow-logs":           "vpc-flow-logs.amazonaws.com",
			n + "canary":              "lambda.amazonaws.com",
		}
		roles := map[string]bool{}
		for _, role := range r.OfType("aws:iam/role:Role") {
			roles[role.Name] = true
			w, ok := trust[role.Name]
			if !ok {
				t.Errorf("role %s is not one of the workloads' roles", role.Name)
				continue
			}
			var doc struct {
				Statement []struct {
					Effect    string
					Action    stringList
					Principal map[string]stringList
				}
			}
			if err := json.Unmarshal([]byte(role.Str("assumeRolePolicy")), &doc); err != nil {
				t.Fatalf("role %s trust policy: %v", role.Name, err)
			}
			if len(doc.Statement) != 1 || strings.Join(doc.Statement[0].Principal["Service"], ",") != w || strings.Join(doc.Statement[0].Action, ",") != "sts:AssumeRole" {
				t.Errorf("role %s trusts %+v; want only %s", role.Name, doc.Statement, w)
			}
		}
		for name := range trust {
			if !roles[name] {
				t.Errorf("no role %s", name)
			}
		}

		reads := map[string][]string{}
		withPolicy := map[string]int{}
		for _, p := range r.OfType("aws:iam/rolePolicy:RolePolicy") {
			role := strings.TrimPrefix(p.Str("role"), "role-")
			withPolicy[role]++
			var doc policyDoc
			if err := json.Unmarshal([]byte(p.Str("policy")), &doc); err != nil {
				t.Fatalf("policy %s: %v", p.Name, err)
			}
			if doc.Version != "2012-10-17" {
				t.Errorf("policy %s version %q", p.Name, doc.Version)
			}
			var keys []string
			for _, st := range doc.Statement {
				if st.Effect != "Allow" || len(st.NotAction) > 0 {
					t.Errorf("policy %s: statement %s is %s with NotAction %v; want plain Allow statements", p.Name, st.Sid, st.Effect, st.NotAction)
				}
				star := false
				for _, res := range st.Resource {
					if res == "*" {
						star = true
					}
				}
				for _, a := range st.Action {
					if strings.Contains(a, "*") {
						t.Errorf("policy %s: wildcard action %s", p.Name, a)
					}
					if star && !wildcardResourceActions[a] {
						t.Errorf("policy %s: %s on Resource \"*\"; only actions without resource-level permissions may", p.Name, a)
					}
					switch a {
					case "secretsmanager:GetSecretValue":
						reads[role] = append(reads[role], st.Resource...)
					case "kms:Decrypt":
						keys = append(keys, st.Resource...)
						if role != n+"rabbitmq" && st.Condition["StringEquals"]["kms:ViaService"] != "secretsmanager.us-east-1.amazonaws.com" {
							t.Errorf("policy %s: kms:Decrypt without the kms:ViaService Secrets Manager condition", p.Name)
						}
					case "logs:CreateLogStream", "logs:PutLogEvents":
						for _, res := range st.Resource {
							if !strings.HasPrefix(res, groupArn+n) {
								t.Errorf("policy %s: writes logs to %s, not its own group", p.Name, res)
							}
						}
					case "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability":
						if len(st.Resource) != 1 || st.Resource[0] != "arn:aws:ecr:us-east-1:"+account+":"+n+"images" {
							t.Errorf("policy %s: pulls from %v; want only the stack's repository", p.Name, st.Resource)
						}
					}
				}
			}
			// The keys: exactly those of the secrets it reads.
			wantKeys := map[string]bool{}
			for _, s := range reads[role] {
				wantKeys[keyOf[s]] = true
			}
			gotKeys := map[string]bool{}
			for _, k := range keys {
				gotKeys[k] = true
				if !wantKeys[k] {
					t.Errorf("policy %s decrypts with %s, which encrypts none of its secrets", p.Name, k)
				}
			}
			for k := range wantKeys {
				if !gotKeys[k] {
					t.Errorf("policy %s cannot decrypt its secrets' key %s", p.Name, k)
				}
			}
		}
		for role, secrets := range want {
			got := append([]string(nil), reads[role]...)
			sort.Strings(got)
			sort.Strings(secrets)
			if strings.Join(got, " ") != strings.Join(secrets, " ") {
				t.Errorf("role %s reads %v; want exactly %v", role, got, secrets)
			}
			if role == n+"processor-task" {
				continue // two policies: its secrets, and the queue metrics (below)
			}
			if withPolicy[role] != 1 {
				t.Errorf("role %s has %d inline policies; want 1", role, withPolicy[role])
			}
		}
		// The task role: re-reading its two secrets (above), plus the queue
		// metrics collector's PutMetricData into its namespace only, and
		// nothing else.
		if withPolicy[n+"processor-task"] != 2 {
			t.Errorf("the processor's task role has %d policies; want its secrets' and the queue metrics'", withPolicy[n+"processor-task"])
		}
		for _, p := range r.OfType("aws:iam/rolePolicy:RolePolicy") {
			if p.Str("role") != "role-"+n+"processor-task" && p.Str("role") != n+"processor-task" {
				continue
			}
			if p.Name == n+"processor-task" {
				continue // its secrets: checked above, exactly
			}
			var doc policyDoc
			if err := json.Unmarshal([]byte(p.Str("policy")), &doc); err != nil {
				t.Fatal(err)
			}
			if len(doc.Statement) != 1 || strings.Join(doc.Statement[0].Action, ",") != "cloudwatch:PutMetricData" ||
				doc.Statement[0].Condition["StringEquals"]["cloudwatch:namespace"] != queuemetrics.Namespace {
				t.Errorf("task role policy %+v; want only cloudwatch:PutMetricData with cloudwatch:namespace = %s", doc.Statement, queuemetrics.Namespace)
			}
		}
		// Managed policies only on the broker nodes (SSM, CloudWatch agent).
		for _, a := range r.OfType("aws:iam/rolePolicyAttachment:RolePolicyAttachment") {
			if a.Str("role") != n+"rabbitmq" {
				t.Errorf("managed policy %s attached to %s; only the broker role has managed policies", a.Str("policyArn"), a.Str("role"))
			}
		}
	})
}
