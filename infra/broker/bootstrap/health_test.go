package bootstrap_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hookline/hookline/infra/broker/bootstrap"
	"github.com/hookline/hookline/internal/metricnames"
)

// healthScript is the node's health timer script as install.sh writes it
// at boot: the HEALTH heredoc of the rendered install half, expanded by
// bash with the rendered values (the data directory pointed at dataDir).
func healthScript(t *testing.T, dataDir string) string {
	t.Helper()
	s, err := bootstrap.RenderInstall(install(1, 0))
	if err != nil {
		t.Fatal(err)
	}
	_, body, ok := strings.Cut(s, "<<HEALTH\n")
	if ok {
		body, _, ok = strings.Cut(body, "\nHEALTH\n")
	}
	if !ok {
		t.Fatal("install.sh writes no HEALTH heredoc")
	}
	vars := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(strings.TrimPrefix(line, "readonly "), "="); ok && strings.HasPrefix(line, "readonly ") {
			vars[k] = strings.Trim(v, "'")
		}
	}
	cmd := exec.Command("bash", "-c", "cat <<HEALTH\n"+body+"\nHEALTH\n")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "REGION=" + vars["REGION"], "METRICS_NAMESPACE=" + vars["METRICS_NAMESPACE"],
		"NODE=" + vars["NODE"], "DATA_DIR=" + dataDir}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("expanding the health script: %v", err)
	}
	return string(out)
}

// The health timer, run here with stand-ins for the RabbitMQ CLI (the
// node's wrappers around docker exec) and the AWS CLI: one put-metric-data
// call into the broker namespace with Ready, the host's memory use and the
// data volume's use, each with the Node dimension and the names and units
// the alarms read (internal/metricnames); Ready follows the CLI's checks. The
// script is shellcheck-clean as written at boot.
func TestHealthTimerPublishes(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	script := healthScript(t, dataDir)
	shellcheck(t, "hookline-broker-health", script)
	for _, tc := range []struct {
		name    string
		running bool
		ready   float64
	}{{"node running", true, 1}, {"node down", false, 0}} {
		t.Run(tc.name, func(t *testing.T) {
			bin := t.TempDir()
			calls := filepath.Join(t.TempDir(), "aws-calls")
			exit := map[bool]string{true: "0", false: "1"}[tc.running]
			write := func(name, body string) {
				if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/bash\n"+body+"\n"), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			write("rabbitmq-diagnostics", "exit "+exit)
			write("aws", `printf '%s\0' "$@" >>`+strconv.Quote(calls))
			path := filepath.Join(t.TempDir(), "hookline-broker-health")
			if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(path)
			cmd.Env = []string{"PATH=" + bin + ":" + os.Getenv("PATH")}
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("health script: %v\n%s", err, out)
			}
			raw, err := os.ReadFile(calls)
			if err != nil {
				t.Fatal("the health script did not call aws")
			}
			args := strings.Split(strings.TrimSuffix(string(raw), "\x00"), "\x00")
			flags := map[string]string{}
			for i := 0; i+1 < len(args); i++ {
				if strings.HasPrefix(args[i], "--") {
					flags[args[i]] = args[i+1]
				}
			}
			if args[0] != "cloudwatch" || args[1] != "put-metric-data" || flags["--namespace"] != metricnames.BrokerNamespace || flags["--region"] != "us-east-1" {
				t.Fatalf("aws %q", args)
			}
			var data []struct {
				MetricName string
				Value      float64
				Unit       string
				Dimensions []struct{ Name, Value string }
			}
			if err := json.Unmarshal([]byte(flags["--metric-data"]), &data); err != nil {
				t.Fatalf("--metric-data is not JSON: %v: %s", err, flags["--metric-data"])
			}
			got := map[string]float64{}
			for _, d := range data {
				if len(d.Dimensions) != 1 || d.Dimensions[0].Name != metricnames.NodeDimension || d.Dimensions[0].Value != "hookline-prod-rabbitmq-1" {
					t.Errorf("%s dimensions %+v; want Node=hookline-prod-rabbitmq-1", d.MetricName, d.Dimensions)
				}
				if d.MetricName != metricnames.BrokerReady && d.Unit != "Percent" {
					t.Errorf("%s unit %q; want Percent", d.MetricName, d.Unit)
				}
				got[d.MetricName] = d.Value
			}
			if len(got) != 3 || got[metricnames.BrokerReady] != tc.ready {
				t.Errorf("published %v; want Ready=%v, %s, %s", got, tc.ready, metricnames.BrokerMemoryUsedPercent, metricnames.BrokerDataDiskUsedPercent)
			}
			for _, m := range []string{metricnames.BrokerMemoryUsedPercent, metricnames.BrokerDataDiskUsedPercent} {
				if v, ok := got[m]; !ok || v <= 0 || v > 100 {
					t.Errorf("%s = %v, %v; want a percentage of this machine's", m, v, ok)
				}
			}
		})
	}
}
