package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// initErrorType is the Lambda-Runtime-Function-Error-Type of a failed init:
// the documented <category.reason> form.
const initErrorType = "Runtime.ConfigInvalid"

// reportInitError posts err to the Runtime API's /runtime/init/error, so
// Lambda records why this instance could not start (a bad sources document,
// an unreadable secret) instead of only "Runtime exited". The caller exits
// after it, as the Runtime API expects.
func reportInitError(ctx context.Context, api string, err error) error {
	body, _ := json.Marshal(struct {
		Message string   `json:"errorMessage"`
		Type    string   `json:"errorType"`
		Trace   []string `json:"stackTrace"`
	}{err.Error(), initErrorType, []string{}})
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, rerr := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+api+"/2018-06-01/runtime/init/error", bytes.NewReader(body))
	if rerr != nil {
		return rerr
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Lambda-Runtime-Function-Error-Type", initErrorType)
	resp, rerr := http.DefaultClient.Do(req)
	if rerr != nil {
		return fmt.Errorf("report init error: %w", rerr)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("report init error: runtime API answered %s", resp.Status)
	}
	return nil
}
