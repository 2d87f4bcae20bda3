// Package metrics holds the processor's Prometheus instruments, on a registry
// of their own (several processors can live in one test binary).
package metrics

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/hookline/hookline/internal/metricnames"
)

// Metrics is one processor's instruments.
type Metrics struct {
	Registry *prometheus.Registry

	consumed     prometheus.Counter
	acked        prometheus.Counter
	retried      *prometheus.CounterVec // reason: handler | outage | lock
	deadLettered *prometheus.CounterVec // reason: invalid | unknown_source | attempts
	duplicates   prometheus.Counter
	stale        prometheus.Counter
	lockLost     prometheus.Counter
	lockBusy     prometheus.Counter
	requeued     prometheus.Counter
	cbPending    prometheus.Gauge
	cbInFlight   prometheus.Gauge
	callbacks    *prometheus.CounterVec // result: ok | gone | failed | refused | dropped
	pubFailed    *prometheus.CounterVec // reason: returned | refused
	processing   prometheus.Histogram
	lockWait     prometheus.Histogram
	endToEnd     prometheus.Histogram
	canaries     prometheus.Counter
	canaryE2E    prometheus.Histogram
	batchSize    prometheus.Histogram
	inFlight     prometheus.Gauge
	bodyBytes    prometheus.Gauge
	bodyPeak     prometheus.Gauge
	prefetch     prometheus.Gauge
	flowPauses   prometheus.Counter
	nBodyPeak    atomic.Int64
	panics       prometheus.Counter
	healthErrors *prometheus.CounterVec // reason: queuemetrics.HealthReasons

	// Totals for /health/ready's "messages".
	nConsumed, nAcked, nRetried, nDead, nDup, nInFlight, nPanics atomic.Int64
}

// New registers every instrument on a fresh registry (plus Go and process
// collectors).
func New() *Metrics {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ns := "hookline_processor"
	lat := []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}
	m := &Metrics{
		Registry:     r,
		consumed:     prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "consumed_total", Help: "Deliveries received from webhooks.inbound."}),
		acked:        prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "acked_total", Help: "Deliveries acked after their transaction committed (or after they were parked or dead-lettered)."}),
		retried:      prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "retried_total", Help: "Deliveries parked in a delayed-retry queue, by reason."}, []string{"reason"}),
		deadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "dead_lettered_total", Help: "Deliveries sent to the DLQ, by reason."}, []string{"reason"}),
		duplicates:   prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "duplicates_total", Help: "Deliveries whose (source, event_id) was already stored."}),
		stale:        prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "stale_entity_writes_total", Help: "Entity writes skipped by the fence because newer state was already applied."}),
		lockLost:     prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "locks_lost_total", Help: "Entity locks found expired or taken over while work ran."}),
		pubFailed:    prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "publish_failures_total", Help: "Copies (retry, park, dead letter) the broker did not confirm: returned as unroutable, or refused (nack, channel error, timeout)."}, []string{"reason"}),
		callbacks:    prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "callbacks_total", Help: "Callbacks to senders, by final result."}, []string{"result"}),
		lockBusy:     prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "lock_contention_total", Help: "Entity locks found held by another worker or task on a batch's first try (each lock once per batch)."}),
		requeued:     prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "requeued_total", Help: "Deliveries given back to webhooks.inbound (nack with requeue) because their retry, park or dead-letter copy was not confirmed."}),
		cbPending:    prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "callbacks_pending", Help: "Callback outbox rows pending (the whole outbox, which every task shares), as of the sender's last read."}),
		cbInFlight:   prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "callbacks_in_flight", Help: "Callback requests this task is sending now."}),
		processing:   prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "batch_duration_seconds", Help: "Batch processing time, lock to commit.", Buckets: lat}),
		lockWait:     prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "lock_wait_seconds", Help: "Time to obtain a batch's entity locks.", Buckets: lat}),
		endToEnd:     prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "end_to_end_seconds", Help: "x-received-at to commit.", Buckets: lat}),
		canaries:     prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "canary_arrivals_total", Help: "Canary deliveries stored (the end-to-end canary's source)."}),
		canaryE2E:    prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "canary_end_to_end_seconds", Help: "A canary delivery's signed timestamp to commit: edge, receiver, broker and processor.", Buckets: lat}),
		batchSize:    prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "batch_size", Help: "Deliveries per transaction.", Buckets: []float64{1, 2, 5, 10, 20, 50, 100, 200, 500}}),
		inFlight:     prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "in_flight", Help: "Deliveries received and not yet settled."}),
		bodyBytes:    prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "body_bytes", Help: "Bytes of the bodies received and not yet settled (kept under BODY_BUDGET)."}),
		bodyPeak:     prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "body_bytes_peak", Help: "The most body_bytes has been since start."}),
		prefetch:     prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "prefetch", Help: "The running consumer's prefetch (follows the body sizes under BODY_BUDGET)."}),
		flowPauses:   prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "consumer_restarts_total", Help: "Consumers cancelled to stay under BODY_BUDGET or to change the prefetch."}),
		panics:       prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "panics_total", Help: "Panics recovered while handling a delivery (each counts as that delivery's failure)."}),
		healthErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "broker_health_errors_total", Help: "Minutes in which the queue metrics collector could not read a broker health count (it published none), by what failed: alarms, queues, nodes."}, []string{"reason"}),
	}
	// Every label value of the table exists from the start, so dashboards
	// and alerts see zeros rather than absent series.
	vecs := map[string]*prometheus.CounterVec{
		metricnames.ProcRetried: m.retried, metricnames.ProcDeadLettered: m.deadLettered,
		metricnames.ProcCallbacks: m.callbacks, metricnames.ProcUnconfirmedCopies: m.pubFailed,
		metricnames.ProcBrokerHealthErrors: m.healthErrors,
	}
	for _, pm := range metricnames.Processor {
		for _, l := range pm.Values {
			vecs[pm.CloudWatch].WithLabelValues(l)
		}
	}
	r.MustRegister(m.lockBusy, m.requeued, m.cbPending, m.cbInFlight)
	r.MustRegister(m.consumed, m.acked, m.retried, m.deadLettered, m.duplicates, m.stale, m.lockLost,
		m.callbacks, m.pubFailed, m.processing, m.lockWait, m.endToEnd, m.batchSize, m.inFlight, m.panics,
		m.bodyBytes, m.bodyPeak, m.prefetch, m.flowPauses, m.healthErrors, m.canaries, m.canaryE2E)
	return m
}

// BrokerHealthError counts a minute in which the queue metrics collector
// (the one task that holds its lease) could not read a broker health count.
func (m *Metrics) BrokerHealthError(reason string) { m.healthErrors.WithLabelValues(reason).Inc() }

// Consumed counts a received delivery.
func (m *Metrics) Consumed() {
	m.consumed.Inc()
	m.nConsumed.Add(1)
	m.inFlight.Set(float64(m.nInFlight.Add(1)))
}

// Settled counts a delivery that left this process (acked, or given back).
func (m *Metrics) Settled() { m.inFlight.Set(float64(m.nInFlight.Add(-1))) }

// NoneInFlight resets the in-flight count when a connection's deliveries are
// all gone (settled or returned with the connection).
func (m *Metrics) NoneInFlight() { m.nInFlight.Store(0); m.inFlight.Set(0) }

// Acked counts an ack.
func (m *Metrics) Acked() { m.acked.Inc(); m.nAcked.Add(1) }

// Retried counts a delivery parked for a delayed retry.
func (m *Metrics) Retried(reason string) { m.retried.WithLabelValues(reason).Inc(); m.nRetried.Add(1) }

// DeadLettered counts a delivery sent to the DLQ.
func (m *Metrics) DeadLettered(reason string) {
	m.deadLettered.WithLabelValues(reason).Inc()
	m.nDead.Add(1)
}

// Panicked counts a recovered panic.
func (m *Metrics) Panicked() { m.panics.Inc(); m.nPanics.Add(1) }

// Duplicate counts an already-stored event.
func (m *Metrics) Duplicate() { m.duplicates.Inc(); m.nDup.Add(1) }

// Stale counts fenced-out entity writes.
func (m *Metrics) Stale(n int) { m.stale.Add(float64(n)) }

// LockLost counts locks that expired under running work.
func (m *Metrics) LockLost(n int) { m.lockLost.Add(float64(n)) }

// LockContention counts entity locks found busy on a batch's first try.
func (m *Metrics) LockContention(n int) { m.lockBusy.Add(float64(n)) }

// Requeued counts a delivery given back to the queue.
func (m *Metrics) Requeued() { m.requeued.Inc() }

// CallbacksPending records the outbox's pending rows.
func (m *Metrics) CallbacksPending(n int) { m.cbPending.Set(float64(n)) }

// CallbacksInFlight records the callback requests running now.
func (m *Metrics) CallbacksInFlight(n int) { m.cbInFlight.Set(float64(n)) }

// PublishFailed counts a copy the broker did not confirm, by reason.
func (m *Metrics) PublishFailed(reason string) { m.pubFailed.WithLabelValues(reason).Inc() }

// BodyBytes records the body bytes held now (and the peak).
func (m *Metrics) BodyBytes(n int64) {
	m.bodyBytes.Set(float64(n))
	for p := m.nBodyPeak.Load(); n > p; p = m.nBodyPeak.Load() {
		if m.nBodyPeak.CompareAndSwap(p, n) {
			m.bodyPeak.Set(float64(n))
			break
		}
	}
}

// BodyPeak is the most body bytes held at once since start.
func (m *Metrics) BodyPeak() int64 { return m.nBodyPeak.Load() }

// Prefetch records the running consumer's prefetch.
func (m *Metrics) Prefetch(n int) { m.prefetch.Set(float64(n)) }

// FlowPause counts a consumer cancelled by the byte budget.
func (m *Metrics) FlowPause() { m.flowPauses.Inc() }

// Callback counts a callback's final result.
func (m *Metrics) Callback(result string) { m.callbacks.WithLabelValues(result).Inc() }

// Batch records one committed batch.
func (m *Metrics) Batch(size int, processing, lockWait time.Duration) {
	m.batchSize.Observe(float64(size))
	m.processing.Observe(processing.Seconds())
	m.lockWait.Observe(lockWait.Seconds())
}

// EndToEnd records x-received-at to commit for one event.
func (m *Metrics) EndToEnd(d time.Duration) { m.endToEnd.Observe(d.Seconds()) }

// CanaryArrived records a stored canary delivery, d after the canary
// signed it. A negative d (the canary's clock ahead of this task's) counts
// as 0: the arrival is what the alarm reads.
func (m *Metrics) CanaryArrived(d time.Duration) {
	m.canaries.Inc()
	m.canaryE2E.Observe(max(d, 0).Seconds())
}

// Totals is the "messages" object of /health/ready.
func (m *Metrics) Totals() map[string]int64 {
	return map[string]int64{
		"consumed": m.nConsumed.Load(), "acked": m.nAcked.Load(), "retried": m.nRetried.Load(),
		"dead_lettered": m.nDead.Load(), "duplicates": m.nDup.Load(), "in_flight": m.nInFlight.Load(), "panics": m.nPanics.Load(),
	}
}
