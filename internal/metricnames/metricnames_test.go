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
		if !strings.HasPrefix(ns, "Hookline/") {
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
		if !strings.HasSuffix(n, "_total") && !strings.HasSuffix(n, "_seconds") && !strings.HasSuffix(n, "_bytes") {
			t.Errorf("%s: want a _total, _seconds or _bytes suffix", n)
		}
	}
}
