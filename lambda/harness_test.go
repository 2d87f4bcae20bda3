package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/require"

	"github.com/hookline/hookline/lambda/runtimeapi"
)

// buildFlags are make build's, for the host's architecture: the binary the
// tests and the benchmark run is the one that ships, but runnable here.
var buildFlags = []string{"build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w -buildid="}

var (
	binOnce sync.Map // package path → *builtBinary
	binDir  string
)

type builtBinary struct {
	once sync.Once
	path string
	err  error
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hookline-lambda-bin-")
	if err != nil {
		panic(err)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildBinary builds pkg (relative to this directory, "." is the receiver)
// once per test binary, with make build's flags.
func buildBinary(t testing.TB, pkg string) string {
	t.Helper()
	v, _ := binOnce.LoadOrStore(pkg, &builtBinary{})
	bb := v.(*builtBinary)
	bb.once.Do(func() {
		bb.path = filepath.Join(binDir, filepath.Base(pkg))
		if pkg == "." {
			bb.path = filepath.Join(binDir, "bootstrap")
		}
		cmd := exec.Command("go", append(buildFlags, "-o", bb.path, pkg)...)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			bb.err = err
			t.Logf("go build %s: %s", pkg, out)
		}
	})
	require.NoError(t, bb.err, "build %s", pkg)
	return bb.path
}

// lambdaProc is one execution environment: a Runtime API and the bootstrap
// process it serves.
type lambdaProc struct {
	api     *runtimeapi.Server
	cmd     *exec.Cmd
	started time.Time
	exited  chan struct{}
	waitErr error
}

// startLambda starts bin under a fresh Runtime API with env added to this
// process's environment; the process is killed at cleanup.
func startLambda(t testing.TB, bin string, env ...string) *lambdaProc {
	t.Helper()
	api, err := runtimeapi.New()
	require.NoError(t, err)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), append([]string{"AWS_LAMBDA_RUNTIME_API=" + api.Addr()}, env...)...)
	cmd.Stdout = io.Discard // log and EMF lines through a pipe, as Lambda captures stdout
	cmd.Stderr = os.Stderr
	p := &lambdaProc{api: api, cmd: cmd, exited: make(chan struct{})}
	p.started = time.Now()
	require.NoError(t, cmd.Start())
	go func() { p.waitErr = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() { p.stop(); api.Close() })
	return p
}

func (p *lambdaProc) stop() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// invoke sends an API Gateway event and decodes the function's response.
func (p *lambdaProc) invoke(t testing.TB, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, runtimeapi.Result) {
	t.Helper()
	payload, err := json.Marshal(ev)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := p.api.Invoke(ctx, payload, 30*time.Second)
	require.NoError(t, err)
	require.False(t, res.Error, "function error %s: %s", res.ErrorType, res.Body)
	var resp events.APIGatewayV2HTTPResponse
	require.NoError(t, json.Unmarshal(res.Body, &resp), "%s", res.Body)
	return resp, res
}

// apiEvent is an HTTP API (payload 2.0) POST to path with headers h.
func apiEvent(id, path, body string, h http.Header) events.APIGatewayV2HTTPRequest {
	ev := events.APIGatewayV2HTTPRequest{Version: "2.0", RawPath: path, Body: body, Headers: map[string]string{"host": "h.example.com"}}
	ev.RequestContext.HTTP.Method = http.MethodPost
	ev.RequestContext.HTTP.Path = path
	ev.RequestContext.RequestID = id
	ev.RequestContext.DomainName = "h.example.com"
	for k := range h {
		ev.Headers[strings.ToLower(k)] = h.Get(k) // API Gateway sends lowercase names
	}
	return ev
}
