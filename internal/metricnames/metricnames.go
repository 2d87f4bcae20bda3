// Package metricnames is the one list of metric names the code emits and the
// infra (alarms, dashboards) reads, so the two cannot drift: the receiver's
// Embedded Metric Format lines and Prometheus counters, and the queue
// collector's CloudWatch metrics (declared in internal/queuemetrics and
// listed here, not repeated). It imports nothing heavy, so the infra
// compiles it cheaply.
package metricnames

import (
	"slices"
	"strings"

	"github.com/hookline/hookline/internal/queuemetrics"
)

// ReceiverNamespace is the CloudWatch namespace of the receiver's EMF lines.
const ReceiverNamespace = "Hookline/Receiver"

// Dimensions of the receiver's metrics. Stack is the stack's name
// (HOOKLINE_STACK in the function's environment, e.g. hookline-prod), Source
// the sources document's name ("unknown" for a path no source matches),
// Status the HTTP status of a rejection.
const (
	StackDimension  = queuemetrics.StackDimension
	SourceDimension = "Source"
	StatusDimension = "Status"
)

// The receiver's CloudWatch metrics, one EMF line per request.
const (
	// Accepted counts webhooks answered 202 (the broker confirmed them).
	Accepted = "Accepted"
	// Rejected counts webhooks refused by the sender's fault
	// (400/401/403/404/405/413/431), by Status.
	Rejected = "Rejected"
	// PublishFailures counts webhooks answered 503: the broker did not
	// confirm (blocked, unreachable, timed out).
	PublishFailures = "PublishFailures"
	// InternalErrors counts 500s: a defect in the receiver, not the sender.
	InternalErrors = "InternalErrors"
	// PublishConfirmLatency is the time from publish to the broker's
	// confirm (or failure), in milliseconds.
	PublishConfirmLatency = "PublishConfirmLatency"
	// BodySize is an accepted webhook's body, in bytes.
	BodySize = "BodySize"
	// Handshakes counts provider endpoint handshakes the receiver answered
	// itself (slack url_verification, meta and x GETs, ...): nothing published.
	Handshakes = "Handshakes"
	// VerifyUnavailable counts 503s because a verification dependency
	// (a JWKS, an SNS signing certificate) was unreachable.
	VerifyUnavailable = "VerifyUnavailable"
)

// ReceiverUnits are the CloudWatch units of the receiver's metrics.
var ReceiverUnits = map[string]string{
	Accepted:              "Count",
	Rejected:              "Count",
	PublishFailures:       "Count",
	InternalErrors:        "Count",
	PublishConfirmLatency: "Milliseconds",
	BodySize:              "Bytes",
	Handshakes:            "Count",
	VerifyUnavailable:     "Count",
}

// The receiver's Prometheus metrics (local HTTP mode, GET /metrics): the
// same counters in Prometheus naming.
const (
	PromAccepted              = "hookline_receiver_accepted_total"           // label source
	PromRejected              = "hookline_receiver_rejected_total"           // labels source, status
	PromPublishFailures       = "hookline_receiver_publish_failures_total"   // label source
	PromInternalErrors        = "hookline_receiver_internal_errors_total"    // label source
	PromPublishConfirmSeconds = "hookline_receiver_publish_confirm_seconds"  // histogram, label source
	PromBodyBytes             = "hookline_receiver_body_bytes"               // histogram, label source
	PromHandshakes            = "hookline_receiver_handshakes_total"         // label source
	PromVerifyUnavailable     = "hookline_receiver_verify_unavailable_total" // label source
)

// CloudWatch maps each CloudWatch namespace the code publishes to to the
// metric names in it and their units. A dashboard or alarm that names a
// custom metric not in here refers to something the code does not emit.
var CloudWatch = map[string]map[string]string{
	ReceiverNamespace:      ReceiverUnits,
	queuemetrics.Namespace: queuemetrics.Units,
	ProcessorNamespace:     ProcessorUnits,
	BrokerNamespace:        BrokerUnits,
	CanaryNamespace:        CanaryUnits,
}

// Prometheus lists the Prometheus metric names the receiver exposes (the
// processor's are ProcessorProm).
var Prometheus = []string{
	PromAccepted, PromRejected, PromPublishFailures, PromInternalErrors,
	PromPublishConfirmSeconds, PromBodyBytes, PromHandshakes, PromVerifyUnavailable,
}

// KnownProm reports whether name is a Prometheus metric the receiver or the
// processor exposes (a histogram's _bucket, _sum and _count series
// included).
func KnownProm(name string) bool {
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && histogram(base) {
			return true
		}
	}
	return slices.Contains(Prometheus, name) || slices.Contains(ProcessorProm, name)
}

// histogram reports whether name is one of the histograms.
func histogram(name string) bool {
	if name == PromPublishConfirmSeconds || name == PromBodyBytes {
		return true
	}
	for _, m := range Processor {
		if m.Prom == name && m.Kind == Histogram {
			return true
		}
	}
	return false
}

// Metrics counted from log lines by CloudWatch Logs metric filters
// (infra/alarms), in a namespace per stack: a metric filter on a text log
// cannot add a dimension, so the stack is in the namespace instead.
const (
	// LogNamespacePrefix starts every stack's log metric namespace.
	LogNamespacePrefix = "Hookline/Logs/"
	// ReceiverInitFailures counts the receiver's INIT_REPORT lines with
	// Status: error or timeout: an instance that failed to start.
	ReceiverInitFailures = "ReceiverInitFailures"
)

// LogUnits are the units of the log metrics.
var LogUnits = map[string]string{ReceiverInitFailures: "Count"}

// LogNamespace is the log metrics' namespace of a stack (project-stack).
func LogNamespace(stack string) string { return LogNamespacePrefix + stack }

// Known reports whether name is a metric the code (or a metric filter)
// publishes in namespace.
func Known(namespace, name string) bool {
	if strings.HasPrefix(namespace, LogNamespacePrefix) && len(namespace) > len(LogNamespacePrefix) {
		_, ok := LogUnits[name]
		return ok
	}
	_, ok := CloudWatch[namespace][name]
	return ok
}
