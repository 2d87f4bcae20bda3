package stack_test

import (
	"encoding/json"
	"math"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/hookline/hookline/infra/config"
	"github.com/hookline/hookline/infra/plan"
	"github.com/hookline/hookline/infra/stack"
)

var stackProgram = stack.Program

const (
	account   = "123456789012"
	secretArn = "arn:aws:secretsmanager:us-east-1:" + account + ":"
	groupArn  = "arn:aws:cloudwatch:us-east-1:" + account + ":"
	roleArn   = "arn:aws:iam:us-east-1:" + account + ":"
)

// The workloads' sizes per stack (DESIGN.md's stack table and the shipped
// stack files).
type workloadWant struct {
	cpu, memory, minTasks, stopTimeout, retention int
	lambdaMemory, reserved                        int
}

var workloadTable = map[string]workloadWant{
	"dev":          {256, 512, 1, 30, 30, 256, 20},
	"prod":         {1024, 2048, 2, 60, 365, 512, 200},
	"prod-cluster": {1024, 2048, 2, 60, 365, 512, 200},
}

type container struct {
	Name                   string
	Image                  string
	Command                []string
	Essential              *bool
	User                   string
	Privileged             *bool
	ReadonlyRootFilesystem *bool
	StopTimeout            int
	Environment            []struct{ Name, Value string }
	Secrets                []struct{ Name, ValueFrom string }
	HealthCheck            *struct {
		Command                                 []string
		Interval, Timeout, Retries, StartPeriod int
	}
	LogConfiguration struct {
		LogDriver string
		Options   map[string]string
	}
	PortMappings []struct{ ContainerPort int }
}

func containers(t *testing.T, td plan.Resource) []container {
	t.Helper()
	var cs []container
	if err := json.Unmarshal([]byte(td.Str("containerDefinitions")), &cs); err != nil {
		t.Fatalf("task definition %s: containerDefinitions: %v", td.Name, err)
	}
	return cs
}

// taskDefs returns the service's and the migration's task definitions.
func taskDefs(t *testing.T, r *plan.Result) (svc, migrate plan.Resource) {
	t.Helper()
	for _, td := range r.OfType("aws:ecs/taskDefinition:TaskDefinition") {
		if strings.HasSuffix(td.Name, "-migrate") {
			migrate = td
		} else {
			svc = td
		}
	}
	if svc.Name == "" || migrate.Name == "" {
		t.Fatalf("want a service and a migration task definition; have %v", names(r.OfType("aws:ecs/taskDefinition:TaskDefinition")))
	}
	return svc, migrate
}

// Variables whose name says they carry a credential, and values that look
// like one (credentials in a URL, a key, a token, a placeholder secret).
var (
	secretName  = regexp.MustCompile(`(?i)(PASSWORD|SECRET|TOKEN|CREDENTIAL|_KEY$|^AWS_)`)
	secretValue = regexp.MustCompile(`(?i)(://[^/@\s]*:[^/@\s]*@|://[^/\s]*@|password|AKIA[0-9A-Z]{16}|whsec_|-----BEGIN|` + plan.Placeholder + `)`)
)

func envNames(c container) []string {
	var out []string
	for _, e := range c.Environment {
		out = append(out, e.Name)
	}
	sort.Strings(out)
	return out
}

func envValue(c container, name string) string {
	for _, e := range c.Environment {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// The processor's task definitions: arm64 Fargate, sizes per stack, one
// container each with the health check, credentials only through
// `secrets` (each from the right secret and JSON key), nothing secret in
// `environment`, a read-only root filesystem, a non-root user, no
// privileged mode, awslogs to a group with retention, stopTimeout above
// SHUTDOWN_TIMEOUT, the image pinned by digest in the stack's repository.
func TestProcessorTaskDefinition(t *testing.T) {
	forEachStack(t, func(t *testing.T, v variant, r *plan.Result) {
		w := workloadTable[v.name]
		svc, migrate := taskDefs(t, r)
		name := "hookline-" + v.stack + "-"
		repos := r.OfType("aws:ecr/repository:Repository")
		if len(repos) != 1 {
			t.Fatalf("%d ECR repositories; want 1", len(repos))
		}
		wantImage := "123456789012.dkr.ecr.us-east-1.amazonaws.com/" + repos[0].Str("name") + "@" + plan.PlaceholderDigest
		logGroups := map[string]plan.Resource{}
		for _, g := range r.OfType("aws:cloudwatch/logGroup:LogGroup") {
			logGroups[g.Str("name")] = g
		}
		rdsSecret := secretArn + "rds!" + name + "database"
		userSecret := secretArn + name + "database-processor" // the processor's own database user
		sourcesSecret := secretArn + name + "sources"
		runSecrets := map[string]string{
			"RABBITMQ_USERNAME":      secretArn + name + "rabbitmq-processor:username::",
			"RABBITMQ_PASSWORD":      secretArn + name + "rabbitmq-processor:password::",
			"RABBITMQ_CA":            secretArn + name + "rabbitmq-ca-cert",
			"QUEUE_METRICS_USERNAME": secretArn + name + "rabbitmq-collector:username::",
			"QUEUE_METRICS_PASSWORD": secretArn + name + "rabbitmq-collector:password::",
			"MYSQL_USER":             userSecret + ":username::",
			"MYSQL_PASSWORD":         userSecret + ":password::",
			"REDIS_PASSWORD":         secretArn + name + "cache-auth:auth_token::",
		}
		// The migration connects as the master user and creates or updates
		// the processor's user from its secret.
		migrateSecrets := map[string]string{
			"MYSQL_USER":            rdsSecret + ":username::",
			"MYSQL_PASSWORD":        rdsSecret + ":password::",
			"PROCESSOR_DB_USER":     userSecret + ":username::",
			"PROCESSOR_DB_PASSWORD": userSecret + ":password::",
		}
		for _, tc := range []struct {
			td          plan.Resource
			container   string
			command     string
			wantSecrets map[string]string
			secrets     []string
			env         []string
			arns        map[string]string // plain variables that name a secret the code reads with the task role
			healthCheck bool
		}{
			{svc, "processor", "run", runSecrets,
				[]string{"MYSQL_PASSWORD", "MYSQL_USER", "QUEUE_METRICS_PASSWORD", "QUEUE_METRICS_USERNAME", "RABBITMQ_CA", "RABBITMQ_PASSWORD", "RABBITMQ_USERNAME", "REDIS_PASSWORD"},
				[]string{"CONCURRENCY", "HOOKLINE_STACK", "HTTP_ADDR", "MYSQL_CA", "MYSQL_DSN", "MYSQL_PASSWORD_SECRET_ARN", "PREFETCH", "QUEUE_METRICS_ENDPOINTS", "QUEUE_METRICS_MANAGEMENT", "QUEUE_METRICS_STACK", "RABBITMQ_URL", "REDIS_URL", "SHUTDOWN_TIMEOUT", "WEBHOOK_SOURCES_SECRET_ARN"},
				map[string]string{"MYSQL_PASSWORD_SECRET_ARN": userSecret, "WEBHOOK_SOURCES_SECRET_ARN": sourcesSecret}, true},
			{migrate, "migrate", "migrate", migrateSecrets,
				[]string{"MYSQL_PASSWORD", "MYSQL_USER", "PROCESSOR_DB_PASSWORD", "PROCESSOR_DB_USER"},
				[]string{"MYSQL_CA", "MYSQL_DSN", "SHUTDOWN_TIMEOUT"}, nil, false},
		} {
			td := tc.td
			t.Run(tc.container, func(t *testing.T) {
				if td.Str("networkMode") != "awsvpc" || strings.Join(td.Strs("requiresCompatibilities"), ",") != "FARGATE" ||
					td.Str("runtimePlatform", "cpuArchitecture") != "ARM64" || td.Str("runtimePlatform", "operatingSystemFamily") != "LINUX" {
					t.Errorf("task definition %s: %s %v %v; want awsvpc FARGATE on LINUX/ARM64", td.Name, td.Str("networkMode"), td.Strs("requiresCompatibilities"), td.Input("runtimePlatform"))
				}
				if td.Str("cpu") != itoa(w.cpu) || td.Str("memory") != itoa(w.memory) {
					t.Errorf("task size %s CPU / %s MiB; want %d / %d", td.Str("cpu"), td.Str("memory"), w.cpu, w.memory)
				}
				if !td.Bool("skipDestroy") {
					t.Errorf("old revisions are deregistered on update; the circuit breaker's rollback target must stay ACTIVE")
				}
				if td.Str("executionRoleArn") != roleArn+name+"processor-execution" || td.Str("taskRoleArn") != roleArn+name+"processor-task" {
					t.Errorf("roles %s / %s; want the processor's execution and task roles", td.Str("executionRoleArn"), td.Str("taskRoleArn"))
				}
				cs := containers(t, td)
				if len(cs) != 1 {
					t.Fatalf("%d containers; want 1", len(cs))
				}
				c := cs[0]
				if c.Name != tc.container || strings.Join(c.Command, " ") != tc.command || c.Essential == nil || !*c.Essential {
					t.Errorf("container %q command %v essential %v; want %q running %q, essential", c.Name, c.Command, c.Essential, tc.container, tc.command)
				}
				if c.Image != wantImage {
					t.Errorf("image %q; want the stack's repository pinned by digest, %q", c.Image, wantImage)
				}
				// Non-root, read-only, unprivileged.
				if c.User == "" || strings.HasPrefix(c.User, "0") || strings.HasPrefix(c.User, "root") {
					t.Errorf("user %q; want a non-root uid:gid", c.User)
				}
				if c.ReadonlyRootFilesystem == nil || !*c.ReadonlyRootFilesystem {
					t.Errorf("root filesystem writable")
				}
				if c.Privileged == nil || *c.Privileged {
					t.Errorf("privileged %v; want false, explicitly", c.Privileged)
				}
				// Shutdown: ECS waits stopTimeout after SIGTERM; the processor
				// gives up draining ShutdownGraceSeconds earlier.
				if c.StopTimeout != w.stopTimeout || c.StopTimeout > 120 {
					t.Errorf("stopTimeout %d; want %d (at most Fargate's 120)", c.StopTimeout, w.stopTimeout)
				}
				if got, want := envValue(c, "SHUTDOWN_TIMEOUT"), itoa(c.StopTimeout-config.ShutdownGraceSeconds)+"s"; got != want {
					t.Errorf("SHUTDOWN_TIMEOUT %q; want %q (stopTimeout %d s less %d s)", got, want, c.StopTimeout, config.ShutdownGraceSeconds)
				}
				// Secrets only through `secrets`, from the processor's own secrets.
				var gotSecrets []string
				for _, s := range c.Secrets {
					gotSecrets = append(gotSecrets, s.Name)
					if s.ValueFrom != tc.wantSecrets[s.Name] {
						t.Errorf("secret %s from %q; want %q", s.Name, s.ValueFrom, tc.wantSecrets[s.Name])
					}
				}
				sort.Strings(gotSecrets)
				if strings.Join(gotSecrets, " ") != strings.Join(tc.secrets, " ") {
					t.Errorf("secrets %v; want %v", gotSecrets, tc.secrets)
				}
				if got := envNames(c); strings.Join(got, " ") != strings.Join(tc.env, " ") {
					t.Errorf("environment %v; want %v", got, tc.env)
				}
				for _, e := range c.Environment {
					if want, ok := tc.arns[e.Name]; ok {
						if e.Value != want {
							t.Errorf("%s=%q; want the secret %q", e.Name, e.Value, want)
						}
						continue
					}
					if secretName.MatchString(e.Name) || secretValue.MatchString(e.Value) || strings.Contains(e.Value, "arn:aws:secretsmanager") {
						t.Errorf("environment %s=%q looks like a secret; credentials come through `secrets`", e.Name, e.Value)
					}
				}
				// The service never sees the RDS master secret (rotated every
				// 7 days, and a user that may alter the schema): not injected,
				// not named.
				if tc.container == "processor" && strings.Contains(td.Str("containerDefinitions"), "rds!") {
					t.Errorf("the run task refers to the RDS master secret: %s", td.Str("containerDefinitions"))
				}
				for k, prefix := range map[string]string{"RABBITMQ_URL": "amqps://", "REDIS_URL": "rediss://", "MYSQL_DSN": "tcp("} {
					if val := envValue(c, k); val != "" && (!strings.HasPrefix(val, prefix) || strings.Contains(val, "@")) {
						t.Errorf("%s=%q; want %s… without credentials", k, val, prefix)
					}
				}
				if dsn := envValue(c, "MYSQL_DSN"); !strings.Contains(dsn, "tls=") {
					t.Errorf("MYSQL_DSN %q does not ask for TLS (the parameter group requires it)", dsn)
				}
				// RDS certificates chain to the RDS CA, not to public roots:
				// the processor must verify against the bundle the image carries.
				if ca := envValue(c, "MYSQL_CA"); ca != "/var/run/ko/rds-ca-bundle.pem" {
					t.Errorf("MYSQL_CA=%q; want the RDS bundle ko ships at /var/run/ko/rds-ca-bundle.pem", ca)
				}
				// Health check: the processor's own subcommand, in ko's path.
				if tc.healthCheck {
					hc := c.HealthCheck
					if hc == nil || strings.Join(hc.Command, " ") != "CMD /ko-app/processor healthcheck" || hc.Interval < 5 || hc.Timeout < 2 || hc.Retries < 1 || hc.StartPeriod < 30 {
						t.Errorf("health check %+v; want CMD /ko-app/processor healthcheck with interval, timeout, retries and a start period", hc)
					}
					if len(c.PortMappings) != 1 || c.PortMappings[0].ContainerPort != 9090 || envValue(c, "HTTP_ADDR") != ":9090" {
						t.Errorf("port mappings %+v, HTTP_ADDR %q; want 9090", c.PortMappings, envValue(c, "HTTP_ADDR"))
					}
					// Its EMF metric lines carry the stack; awslogs ships them.
					if got := envValue(c, "HOOKLINE_STACK"); got != "hookline-"+v.stack {
						t.Errorf("HOOKLINE_STACK=%q; want hookline-%s", got, v.stack)
					}
				} else if c.HealthCheck != nil {
					t.Errorf("the one-off migration has a health check")
				}
				// Logs: awslogs to the processor's group, which keeps them per stack.
				lc := c.LogConfiguration
				g, ok := logGroups[lc.Options["awslogs-group"]]
				if lc.LogDriver != "awslogs" || !ok || lc.Options["awslogs-region"] != "us-east-1" || lc.Options["awslogs-stream-prefix"] == "" {
					t.Errorf("log configuration %+v; want awslogs to a declared group in us-east-1 with a stream prefix", lc)
				} else if g.Int("retentionInDays") != w.retention {
					t.Errorf("log group %s keeps %d days; want %d", g.Str("name"), g.Int("retentionInDays"), w.retention)
				}
			})
		}
	})
}

// The service runs in the compute subnets with the processor's group and no
// public IP, rolls back a failing deploy, never drops below its running
// count during one (prod keeps 2), and leaves desiredCount to autoscaling.
func TestProcessorService(t *testing.T) {
	forEachStack(t, func(t *testing.T, v variant, r *plan.Result) {
		w := workloadTable[v.name]
		services := r.OfType("aws:ecs/service:Service")
		if len(services) != 1 {
			t.Fatalf("%d ECS services; want 1", len(services))
		}
		s := services[0]
		svcTD, _ := taskDefs(t, r)
		if s.Str("taskDefinition") != "arn:aws:ecs:us-east-1:"+account+":"+svcTD.Name {
			t.Errorf("service runs %s; want %s", s.Str("taskDefinition"), svcTD.Name)
		}
		compute := tierIDs(r, "compute")
		subnets := s.Strs("networkConfiguration", "subnets")
		if len(subnets) != len(compute) {
			t.Errorf("service in %d subnets; want the %d compute subnets", len(subnets), len(compute))
		}
		for _, id := range subnets {
			if !compute[id] {
				t.Errorf("service subnet %s is not in the compute tier", id)
			}
		}
		if s.Bool("networkConfiguration", "assignPublicIp") || !s.Has("networkConfiguration", "assignPublicIp") {
			t.Errorf("assignPublicIp %v; want false, explicitly", s.Input("networkConfiguration", "assignPublicIp"))
		}
		if sgs := s.Strs("networkConfiguration", "securityGroups"); len(sgs) != 1 || sgs[0] != "securitygroup-hookline-"+v.stack+"-processor" {
			t.Errorf("security groups %v; want only the processor group", sgs)
		}
		if !s.Bool("deploymentCircuitBreaker", "enable") || !s.Bool("deploymentCircuitBreaker", "rollback") {
			t.Errorf("circuit breaker %v; want enabled with rollback", s.Input("deploymentCircuitBreaker"))
		}
		if s.Int("desiredCount") != w.minTasks {
			t.Errorf("desiredCount %d at creation; want the stack's minimum %d", s.Int("desiredCount"), w.minTasks)
		}
		ignored := strings.Join(s.IgnoreChanges, ",")
		if !strings.Contains(ignored, "desiredCount") {
			t.Errorf("ignoreChanges %v; autoscaling owns desiredCount", s.IgnoreChanges)
		}
		minHealthy := int(math.Ceil(float64(w.minTasks*s.Int("deploymentMinimumHealthyPercent")) / 100))
		if minHealthy < w.minTasks {
			t.Errorf("deploymentMinimumHealthyPercent %d lets %d tasks drop to %d during a deploy", s.Int("deploymentMinimumHealthyPercent"), w.minTasks, minHealthy)
		}
		if s.Int("deploymentMaximumPercent") <= 100 {
			t.Errorf("deploymentMaximumPercent %d leaves no room to start new tasks first", s.Int("deploymentMaximumPercent"))
		}
		if s.Str("launchType") != "FARGATE" || s.Bool("enableExecuteCommand") || !s.Bool("waitForSteadyState") {
			t.Errorf("launchType %s, execute command %v, wait for steady state %v; want FARGATE, false, true",
				s.Str("launchType"), s.Input("enableExecuteCommand"), s.Input("waitForSteadyState"))
		}
		clusters := r.OfType("aws:ecs/cluster:Cluster")
		if len(clusters) != 1 || s.Str("cluster") != "arn:aws:ecs:us-east-1:"+account+":"+clusters[0].Name {
			t.Fatalf("service cluster %s; want the one cluster", s.Str("cluster"))
		}
		insights := false
		for _, st := range clusters[0].Input("settings").([]any) {
			m := st.(map[string]any)
			if m["name"] == "containerInsights" && (m["value"] == "enabled" || m["value"] == "enhanced") {
				insights = true
			}
		}
		if !insights {
			t.Errorf("cluster without Container Insights")
		}
	})
}

// The receiver: provided.al2023 on arm64 from `make build`'s zip, in the
// compute tier with its own group, sizes per stack, its log group, and an
// environment of endpoints and secret ARNs only.
func TestReceiverFunction(t *testing.T) {
	root, err := config.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	forEachStack(t, func(t *testing.T, v variant, r *plan.Result) {
		w := workloadTable[v.name]
		fns := receiverFns(r)
		if len(fns) != 1 {
			t.Fatalf("%d Lambda functions; want 1", len(fns))
		}
		f := fns[0]
		if f.Str("runtime") != "provided.al2023" || strings.Join(f.Strs("architectures"), ",") != "arm64" || f.Str("handler") != "bootstrap" {
			t.Errorf("runtime %s, architectures %v, handler %s; want provided.al2023, arm64, bootstrap", f.Str("runtime"), f.Strs("architectures"), f.Str("handler"))
		}
		code := f.Inputs["code"]
		if !code.IsArchive() || code.ArchiveValue().Path != filepath.Join(root, "build", "lambda", "bootstrap.zip") {
			t.Errorf("code %v; want the archive %s (from the project root)", code, filepath.Join(root, "build/lambda/bootstrap.zip"))
		}
		if f.Int("memorySize") != w.lambdaMemory || f.Int("reservedConcurrentExecutions") != w.reserved || f.Int("timeout") < 1 || f.Int("timeout") >= 30 {
			t.Errorf("memory %d, reserved concurrency %d, timeout %d; want %d, %d, under 30 s",
				f.Int("memorySize"), f.Int("reservedConcurrentExecutions"), f.Int("timeout"), w.lambdaMemory, w.reserved)
		}
		compute := tierIDs(r, "compute")
		subnets := f.Strs("vpcConfig", "subnetIds")
		if len(subnets) != len(compute) {
			t.Errorf("function in %d subnets; want the %d compute subnets", len(subnets), len(compute))
		}
		for _, id := range subnets {
			if !compute[id] {
				t.Errorf("function subnet %s is not in the compute tier", id)
			}
		}
		if sgs := f.Strs("vpcConfig", "securityGroupIds"); len(sgs) != 1 || sgs[0] != "securitygroup-hookline-"+v.stack+"-receiver" {
			t.Errorf("security groups %v; want only the receiver group", sgs)
		}
		if f.Str("role") != roleArn+"hookline-"+v.stack+"-receiver" {
			t.Errorf("role %s; want the receiver's own", f.Str("role"))
		}
		env, _ := f.Input("environment", "variables").(map[string]any)
		want := map[string]string{
			"RABBITMQ_SECRET_ARN":        secretArn + "hookline-" + v.stack + "-rabbitmq-receiver",
			"WEBHOOK_SOURCES_SECRET_ARN": secretArn + "hookline-" + v.stack + "-sources",
			"RABBITMQ_CA_SECRET_ARN":     secretArn + "hookline-" + v.stack + "-rabbitmq-ca-cert",
			// the document's version: a new document replaces warm instances
			"WEBHOOK_SOURCES_VERSION": "hookline-" + v.stack + "-sources-version-1",
			// the Stack dimension of its EMF lines
			"HOOKLINE_STACK": "hookline-" + v.stack,
		}
		if len(env) != 6 {
			t.Errorf("environment %v; want RABBITMQ_URL, RABBITMQ_SECRET_ARN, RABBITMQ_CA_SECRET_ARN, WEBHOOK_SOURCES_SECRET_ARN, WEBHOOK_SOURCES_VERSION, HOOKLINE_STACK", env)
		}
		for k, val := range want {
			if env[k] != val {
				t.Errorf("%s=%v; want %s", k, env[k], val)
			}
		}
		if u, _ := env["RABBITMQ_URL"].(string); !strings.HasPrefix(u, "amqps://") || !strings.HasSuffix(u, ":5671/hookline") || strings.Contains(u, "@") {
			t.Errorf("RABBITMQ_URL %q; want amqps://host:5671/hookline without credentials", u)
		}
		for k, val := range env {
			s, _ := val.(string)
			if secretValue.MatchString(s) || (secretName.MatchString(k) && !strings.HasSuffix(k, "_SECRET_ARN")) {
				t.Errorf("environment %s=%q looks like a secret value; the function reads secrets by ARN", k, s)
			}
		}
		group := ""
		for _, g := range r.OfType("aws:cloudwatch/logGroup:LogGroup") {
			if g.Str("name") == f.Str("loggingConfig", "logGroup") {
				group = g.Str("name")
				if g.Int("retentionInDays") != w.retention {
					t.Errorf("receiver log group keeps %d days; want %d", g.Int("retentionInDays"), w.retention)
				}
			}
		}
		if group == "" {
			t.Errorf("function logs to %q, not a declared log group with retention", f.Str("loggingConfig", "logGroup"))
		}
	})
}

// ECR: immutable tags, scan on push, and a lifecycle policy that expires
// untagged manifests and keeps enough tagged images to roll back.
func TestImageRepository(t *testing.T) {
	forEachStack(t, func(t *testing.T, v variant, r *plan.Result) {
		repos := r.OfType("aws:ecr/repository:Repository")
		if len(repos) != 1 {
			t.Fatalf("%d repositories; want 1", len(repos))
		}
		repo := repos[0]
		if repo.Str("imageTagMutability") != "IMMUTABLE" || !repo.Bool("imageScanningConfiguration", "scanOnPush") || repo.Bool("forceDelete") {
			t.Errorf("repository: mutability %s, scan on push %v, force delete %v; want IMMUTABLE, true, false",
				repo.Str("imageTagMutability"), repo.Input("imageScanningConfiguration"), repo.Input("forceDelete"))
		}
		if repo.Str("name") != "hookline-"+v.stack+"/processor" {
			t.Errorf("repository name %q", repo.Str("name"))
		}
		policies := r.OfType("aws:ecr/lifecyclePolicy:LifecyclePolicy")
		if len(policies) != 1 || policies[0].Str("repository") != repo.Str("name") {
			t.Fatalf("want one lifecycle policy on the repository")
		}
		var doc struct {
			Rules []struct {
				RulePriority int
				Selection    struct {
					TagStatus, CountType string
					CountNumber          int
				}
				Action struct{ Type string }
			}
		}
		if err := json.Unmarshal([]byte(policies[0].Str("policy")), &doc); err != nil {
			t.Fatal(err)
		}
		untagged, keep, maxPriority, anyPriority := false, 0, 0, 0
		for _, rule := range doc.Rules {
			if rule.RulePriority > maxPriority {
				maxPriority = rule.RulePriority
			}
			switch {
			case rule.Selection.TagStatus == "untagged" && rule.Action.Type == "expire":
				untagged = true
			case rule.Selection.TagStatus == "any" && rule.Selection.CountType == "imageCountMoreThan":
				keep, anyPriority = rule.Selection.CountNumber, rule.RulePriority
			}
		}
		if !untagged || keep < 20 || anyPriority != maxPriority {
			t.Errorf("lifecycle rules %+v; want untagged expiry and a last-evaluated 'any' rule keeping at least 20 images", doc.Rules)
		}
	})
}

// Without a recorded image the program declares the repository and the
// cluster but no service (the first deploy creates the repository before
// any image exists); with only a migration digest, only the migration task.
func TestWorkloadsBeforeTheFirstImage(t *testing.T) {
	root, err := config.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	digest := "sha256:" + strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name               string
		opt                plan.Options
		services, taskDefs int
	}{
		{"no image yet", plan.Options{Stack: "dev", Omit: []string{"hookline:processorImageDigest"}}, 0, 0},
		{"migration first", plan.Options{Stack: "prod", Omit: []string{"hookline:processorImageDigest"}, Override: map[string]string{"hookline:migrationImageDigest": digest}}, 0, 1},
		{"both", plan.Options{Stack: "dev", Override: map[string]string{"hookline:processorImageDigest": digest}}, 1, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opt.Root = root
			r, err := plan.Run(stackProgram, tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			if n := len(r.OfType("aws:ecs/service:Service")); n != tc.services {
				t.Errorf("%d services; want %d", n, tc.services)
			}
			tds := r.OfType("aws:ecs/taskDefinition:TaskDefinition")
			if len(tds) != tc.taskDefs {
				t.Errorf("%d task definitions; want %d", len(tds), tc.taskDefs)
			}
			for _, td := range tds {
				for _, c := range containers(t, td) {
					if !strings.HasSuffix(c.Image, "@"+digest) {
						t.Errorf("%s runs %s; want the recorded digest", td.Name, c.Image)
					}
				}
			}
			if len(r.OfType("aws:ecr/repository:Repository")) != 1 || len(r.OfType("aws:ecs/cluster:Cluster")) != 1 || len(receiverFns(r)) != 1 {
				t.Errorf("the repository, cluster and receiver must exist before any image")
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// The dashboard shows the receiver, the processor service, every broker
// node and the database of its own stack.
func TestDashboard(t *testing.T) {
	forEachStack(t, func(t *testing.T, v variant, r *plan.Result) {
		ds := r.OfType("aws:cloudwatch/dashboard:Dashboard")
		if len(ds) != 1 {
			t.Fatalf("%d dashboards; want 1", len(ds))
		}
		var body struct {
			Widgets []struct {
				Type       string
				Properties struct {
					Metrics [][]any
					Query   string
				}
			}
		}
		if err := json.Unmarshal([]byte(ds[0].Str("dashboardBody")), &body); err != nil {
			t.Fatal(err)
		}
		dims := map[string]bool{}
		queries := ""
		for _, w := range body.Widgets {
			queries += w.Properties.Query
			for _, m := range w.Properties.Metrics {
				for i := 2; i+1 < len(m); i += 2 {
					k, _ := m[i].(string)
					val, _ := m[i+1].(string)
					dims[k+"="+val] = true
				}
			}
		}
		n := "hookline-" + v.stack
		want := []string{"FunctionName=" + n + "-receiver", "ClusterName=" + n + "-processor", "ServiceName=" + n + "-processor", "DBInstanceIdentifier=" + n + "-database"}
		for _, i := range r.OfType("aws:ec2/instance:Instance") {
			want = append(want, "InstanceId="+i.ID())
		}
		for _, d := range want {
			if !dims[d] {
				t.Errorf("dashboard shows no metric of %s", d)
			}
		}
		for _, g := range []string{"/hookline/" + n + "/processor", "/hookline/" + n + "/receiver"} {
			if !strings.Contains(queries, g) {
				t.Errorf("dashboard log query does not read %s", g)
			}
		}
	})
}
