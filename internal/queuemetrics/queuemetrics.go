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
// node read the same way: 0 is healthy, anything above 0 pages. Where the
// collector reads them (both RabbitMQ 3.10, as in the local services, and
// 4.x, as on the nodes):
//
//   - resource alarms: rabbitmq_alarms_memory_used_watermark and
//     rabbitmq_alarms_free_disk_space_watermark (0 or 1) on every node's
//     aggregated /metrics (3.10 and 4.x alike), summed over the nodes;
//   - quorum membership and leaders: rabbitmq_prometheus has no gauge for
//     either on any version; the management API does on both,
//     GET /api/queues/<vhost>?columns=name,type,leader,members,online
//     (the collector user's monitoring tag may read it);
//   - partitions: GET /api/nodes, each node's partitions list (3.10 and
//     4.x); 4.x also exposes rabbitmq_partitioned_from{peer}.
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
	// Partitions is, summed over the nodes, the peers each node reports
	// itself partitioned from (0 on a single node, 0 on a healthy cluster).
	Partitions = "Partitions"
)

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
