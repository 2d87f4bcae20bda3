package metricnames

import "github.com/hookline/hookline/internal/queuemetrics"

// ProcessorNamespace is the CloudWatch namespace of the processor's EMF
// lines: every ECS task writes one set of lines per minute on stdout, which
// the awslogs driver ships to CloudWatch Logs, which extracts the metrics
// (docs/observability.md).
const ProcessorNamespace = "Hookline/Processor"

// Dimensions of the processor's metrics besides Stack: a labelled
// counter's label, as its own dimension on a line of its own.
const (
	ReasonDimension = "Reason" // retried, dead-lettered, unconfirmed copies, broker health errors
	ResultDimension = "Result" // callbacks
)

// Kind is a Prometheus metric type, as the EMF writer reads it.
type Kind int

// The kinds a processor metric can be.
const (
	Counter Kind = iota
	Gauge
	Histogram
)

// ProcessorMetric is one of the processor's metrics under both names: the
// Prometheus series on /metrics and the CloudWatch metric its EMF lines
// carry (a counter's increase over the line's interval, a gauge's value at
// the end of it, a histogram's observations in it).
type ProcessorMetric struct {
	Prom       string // hookline_processor_…
	CloudWatch string
	Unit       string // CloudWatch unit
	Kind       Kind
	// Label is the Prometheus label that also becomes a CloudWatch
	// dimension (Dimension), or empty.
	Label, Dimension string
	// Values are the label's values, each a series from the start (zero
	// until counted) and the only values an alarm may name.
	Values []string
}

// The processor's CloudWatch metric names.
const (
	ProcConsumed           = "Consumed"
	ProcAcked              = "Acked"
	ProcRetried            = "Retried"
	ProcDeadLettered       = "DeadLettered"
	ProcDuplicates         = "Duplicates"
	ProcStaleWrites        = "StaleEntityWrites"
	ProcLocksLost          = "LocksLost"
	ProcLockContention     = "LockContention"
	ProcRequeued           = "Requeued"
	ProcUnconfirmedCopies  = "UnconfirmedCopies"
	ProcCallbacks          = "Callbacks"
	ProcCallbacksPending   = "CallbacksPending"
	ProcCallbacksInFlight  = "CallbacksInFlight"
	ProcPanics             = "Panics"
	ProcConsumerRestarts   = "ConsumerRestarts"
	ProcInFlight           = "InFlight"
	ProcBodyBytes          = "BodyBytes"
	ProcBodyBytesPeak      = "BodyBytesPeak"
	ProcPrefetch           = "Prefetch"
	ProcBatchSize          = "BatchSize"
	ProcBatchDuration      = "BatchDuration"
	ProcLockWait           = "LockWait"
	ProcEndToEnd           = "EndToEnd"
	ProcBrokerHealthErrors = "BrokerHealthErrors"
	// The canary's deliveries (source internal/canary.Source) as the
	// processor stores them: how many, and the time from the canary's
	// signed timestamp to commit.
	ProcCanaryArrivals = "CanaryArrivals"
	ProcCanaryEndToEnd = "CanaryEndToEnd"
)

// The Result values of Callbacks: a callback's final outcome.
const (
	CallbackOK      = "ok"      // the sender's endpoint answered 2xx
	CallbackGone    = "gone"    // 410 Gone: the endpoint asked to stop
	CallbackFailed  = "failed"  // every try failed (Attempts, with backoff): the callback is given up
	CallbackRefused = "refused" // the destination is not a public address (no callback_allow_private)
	CallbackDropped = "dropped" // the source no longer has a callback_url
)

// Processor lists every processor metric, the one table /metrics, the EMF
// writer, the alarms and the dashboards read.
var Processor = []ProcessorMetric{
	{"hookline_processor_consumed_total", ProcConsumed, "Count", Counter, "", "", nil},
	{"hookline_processor_acked_total", ProcAcked, "Count", Counter, "", "", nil},
	{"hookline_processor_retried_total", ProcRetried, "Count", Counter, "reason", ReasonDimension, []string{"handler", "outage", "lock", "unknown_source"}},
	{"hookline_processor_dead_lettered_total", ProcDeadLettered, "Count", Counter, "reason", ReasonDimension, []string{"invalid", "unknown_source", "attempts"}},
	{"hookline_processor_duplicates_total", ProcDuplicates, "Count", Counter, "", "", nil},
	{"hookline_processor_stale_entity_writes_total", ProcStaleWrites, "Count", Counter, "", "", nil},
	{"hookline_processor_locks_lost_total", ProcLocksLost, "Count", Counter, "", "", nil},
	{"hookline_processor_lock_contention_total", ProcLockContention, "Count", Counter, "", "", nil},
	{"hookline_processor_requeued_total", ProcRequeued, "Count", Counter, "", "", nil},
	{"hookline_processor_publish_failures_total", ProcUnconfirmedCopies, "Count", Counter, "reason", ReasonDimension, []string{"returned", "refused"}},
	{"hookline_processor_callbacks_total", ProcCallbacks, "Count", Counter, "result", ResultDimension, []string{CallbackOK, CallbackGone, CallbackFailed, CallbackRefused, CallbackDropped}},
	{"hookline_processor_callbacks_pending", ProcCallbacksPending, "Count", Gauge, "", "", nil},
	{"hookline_processor_callbacks_in_flight", ProcCallbacksInFlight, "Count", Gauge, "", "", nil},
	{"hookline_processor_panics_total", ProcPanics, "Count", Counter, "", "", nil},
	{"hookline_processor_consumer_restarts_total", ProcConsumerRestarts, "Count", Counter, "", "", nil},
	{"hookline_processor_in_flight", ProcInFlight, "Count", Gauge, "", "", nil},
	{"hookline_processor_body_bytes", ProcBodyBytes, "Bytes", Gauge, "", "", nil},
	{"hookline_processor_body_bytes_peak", ProcBodyBytesPeak, "Bytes", Gauge, "", "", nil},
	{"hookline_processor_prefetch", ProcPrefetch, "Count", Gauge, "", "", nil},
	{"hookline_processor_batch_size", ProcBatchSize, "Count", Histogram, "", "", nil},
	{"hookline_processor_batch_duration_seconds", ProcBatchDuration, "Seconds", Histogram, "", "", nil},
	{"hookline_processor_lock_wait_seconds", ProcLockWait, "Seconds", Histogram, "", "", nil},
	{"hookline_processor_end_to_end_seconds", ProcEndToEnd, "Seconds", Histogram, "", "", nil},
	{"hookline_processor_broker_health_errors_total", ProcBrokerHealthErrors, "Count", Counter, "reason", ReasonDimension, queuemetrics.HealthReasons},
	{"hookline_processor_canary_arrivals_total", ProcCanaryArrivals, "Count", Counter, "", "", nil},
	{"hookline_processor_canary_end_to_end_seconds", ProcCanaryEndToEnd, "Seconds", Histogram, "", "", nil},
}

// ProcessorUnits are the CloudWatch units of the processor's metrics.
var ProcessorUnits = func() map[string]string {
	u := make(map[string]string, len(Processor))
	for _, m := range Processor {
		u[m.CloudWatch] = m.Unit
	}
	return u
}()

// ProcessorProm lists the Prometheus names of the processor's metrics (its
// /metrics also has the Go runtime's and the process's, go_* and process_*).
var ProcessorProm = func() []string {
	p := make([]string, len(Processor))
	for i, m := range Processor {
		p[i] = m.Prom
	}
	return p
}()
