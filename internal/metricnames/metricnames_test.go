package metricnames_test

import (
	"strings"
	"testing"

	"github.com/hookline/hookline/internal/metricnames"
	"github.com/hookline/hookline/internal/queuemetrics"
)

// TestListIsWellFormed: every listed CloudWatch metric has a unit
// CloudWatch accepts, the queue collector's metrics are in the list (not a
// copy of it), and Prometheus names follow Prometheus naming.
func TestListIsWellFormed(t *testing.T) {
	units := map[string]bool{"Count": true, "Count/Second": true, "Milliseconds": true, "Seconds": true, "Bytes": true, "Percent": true, "None": true}
	for ns, metrics := range metricnames.CloudWatch {
		if !strings.HasPrefix(ns, "Hookline/") && ns != metricnames.BrokerNamespace {
			t.Errorf("namespace %q: want Hookline/…", ns)
		}
		for name, unit := range metrics {
			if !units[unit] {
				t.Errorf("%s/%s: unit %q", ns, name, unit)
			}
		}
	}
	for _, n := range []string{queuemetrics.InboundDepth, queuemetrics.IngestRate, queuemetrics.ConsumeRate, queuemetrics.DeadDepth,
		queuemetrics.BrokerMemoryAlarm, queuemetrics.BrokerDiskAlarm, queuemetrics.QuorumMembersMissing,
		queuemetrics.QueuesWithoutLeader, queuemetrics.Partitions} {
		if !metricnames.Known(queuemetrics.Namespace, n) {
			t.Errorf("%s missing from the list", n)
		}
	}
	if metricnames.Known(metricnames.ReceiverNamespace, "Nope") || metricnames.Known("Other/NS", metricnames.Accepted) {
		t.Error("Known accepts what the code does not emit")
	}
	for _, n := range metricnames.Prometheus {
		if !strings.HasPrefix(n, "hookline_receiver_") {
			t.Errorf("%s: want the hookline_receiver_ prefix", n)
		}
	}
	for _, n := range []string{metricnames.PromAccepted, "hookline_processor_acked_total", "hookline_processor_batch_duration_seconds_bucket", "hookline_receiver_body_bytes_count"} {
		if !metricnames.KnownProm(n) {
			t.Errorf("KnownProm(%s) = false", n)
		}
	}
	for _, n := range []string{"hookline_processor_nope_total", "hookline_processor_acked_total_bucket", "rabbitmq_queue_messages"} {
		if metricnames.KnownProm(n) {
			t.Errorf("KnownProm(%s) = true", n)
		}
	}
}

// TestProcessorTable: Prometheus naming by kind and unit (a counter ends in
// _total, seconds in _seconds, bytes in _bytes), names unique on both
// sides, and a dimension exactly where a label is.
func TestProcessorTable(t *testing.T) {
	prom, cw := map[string]bool{}, map[string]bool{}
	for _, m := range metricnames.Processor {
		if prom[m.Prom] || cw[m.CloudWatch] {
			t.Errorf("%s / %s listed twice", m.Prom, m.CloudWatch)
		}
		prom[m.Prom], cw[m.CloudWatch] = true, true
		if !metricnames.Known(metricnames.ProcessorNamespace, m.CloudWatch) {
			t.Errorf("%s not Known", m.CloudWatch)
		}
		if (m.Kind == metricnames.Counter) != strings.HasSuffix(m.Prom, "_total") {
			t.Errorf("%s: counters and only counters end in _total", m.Prom)
		}
		if (m.Unit == "Seconds") != strings.HasSuffix(m.Prom, "_seconds") {
			t.Errorf("%s: unit %s and the _seconds suffix go together", m.Prom, m.Unit)
		}
		if m.Unit == "Bytes" && !strings.Contains(m.Prom, "_bytes") {
			t.Errorf("%s: bytes without _bytes", m.Prom)
		}
		if (m.Label == "") != (m.Dimension == "") {
			t.Errorf("%s: label %q, dimension %q", m.Prom, m.Label, m.Dimension)
		}
	}
}
