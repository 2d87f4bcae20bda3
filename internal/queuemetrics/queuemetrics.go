// Package queuemetrics is the contract between the queue metrics collector
// (processor/collector), which publishes the broker's numbers to CloudWatch
// every minute, and the alarms that read them (infra/scaling): the
// namespace, the one dimension and the metric names and units. It imports
// nothing, so both sides compile it cheaply.
package queuemetrics

import "time"

// Namespace is the CloudWatch custom namespace of the queue metrics.
const Namespace = "Hookline/Queues"

// StackDimension is the one dimension every datum carries: the stack's
// name (project-stack, e.g. hookline-prod), so that several stacks in one
// account publish side by side.
const StackDimension = "Stack"

// Interval is how often the collector publishes: one datum per metric per
// minute, the alarms' period.
const Interval = time.Minute

// The metrics, each one datum per Interval.
const (
	// InboundDepth is ready + unacknowledged messages of webhooks.inbound.
	InboundDepth = "InboundDepth"
	// IngestRate is messages published into webhooks.inbound per second,
	// averaged over the interval since the previous sample.
	IngestRate = "IngestRate"
	// ConsumeRate is messages acknowledged on webhooks.inbound per second,
	// averaged the same way.
	ConsumeRate = "ConsumeRate"
	// DeadDepth is ready + unacknowledged messages of webhooks.dead.
	DeadDepth = "DeadDepth"
)

// The broker's health, one datum per Interval each, for the paging alarms
// (infra/alarms). Each is a count, so that a cluster of three and a single
// node read the same way: 0 is healthy, anything above 0 pages. A count the
// collector could not read whole in a minute is not published at all (never
// as 0), and the alarms treat a missing datum as breaching. Where the
// collector reads them (processor/collector/health.go; RabbitMQ 3.10, as in
// the local services, and 4.x, as on the nodes):
//
//   - resource alarms: rabbitmq_alarms_memory_used_watermark and
//     rabbitmq_alarms_free_disk_space_watermark (0 or 1) on every node's
//     aggregated /metrics (3.10 and 4.x alike), summed over the nodes;
//   - quorum membership and leaders: the management API,
//     GET /api/queues/<vhost>?columns=name,type,state,leader,members,online
//     (the collector user's monitoring tag may read it); rabbitmq_prometheus
//     has per-node membership only from 4.2 (rabbitmq_detailed_queue_info,
//     leader or follower, not whether a member is online);
//   - partitions: every node's GET /api/nodes (running, partitions) and
//     GET /api/overview (its own name). 4.3 (Khepri only) always reports an
//     empty partitions list, so a node that another answering node sees as
//     not running counts as well.
const (
	// BrokerMemoryAlarm is how many nodes have the memory alarm raised:
	// publishers are blocked, so every webhook is answered 503.
	BrokerMemoryAlarm = "BrokerMemoryAlarm"
	// BrokerDiskAlarm is how many nodes have the free disk space alarm
	// raised: publishers are blocked, as with memory.
	BrokerDiskAlarm = "BrokerDiskAlarm"
	// QuorumMembersMissing is, summed over the vhost's quorum queues, the
	// members a queue lists that are not online (members − online): a
	// queue below its full membership tolerates one failure less.
	QuorumMembersMissing = "QuorumMembersMissing"
	// QueuesWithoutLeader is how many of the vhost's quorum queues have no
	// online leader: they accept neither publishes nor consumers.
	QueuesWithoutLeader = "QueuesWithoutLeader"
	// Partitions is how many pairs of nodes, both answering the collector,
	// do not see each other (one reports the other as not running or lists
	// it among its partitions): 0 on a single node and on a healthy
	// cluster, 2 when one node of three is cut off from the other two.
	Partitions = "Partitions"
)

// Why a health count could not be read in a minute (the Reason of the
// processor's BrokerHealthErrors): a node's /metrics (the two alarm
// counts), the management API's queue list (members and leaders), or a
// node's /api/nodes or /api/overview (partitions).
const (
	HealthAlarms = "alarms"
	HealthQueues = "queues"
	HealthNodes  = "nodes"
)

// HealthReasons lists them.
var HealthReasons = []string{HealthAlarms, HealthQueues, HealthNodes}

// Units are the CloudWatch units of the metrics.
var Units = map[string]string{
	InboundDepth: "Count",
	IngestRate:   "Count/Second",
	ConsumeRate:  "Count/Second",
	DeadDepth:    "Count",

	BrokerMemoryAlarm:    "Count",
	BrokerDiskAlarm:      "Count",
	QuorumMembersMissing: "Count",
	QueuesWithoutLeader:  "Count",
	Partitions:           "Count",
}
