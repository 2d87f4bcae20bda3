// Package runtimeapi serves the Lambda Runtime API (version 2018-06-01) on
// loopback, for tests and benchmarks that run a real bootstrap binary: the
// documented paths GET /runtime/invocation/next, POST
// /runtime/invocation/<id>/response, POST /runtime/invocation/<id>/error and
// POST /runtime/init/error
// (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html).
//
// One invocation is in flight at a time, as in a Lambda execution
// environment: Invoke hands an event to the runtime's pending next call and
// waits for its response or error.
package runtimeapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

const prefix = "/2018-06-01/runtime/"

// Result is what the runtime posted for one invocation.
type Result struct {
	// Error is true for a POST …/<id>/error, false for …/<id>/response.
	Error bool
	// ErrorType is the Lambda-Runtime-Function-Error-Type header of an error.
	ErrorType string
	Body      []byte
	// Delivered is when the event was written to the runtime's next call,
	// Answered when its response or error arrived.
	Delivered, Answered time.Time
}

// InitError is what the runtime posted to /runtime/init/error.
type InitError struct {
	ErrorType string
	Body      []byte
	At        time.Time
}

// Server is one execution environment's Runtime API.
type Server struct {
	srv *http.Server
	l   net.Listener
	wg  sync.WaitGroup

	pending chan *invocation

	mu        sync.Mutex
	inflight  map[string]*invocation
	seq       int
	firstNext time.Time
	nextSeen  chan struct{} // closed at the first next call
	initErr   chan InitError
}

type invocation struct {
	id        string
	payload   []byte
	deadline  time.Time
	delivered time.Time
	done      chan Result
}

// New listens on 127.0.0.1 (a free port) and serves until Close.
func New() (*Server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{
		l:        l,
		pending:  make(chan *invocation),
		inflight: map[string]*invocation{},
		nextSeen: make(chan struct{}),
		initErr:  make(chan InitError, 1),
	}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 10 * time.Second}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = s.srv.Serve(l)
	}()
	return s, nil
}

// Addr is the value for AWS_LAMBDA_RUNTIME_API (host:port).
func (s *Server) Addr() string { return s.l.Addr().String() }

// Close stops serving; a runtime blocked in next gets its connection closed.
func (s *Server) Close() error {
	err := s.srv.Close()
	s.wg.Wait()
	return err
}

// NextSeen is closed when the runtime first asks for an invocation: the end
// of its init phase.
func (s *Server) NextSeen() <-chan struct{} { return s.nextSeen }

// FirstNext is when the runtime first asked for an invocation (zero before).
func (s *Server) FirstNext() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.firstNext
}

// InitErrors delivers the runtime's init error report, if it sends one.
func (s *Server) InitErrors() <-chan InitError { return s.initErr }

// Invoke hands payload (the event JSON) to the runtime and waits for its
// answer, or for ctx. The invocation's deadline (Lambda-Runtime-Deadline-Ms)
// is timeout from delivery.
func (s *Server) Invoke(ctx context.Context, payload []byte, timeout time.Duration) (Result, error) {
	s.mu.Lock()
	s.seq++
	inv := &invocation{id: "inv-" + strconv.Itoa(s.seq), payload: payload, done: make(chan Result, 1)}
	s.mu.Unlock()
	inv.deadline = time.Now().Add(timeout)
	select {
	case s.pending <- inv:
	case <-ctx.Done():
		return Result{}, fmt.Errorf("runtime never asked for the invocation: %w", ctx.Err())
	}
	select {
	case r := <-inv.done:
		return r, nil
	case <-ctx.Done():
		return Result{}, fmt.Errorf("no answer for %s: %w", inv.id, ctx.Err())
	}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	path, ok := strings.CutPrefix(r.URL.Path, prefix)
	switch {
	case !ok:
		http.NotFound(w, r)
	case path == "invocation/next" && r.Method == http.MethodGet:
		s.next(w, r)
	case path == "init/error" && r.Method == http.MethodPost:
		body, _ := io.ReadAll(r.Body)
		select {
		case s.initErr <- InitError{ErrorType: r.Header.Get("Lambda-Runtime-Function-Error-Type"), Body: body, At: time.Now()}:
		default: // a second report: the first is what counts
		}
		w.WriteHeader(http.StatusAccepted)
	case strings.HasPrefix(path, "invocation/") && r.Method == http.MethodPost:
		id, kind, _ := strings.Cut(strings.TrimPrefix(path, "invocation/"), "/")
		if kind != "response" && kind != "error" {
			http.NotFound(w, r)
			return
		}
		s.answer(w, r, id, kind == "error")
	default:
		http.Error(w, "not a Runtime API path", http.StatusNotFound)
	}
}

func (s *Server) next(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.firstNext.IsZero() {
		s.firstNext = time.Now()
		close(s.nextSeen)
	}
	s.mu.Unlock()
	select {
	case inv := <-s.pending:
		h := w.Header()
		h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
		h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(inv.deadline.UnixMilli(), 10))
		h.Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:receiver")
		h.Set("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000;Sampled=0")
		h.Set("Content-Type", "application/json")
		s.mu.Lock()
		inv.delivered = time.Now()
		s.inflight[inv.id] = inv
		s.mu.Unlock()
		_, _ = w.Write(inv.payload)
	case <-r.Context().Done():
	}
}

func (s *Server) answer(w http.ResponseWriter, r *http.Request, id string, isErr bool) {
	body, err := io.ReadAll(r.Body)
	at := time.Now()
	s.mu.Lock()
	inv, ok := s.inflight[id]
	delete(s.inflight, id)
	s.mu.Unlock()
	if !ok {
		// The real API answers 400 for an unknown or already answered id.
		http.Error(w, `{"errorMessage":"unknown request id","errorType":"InvalidRequestID"}`, http.StatusBadRequest)
		return
	}
	if err != nil {
		body = []byte(err.Error())
		isErr = true
	}
	inv.done <- Result{Error: isErr, ErrorType: r.Header.Get("Lambda-Runtime-Function-Error-Type"), Body: body,
		Delivered: inv.delivered, Answered: at}
	w.WriteHeader(http.StatusAccepted)
}

// ErrNoNext is returned by WaitNext when the runtime exits before asking.
var ErrNoNext = errors.New("runtime did not ask for an invocation")

// WaitNext waits until the runtime asks for its first invocation, it reports
// an init error, exited is closed, or ctx ends.
func (s *Server) WaitNext(ctx context.Context, exited <-chan struct{}) (time.Time, error) {
	select {
	case <-s.nextSeen:
		return s.FirstNext(), nil
	case ie := <-s.initErr:
		s.initErr <- ie // keep it for InitErrors
		return time.Time{}, fmt.Errorf("%w: init error %s: %s", ErrNoNext, ie.ErrorType, ie.Body)
	case <-exited:
		return time.Time{}, fmt.Errorf("%w: the process exited", ErrNoNext)
	case <-ctx.Done():
		return time.Time{}, fmt.Errorf("%w: %w", ErrNoNext, ctx.Err())
	}
}
