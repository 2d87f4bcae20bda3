package bootstrap_test

import (
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/hookline/hookline/infra/broker/bootstrap"
	"github.com/hookline/hookline/internal/metricnames"
)

// TestNodeMetricsAreTheList: the rendered install script publishes exactly
// the broker node metrics internal/metricnames lists (what the not-ready
// alarm and the dashboard read), each with the Node dimension, into the
// namespace it is given.
func TestNodeMetricsAreTheList(t *testing.T) {
	t.Parallel()
	in := install(1, 1)
	in.MetricsNamespace = metricnames.BrokerNamespace
	script, err := bootstrap.RenderInstall(in)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range regexp.MustCompile(`--metric-name (\w+)|\\"MetricName\\":\\"(\w+)\\"`).FindAllStringSubmatch(script, -1) {
		got = append(got, m[1]+m[2])
	}
	seen := map[string]bool{}
	var unique []string
	for _, n := range got {
		if !seen[n] {
			seen[n] = true
			unique = append(unique, n)
		}
	}
	sort.Strings(unique)
	var want []string
	for n := range metricnames.BrokerUnits {
		want = append(want, n)
	}
	sort.Strings(want)
	if strings.Join(unique, ",") != strings.Join(want, ",") {
		t.Errorf("the script publishes %v; metricnames lists %v", unique, want)
	}
	for _, line := range strings.Split(script, "\n") {
		if !strings.Contains(line, "put-metric-data") {
			continue
		}
		if !strings.Contains(line, "--namespace '$METRICS_NAMESPACE'") ||
			!(strings.Contains(line, "--dimensions "+metricnames.NodeDimension+"=") || strings.Contains(script, `"Name":"`+metricnames.NodeDimension+`"`)) {
			t.Errorf("put-metric-data without the namespace or the %s dimension: %s", metricnames.NodeDimension, line)
		}
	}
	if !strings.Contains(script, "METRICS_NAMESPACE='"+metricnames.BrokerNamespace+"'") {
		t.Errorf("the script does not publish into %s", metricnames.BrokerNamespace)
	}
}
