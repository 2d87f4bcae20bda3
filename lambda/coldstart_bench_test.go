package main

// The receiver as a Lambda against a bare Lambda, in one run (issue 13,
// figure 1). Both are real processes built with make build's flags for the
// host architecture, each under its own loopback Runtime API
// (lambda/runtimeapi), both publishing to the same local broker as the
// receiver's broker user:
//
//	receiver = ./lambda: sources document, signature check, envelope,
//	           publish with confirm, log line, EMF metrics line
//	bare     = ./lambda/bench/barelambda: dial, one confirm channel at init;
//	           per event the same message shape, publish, confirm, 202
//
// Cold: process start → first GET /next (init), → first response (init plus
// the first invocation), medians over interleaved cold starts. Warm: mean
// from delivery to response over 200 signed events on one instance. Memory:
// VmRSS after 1,000 invocations. The local broker has no TLS listener, so
// both speak plain AMQP: the receiver's TLS set-up cost is not in the figure.

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/hookline/hookline/internal/testenv"
	"github.com/hookline/hookline/internal/topology"
	"github.com/hookline/hookline/internal/webhooksig"
)

const (
	coldStarts      = 15
	warmEvents      = 200
	rssInvocations  = 1000
	benchSigSecret  = "s"
	benchSourcesDoc = srcDoc
)

// signedEvents are n distinct 1 KiB GitHub webhooks signed for source gh.
func signedEvents(b *testing.B, n int) []events.APIGatewayV2HTTPRequest {
	evs := make([]events.APIGatewayV2HTTPRequest, n)
	for i := range evs {
		body := fmt.Sprintf(`{"seq":%d,"pad":"%s"}`, i, strings.Repeat("x", 1000))
		h, err := webhooksig.Sign(webhooksig.GitHub, benchSigSecret, fmt.Sprint("delivery-", i), time.Now(), []byte(body))
		if err != nil {
			b.Fatal(err)
		}
		h.Set("X-GitHub-Event", "push")
		h.Set("Content-Type", "application/json")
		evs[i] = apiEvent(fmt.Sprint("req-", i), "/webhooks/gh", body, h)
	}
	return evs
}

type coldStart struct{ toNext, toFirst time.Duration }

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func mean(ds []time.Duration) time.Duration {
	var t time.Duration
	for _, d := range ds {
		t += d
	}
	return t / time.Duration(len(ds))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// coldOnce starts bin, waits for its first next, sends ev, and stops it.
func coldOnce(b *testing.B, bin string, env []string, ev events.APIGatewayV2HTTPRequest) coldStart {
	p := startLambda(b, bin, env...)
	defer p.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	next, err := p.api.WaitNext(ctx, p.exited)
	if err != nil {
		b.Fatal(err)
	}
	resp, res := p.invoke(b, ev)
	if resp.StatusCode != http.StatusAccepted {
		b.Fatalf("%s: first invocation answered %d %s", filepath.Base(bin), resp.StatusCode, resp.Body)
	}
	return coldStart{toNext: next.Sub(p.started), toFirst: res.Answered.Sub(p.started)}
}

// warm invokes every event on p in turn and returns delivery→response times.
func warm(b *testing.B, p *lambdaProc, evs []events.APIGatewayV2HTTPRequest) []time.Duration {
	out := make([]time.Duration, 0, len(evs))
	for _, ev := range evs {
		resp, res := p.invoke(b, ev)
		if resp.StatusCode != http.StatusAccepted {
			b.Fatalf("warm invocation answered %d %s", resp.StatusCode, resp.Body)
		}
		out = append(out, res.Answered.Sub(res.Delivered))
	}
	return out
}

// rssKiB is the process's resident set (VmRSS) in KiB.
func rssKiB(b *testing.B, pid int) int {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

// zipSize zips bin the way make build does and returns the archive's size;
// the deployed arm64 zip, when make build has made it, is reported as well.
func zipSize(b *testing.B, bin string) (host, arm64 int64) {
	out := filepath.Join(b.TempDir(), "bootstrap.zip")
	cmd := exec.Command("go", "run", "../scripts/lambdazip", "-o", out, bin)
	if msg, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("lambdazip: %v %s", err, msg)
	}
	st, err := os.Stat(out)
	if err != nil {
		b.Fatal(err)
	}
	if st2, err := os.Stat("../build/lambda/bootstrap.zip"); err == nil {
		arm64 = st2.Size()
	}
	return st.Size(), arm64
}

func BenchmarkLambdaVsBare(b *testing.B) {
	recvBin := buildBinary(b, ".")
	bareBin := buildBinary(b, "./bench/barelambda")
	vhost := testenv.RabbitMQ(b)
	url := testenv.AMQPURLAs("", vhost, topology.Receiver)
	sourcesFile := filepath.Join(b.TempDir(), "sources.yaml")
	if err := os.WriteFile(sourcesFile, []byte(benchSourcesDoc), 0o600); err != nil {
		b.Fatal(err)
	}
	recvEnv := []string{"RABBITMQ_URL=" + url, "WEBHOOK_SOURCES_FILE=" + sourcesFile, "AWS_LAMBDA_FUNCTION_NAME=receiver"}
	bareEnv := []string{"RABBITMQ_URL=" + url}
	evs := signedEvents(b, rssInvocations)

	for i := 0; i < b.N; i++ {
		// Interleaved, so drift on a shared machine hits both alike.
		var rc, bc []coldStart
		for j := range coldStarts {
			rc = append(rc, coldOnce(b, recvBin, recvEnv, evs[j]))
			bc = append(bc, coldOnce(b, bareBin, bareEnv, evs[j]))
		}
		pick := func(cs []coldStart, f func(coldStart) time.Duration) []time.Duration {
			out := make([]time.Duration, len(cs))
			for i, c := range cs {
				out[i] = f(c)
			}
			return out
		}
		toNext := func(c coldStart) time.Duration { return c.toNext }
		toFirst := func(c coldStart) time.Duration { return c.toFirst }
		rNext, bNext := median(pick(rc, toNext)), median(pick(bc, toNext))
		rFirst, bFirst := median(pick(rc, toFirst)), median(pick(bc, toFirst))

		// Warm: one instance each, blocks of 50 in turn; the first
		// invocation of each instance is cold and not counted.
		rp, bp := startLambda(b, recvBin, recvEnv...), startLambda(b, bareBin, bareEnv...)
		var rWarm, bWarm []time.Duration
		for k := 0; k < rssInvocations; k += 50 {
			r, w := warm(b, rp, evs[k:k+50]), warm(b, bp, evs[k:k+50])
			if k == 0 {
				r, w = r[1:], w[1:]
			}
			if len(rWarm) < warmEvents {
				rWarm, bWarm = append(rWarm, r...), append(bWarm, w...)
			}
		}
		rWarm, bWarm = rWarm[:warmEvents], bWarm[:warmEvents]
		rRSS, bRSS := rssKiB(b, rp.cmd.Process.Pid), rssKiB(b, bp.cmd.Process.Pid)
		rp.stop()
		bp.stop()
		hostZip, armZip := zipSize(b, recvBin)

		fmt.Printf("\nreceiver Lambda vs bare Lambda (plain AMQP: the local broker has no TLS listener; %d cold starts each, interleaved)\n", coldStarts)
		fmt.Printf("  %-34s %9s %9s %7s\n", "", "receiver", "bare", "ratio")
		row := func(name string, r, w time.Duration, goal string) {
			fmt.Printf("  %-34s %7.2fms %7.2fms %7.2f  %s\n", name, ms(r), ms(w), float64(r)/float64(w), goal)
		}
		row("start → first next (init, median)", rNext, bNext, "(goal <= 1.25)")
		row("start → first response (median)", rFirst, bFirst, "")
		row(fmt.Sprintf("warm invocation (mean of %d)", warmEvents), mean(rWarm), mean(bWarm), "(goal <= 1.25)")
		row("warm invocation (median)", median(rWarm), median(bWarm), "")
		fmt.Printf("  %-34s %7.1fMB %7.1fMB %7.2f\n", fmt.Sprintf("RSS after %d invocations", rssInvocations), float64(rRSS)/1024, float64(bRSS)/1024, float64(rRSS)/float64(bRSS))
		fmt.Printf("  %-34s %7.2fMB   (host build; goal <= 10 MB)\n", "bootstrap.zip", float64(hostZip)/(1<<20))
		if armZip > 0 {
			fmt.Printf("  %-34s %7.2fMB   (build/lambda/bootstrap.zip, linux/arm64 from make build)\n", "bootstrap.zip", float64(armZip)/(1<<20))
		}
		fmt.Println()
		b.ReportMetric(ms(rNext), "init_ms")
		b.ReportMetric(float64(rNext)/float64(bNext), "init/bare")
		b.ReportMetric(ms(mean(rWarm)), "warm_ms")
		b.ReportMetric(float64(mean(rWarm))/float64(mean(bWarm)), "warm/bare")
		b.ReportMetric(float64(rRSS)/1024, "rss_MB")
		b.ReportMetric(float64(hostZip)/(1<<20), "zip_MB")
	}
}
