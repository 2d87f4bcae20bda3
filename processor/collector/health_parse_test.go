package collector

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The files in testdata/broker43 are RabbitMQ 4.3's answers as its source
// writes them (rabbit_quorum_queue:format/2 behind GET /api/queues; the
// alarm collector, prometheus_rabbitmq_alarm_metrics_collector.erl, on
// /metrics), for a cluster of three: no 4.x broker runs on this machine,
// so they were written from the source, not captured. What the local 3.10
// broker answers is read live in health_test.go.

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "broker43", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseQueues(t *testing.T) {
	for _, tc := range []struct {
		file                   string
		missing, withoutLeader float64
	}{
		// Three members each, one node down: one member missing per quorum
		// queue (the stream and the classic queue do not count); webhooks.dead
		// had its leader on the down node ("down").
		{"queues-node-down.json", 3, 1},
		// Two of three members offline: the queue is in minority and serves
		// nothing, although its leader's node is online.
		{"queues-minority.json", 2, 1},
		{"queues-healthy.json", 0, 0},
	} {
		q, err := parseQueues(fixture(t, tc.file))
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		if q.membersMissing != tc.missing || q.withoutLeader != tc.withoutLeader {
			t.Errorf("%s: missing %v, without leader %v; want %v, %v", tc.file, q.membersMissing, q.withoutLeader, tc.missing, tc.withoutLeader)
		}
	}
	// 3.10's way of saying the leader is not running: an empty leader.
	q, err := parseQueues([]byte(`[{"name":"q","type":"quorum","state":"running","leader":"","members":["a"],"online":[]}]`))
	if err != nil || q.withoutLeader != 1 || q.membersMissing != 1 {
		t.Errorf("empty leader: %+v %v", q, err)
	}
	for _, bad := range []string{
		``, `<html>502 Bad Gateway</html>`, `{"error":"not_authorised"}`, `[{"name":"q","type":"quorum"`,
		// A quorum queue without the fields the counts need is not a 0.
		`[{"name":"q","type":"quorum","state":"running","leader":"a","members":["a"]}]`,
		`[{"name":"q","type":"quorum","state":"running","members":["a"],"online":["a"]}]`,
		`[{"name":"q","type":"quorum","state":"running","leader":"a","online":["a"]}]`,
	} {
		if q, err := parseQueues([]byte(bad)); err == nil {
			t.Errorf("%q parsed as %+v", bad, q)
		}
	}
}

func TestParseAlarms(t *testing.T) {
	a, err := parseAlarms(strings.NewReader(string(fixture(t, "metrics-memory-alarm.txt"))))
	if err != nil || a.memory != 1 || a.disk != 0 {
		t.Errorf("memory alarm raised: %+v %v", a, err)
	}
	// The alarm collector leaves both series out when reading the node's
	// alarms times out: unknown, not 0.
	if _, err := parseAlarms(strings.NewReader(string(fixture(t, "metrics-alarms-timed-out.txt")))); !errors.Is(err, errNoAlarmSeries) {
		t.Errorf("alarm series absent: %v; want errNoAlarmSeries", err)
	}
	for _, bad := range []string{
		"rabbitmq_alarms_memory_used_watermark 0\n", // disk missing
		"rabbitmq_alarms_memory_used_watermark 0\nrabbitmq_alarms_free_disk_space_watermark 2\n",
		"rabbitmq_alarms_memory_used_watermark 0\nrabbitmq_alarms_memory_used_watermark 1\nrabbitmq_alarms_free_disk_space_watermark 0\n",
		"<html><body>502</body></html>\n",
		"rabbitmq_alarms_memory_used_watermark zero\nrabbitmq_alarms_free_disk_space_watermark 0\n",
		"",
	} {
		if a, err := parseAlarms(strings.NewReader(bad)); err == nil {
			t.Errorf("%q parsed as %+v", bad, a)
		}
	}
}

// node is one entry of a /api/nodes view.
func node(name string, running bool, partitions ...string) nodeInfo {
	if partitions == nil {
		partitions = []string{}
	}
	return nodeInfo{Name: name, Running: &running, Partitions: &partitions}
}

func TestCountPartitions(t *testing.T) {
	const a, b, c = "rabbit@a", "rabbit@b", "rabbit@c"
	whole := []nodeInfo{node(a, true), node(b, true), node(c, true)}
	for _, tc := range []struct {
		name  string
		views map[string][]nodeInfo
		want  float64
	}{
		{"one node", map[string][]nodeInfo{a: {node(a, true)}}, 0},
		{"healthy three", map[string][]nodeInfo{a: whole, b: whole, c: whole}, 0},
		// 4.3: a cut off from b and c, every node up and answering.
		{"one node cut off", map[string][]nodeInfo{
			a: {node(a, true), node(b, false), node(c, false)},
			b: {node(a, false), node(b, true), node(c, true)},
			c: {node(a, false), node(b, true), node(c, true)},
		}, 2},
		// Seen from one side only (the other side's view not yet updated):
		// still the pair.
		{"one-sided", map[string][]nodeInfo{a: {node(a, true), node(b, false), node(c, true)}, b: whole, c: whole}, 1},
		// Up to 4.2 with partition handling ignore: both sides run again
		// and each lists the other among its partitions.
		{"3.x partitions list", map[string][]nodeInfo{
			a: {node(a, true, b), node(b, true), node(c, true)},
			b: {node(a, true), node(b, true, a), node(c, true)},
			c: whole,
		}, 1},
		// A node that does not answer the collector is down, not split
		// off (partitions() refuses to count without every node's view;
		// the count itself leaves it out).
		{"node down", map[string][]nodeInfo{
			a: {node(a, true), node(b, true), node(c, false)},
			b: {node(a, true), node(b, true), node(c, false)},
		}, 0},
	} {
		if got := countPartitions(tc.views); got != tc.want {
			t.Errorf("%s: %v; want %v", tc.name, got, tc.want)
		}
	}
}

func TestParseNodes(t *testing.T) {
	ns, err := parseNodes([]byte(`[{"partitions":[],"name":"rabbit@a","running":true},{"partitions":[],"name":"rabbit@b","running":false}]`))
	if err != nil || len(ns) != 2 || *ns[1].Running {
		t.Errorf("%+v %v", ns, err)
	}
	// 4.3 without the management metrics collector: no partitions field.
	ns, err = parseNodes([]byte(`[{"name":"rabbit@a","type":"disc","running":true,"being_drained":false}]`))
	if err != nil || len(ns) != 1 || ns[0].Partitions == nil || len(*ns[0].Partitions) != 0 {
		t.Errorf("without partitions: %+v %v", ns, err)
	}
	for _, bad := range []string{``, `[]`, `{"error":"not_authorised"}`, `[{"name":"rabbit@a","partitions":[]}]`, `[{"running":true,"partitions":[]}]`} {
		if ns, err := parseNodes([]byte(bad)); err == nil {
			t.Errorf("%q parsed as %+v", bad, ns)
		}
	}
}

// The management API's answers are outside input: never a panic.
func FuzzParseManagement(f *testing.F) {
	f.Add([]byte(`[{"name":"q","type":"quorum","state":"running","leader":"a","members":["a"],"online":["a"]}]`))
	f.Add([]byte(`[{"partitions":[],"name":"rabbit@a","running":true}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if q, err := parseQueues(b); err == nil && (q.membersMissing < 0 || q.withoutLeader < 0) {
			t.Errorf("negative counts %+v", q)
		}
		if ns, err := parseNodes(b); err == nil {
			countPartitions(map[string][]nodeInfo{"rabbit@a": ns})
		}
	})
}
