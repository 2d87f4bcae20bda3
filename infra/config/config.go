// Package config is hookline's one typed view of a stack's Pulumi
// configuration: defaults per profile (defaults.go), the keys a stack file
// may set, and validation that runs before any resource is declared.
package config

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Namespace is the Pulumi config namespace (the project name).
const Namespace = "hookline"

// Config is everything the program decides from configuration.
type Config struct {
	Project string // Pulumi project name
	Stack   string // Pulumi stack name
	Profile string // "dev" or "prod": picks the defaults of the stack table
	Region  string // aws:region
	Owner   string // owner tag on every resource

	Network  Network
	Database Database
	Cache    Cache
	Broker   Broker
	Secrets  Secrets

	Processor Processor // the ECS Fargate service
	Receiver  Receiver  // the webhook Lambda
	Images    Images    // image digests the deploy script records

	Edge   *Edge   // Cloudflare + API Gateway (infra/edge); nil: no public endpoint
	Routes []Route // the sources document's sources, when the edge is set
	Alarms Alarms  // where the stack's alarms go and what they page on (hookline:alarms)
}

// Processor is the queue consumer's ECS Fargate service.
type Processor struct {
	CPU                int `json:"cpu"`       // Fargate CPU units: 256, 512, 1024, 2048, 4096
	MemoryMiB          int `json:"memoryMiB"` // a Fargate size valid for CPU
	MinTasks           int `json:"minTasks"`  // desired count at creation; autoscaling's floor
	MaxTasks           int `json:"maxTasks"`  // autoscaling's ceiling
	Prefetch           int `json:"prefetch"`
	Concurrency        int `json:"concurrency"`
	StopTimeoutSeconds int `json:"stopTimeoutSeconds"` // ECS stopTimeout; SHUTDOWN_TIMEOUT is ShutdownGraceSeconds less
	LogRetentionDays   int `json:"logRetentionDays"`

	// Autoscaling (infra/scaling): tasks added per invocation of each
	// scale-out rule, and the policies' cooldowns.
	BacklogStep             int `json:"backlogStep"`             // rule 1: depth rising and ingestion above consumption
	CPU80Step               int `json:"cpu80Step"`               // rule 2: CPU >= 80 % for more than 15 minutes
	CPU90Step               int `json:"cpu90Step"`               // rule 3: CPU >= 90 % for more than 5 minutes
	ScaleOutCooldownSeconds int `json:"scaleOutCooldownSeconds"` // after a scale-out
	ScaleInCooldownSeconds  int `json:"scaleInCooldownSeconds"`  // after rule 4's return to the minimum
}

// ShutdownGraceSeconds is how much earlier than ECS's SIGKILL (stopTimeout)
// the processor's own SHUTDOWN_TIMEOUT ends: time to flush logs and exit.
const ShutdownGraceSeconds = 5

// ShutdownTimeout is the processor's SHUTDOWN_TIMEOUT in seconds.
func (p Processor) ShutdownTimeout() int { return p.StopTimeoutSeconds - ShutdownGraceSeconds }

// Receiver is the webhook Lambda.
type Receiver struct {
	MemoryMiB           int `json:"memoryMiB"`
	ReservedConcurrency int `json:"reservedConcurrency"` // -1: no reservation (accounts at the default quota of 10)
	TimeoutSeconds      int `json:"timeoutSeconds"`      // under API Gateway's 30 s
	LogRetentionDays    int `json:"logRetentionDays"`
}

// Images are the processor image digests (sha256:…) in the stack's ECR
// repository, written by `make deploy` with `pulumi config set`. Migration
// moves first; Processor follows once the migration task exited 0. Empty
// Migration: no migration task definition yet; empty Processor: no service
// yet (a stack's first deploy creates the repository before any image
// exists, then migrates, then starts the service).
type Images struct {
	Processor string // hookline:processorImageDigest
	Migration string // hookline:migrationImageDigest (defaults to Processor)
}

// Network is the VPC layout: tiers in every AZ, NAT gateways, endpoints, flow logs.
type Network struct {
	CIDR                 string   `json:"cidr"`
	AZs                  []string `json:"azs"`
	NatGateways          int      `json:"natGateways"`
	PublicPrefix         int      `json:"publicPrefix"`
	ComputePrefix        int      `json:"computePrefix"`
	DatabasePrefix       int      `json:"databasePrefix"`
	InterfaceEndpoints   []string `json:"interfaceEndpoints"`
	FlowLogRetentionDays int      `json:"flowLogRetentionDays"`
}

// Database is the RDS instance.
type Database struct {
	Engine              string `json:"engine"`        // mariadb | mysql
	EngineVersion       string `json:"engineVersion"` // major version, e.g. 10.11 or 8.0
	InstanceClass       string `json:"instanceClass"`
	AllocatedStorageGiB int    `json:"allocatedStorageGiB"`
	MaxStorageGiB       int    `json:"maxStorageGiB"`
	MultiAZ             bool   `json:"multiAz"`
	BackupRetentionDays int    `json:"backupRetentionDays"`
	DeletionProtection  bool   `json:"deletionProtection"`
	FinalSnapshot       bool   `json:"finalSnapshot"`
	PerformanceInsights bool   `json:"performanceInsights"`
	// FinalSnapshotName is the final snapshot's identifier when the
	// instance is deleted; a second destroy of a stack needs a new one (the
	// teardown procedure bumps it: docs/broker.md, "Destroy and recreate").
	FinalSnapshotName string `json:"finalSnapshotName"`
	MaintenanceWindow string `json:"maintenanceWindow"` // ddd:hh24:mi-ddd:hh24:mi, UTC
	BackupWindow      string `json:"backupWindow"`      // hh24:mi-hh24:mi, UTC, not overlapping the maintenance window
	// Identifier is the DB instance identifier (default <project>-<stack>-database).
	// It is explicit so that the log groups RDS exports to can be declared,
	// with retention, before the instance; changing it replaces the instance.
	Identifier string `json:"identifier"`
	// LogRetentionDays is the retention of the error and slow-query log
	// groups the instance exports to.
	LogRetentionDays int    `json:"logRetentionDays"`
	Name             string `json:"name"`
	MasterUsername   string `json:"masterUsername"`
	// ProcessorUsername is the processor's own user: `processor migrate`
	// creates it and grants it rows only; its password is the
	// databaseProcessorPassword secret.
	ProcessorUsername string `json:"processorUsername"`
}

// Cache is the ElastiCache Redis replication group.
type Cache struct {
	NodeType              string `json:"nodeType"`
	EngineVersion         string `json:"engineVersion"`
	Replicas              int    `json:"replicas"`
	SnapshotRetentionDays int    `json:"snapshotRetentionDays"`
}

// Broker is RabbitMQ on Graviton EC2.
type Broker struct {
	Nodes            int    `json:"nodes"` // 1, or 3 for a quorum cluster
	InstanceType     string `json:"instanceType"`
	AMIParameter     string `json:"amiParameter"` // public SSM parameter, resolved by EC2 at launch
	DataVolumeGiB    int    `json:"dataVolumeGiB"`
	Image            string `json:"image"` // the official image pinned by digest: docker.io/library/rabbitmq:<4.x.y>-management@sha256:…
	Vhost            string `json:"vhost"`
	DeliveryLimit    int    `json:"deliveryLimit"`
	LogRetentionDays int    `json:"logRetentionDays"` // the nodes' bootstrap and ready log lines
}

// Secrets are the values only an operator may set, with
// `pulumi config set --secret`. They are never logged; components pass them
// on as Pulumi secrets.
type Secrets struct {
	CacheAuthToken          string // hookline:cacheAuthToken
	BrokerAdminPassword     string // hookline:brokerAdminPassword
	BrokerReceiverPassword  string // hookline:brokerReceiverPassword
	BrokerProcessorPassword string // hookline:brokerProcessorPassword
	BrokerCollectorPassword string // hookline:brokerCollectorPassword (queue metrics)
	BrokerErlangCookie      string // hookline:brokerErlangCookie (broker.nodes > 1)
	WebhookSources          string // hookline:webhookSources: the sources document (YAML or JSON), origin secrets merged in
	// DatabaseProcessorPassword is the processor database user's password
	// (hookline:databaseProcessorPassword): `processor migrate` sets it, the
	// processor re-reads it from its secret after a refusal.
	DatabaseProcessorPassword string
	// OriginSecrets (hookline:originSecrets, newest first) are the
	// X-Origin-Verify values: merged into WebhookSources for the receiver,
	// and the first is the one Cloudflare adds.
	OriginSecrets []string
}

// Lookup returns the raw value of a full config key ("hookline:network"),
// as Pulumi hands it to the program: objects and lists as JSON text.
type Lookup func(key string) (string, bool)

// Parse builds the Config of one stack from raw values: the profile's
// defaults, overridden by the stack's keys, then validated. The error, if
// any, is one line naming the key and what it accepts.
func Parse(project, stack string, get Lookup) (Config, error) {
	profile, ok := get(Namespace + ":profile")
	if !ok {
		profile = stack
	}
	if profile != "dev" && profile != "prod" {
		return Config{}, fmt.Errorf("%s:profile: %q is not a profile; accepts dev or prod (defaults to the stack name when that is dev or prod)", Namespace, profile)
	}
	c := Defaults(profile)
	c.Project, c.Stack, c.Profile = project, stack, profile
	c.Region, _ = get("aws:region")
	c.Owner, _ = get(Namespace + ":owner")

	objects := []struct {
		key  string
		into any
	}{
		{"network", &c.Network},
		{"database", &c.Database},
		{"cache", &c.Cache},
		{"broker", &c.Broker},
		{"processor", &c.Processor},
		{"receiver", &c.Receiver},
		{"alarms", &c.Alarms.Thresholds},
	}
	for _, o := range objects {
		raw, ok := get(Namespace + ":" + o.key)
		if !ok {
			continue
		}
		dec := json.NewDecoder(strings.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(o.into); err != nil {
			return Config{}, fmt.Errorf("%s:%s: %s", Namespace, o.key, decodeMessage(err))
		}
	}

	c.Secrets.CacheAuthToken, _ = get(Namespace + ":cacheAuthToken")
	c.Secrets.BrokerAdminPassword, _ = get(Namespace + ":brokerAdminPassword")
	c.Secrets.BrokerReceiverPassword, _ = get(Namespace + ":brokerReceiverPassword")
	c.Secrets.BrokerProcessorPassword, _ = get(Namespace + ":brokerProcessorPassword")
	c.Secrets.BrokerCollectorPassword, _ = get(Namespace + ":brokerCollectorPassword")
	c.Alarms.PagerDutyEndpoint, _ = get(Namespace + ":pagerDutyEndpoint")
	c.Secrets.BrokerErlangCookie, _ = get(Namespace + ":brokerErlangCookie")
	c.Secrets.WebhookSources, _ = get(Namespace + ":webhookSources")
	c.Secrets.DatabaseProcessorPassword, _ = get(Namespace + ":databaseProcessorPassword")
	c.Images.Processor, _ = get(Namespace + ":processorImageDigest")
	c.Images.Migration, _ = get(Namespace + ":migrationImageDigest")
	if c.Images.Migration == "" {
		c.Images.Migration = c.Images.Processor
	}
	if err := c.parseEdge(get); err != nil {
		return Config{}, err
	}

	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// decodeMessage turns encoding/json errors into "what it accepts" wording.
func decodeMessage(err error) string {
	var te *json.UnmarshalTypeError
	switch {
	case asTypeError(err, &te):
		return fmt.Sprintf("field %q has a %s where a %s is expected", te.Field, te.Value, te.Type)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return strings.TrimPrefix(err.Error(), "json: ") + "; see infra/config/config.go for the keys it accepts"
	default:
		return "not a valid object: " + err.Error()
	}
}

func asTypeError(err error, te **json.UnmarshalTypeError) bool {
	t, ok := err.(*json.UnmarshalTypeError)
	if ok {
		*te = t
	}
	return ok
}

// Name is the base name every component derives its children's names from.
func (c Config) Name() string { return c.Project + "-" + c.Stack }

// Tags are the tags every AWS resource carries (through the provider's default tags).
func (c Config) Tags() map[string]string {
	return map[string]string{
		"project":    c.Project,
		"stack":      c.Stack,
		"owner":      c.Owner,
		"managed-by": "pulumi",
	}
}

// DatabaseIdentifier is the configured DB instance identifier, or
// <project>-<stack>-database (the name the metrics dimension and the
// dashboards have always used).
func (c Config) DatabaseIdentifier() string {
	if c.Database.Identifier != "" {
		return c.Database.Identifier
	}
	return c.Name() + "-database"
}

// FinalSnapshotNameOr is the configured final snapshot name, or def (the
// name every stack had before the key existed, so nothing changes).
func (d Database) FinalSnapshotNameOr(def string) string {
	if d.FinalSnapshotName != "" {
		return d.FinalSnapshotName
	}
	return def
}
