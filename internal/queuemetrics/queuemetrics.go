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

// Units are the CloudWatch units of the metrics.
var Units = map[string]string{
	InboundDepth: "Count",
	IngestRate:   "Count/Second",
	ConsumeRate:  "Count/Second",
	DeadDepth:    "Count",
}
