package metricnames

// CanaryNamespace is the CloudWatch namespace of the canary Lambda's EMF
// lines (lambda/canary): one line per run, on the function's stdout.
const CanaryNamespace = "Hookline/Canary"

// StatusClassDimension is a canary run's outcome: 2xx, 3xx, 4xx or 5xx
// (the public endpoint's answer), or error (no answer: timeout, DNS, TLS,
// or the canary could not sign).
const StatusClassDimension = "StatusClass"

// CanaryStatusClasses are the values of StatusClass.
var CanaryStatusClasses = []string{"2xx", "3xx", "4xx", "5xx", CanaryErrorClass}

// CanaryErrorClass is the StatusClass of a run without an answer.
const CanaryErrorClass = "error"

// The canary's CloudWatch metrics, by [Stack] and [Stack, StatusClass].
const (
	// CanaryRuns counts canary runs (1 per line).
	CanaryRuns = "Runs"
	// CanaryFailures is 1 for a run that did not get a 2xx, 0 for one
	// that did: the failed-canary alarm sums it (a zero keeps data coming
	// while all is well).
	CanaryFailures = "Failures"
	// CanaryLatency is the run's request time, sending to the answer's
	// status line (or to the failure), in milliseconds.
	CanaryLatency = "Latency"
)

// CanaryUnits are the CloudWatch units of the canary's metrics.
var CanaryUnits = map[string]string{
	CanaryRuns:     "Count",
	CanaryFailures: "Count",
	CanaryLatency:  "Milliseconds",
}
