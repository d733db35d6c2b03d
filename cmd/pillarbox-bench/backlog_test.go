package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The backlog mode queues its messages in the data directory it is
// given, drains them through the relay to its sink, and reports every
// one delivered with the queue empty, within the connection limits.
func TestBacklogMode(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"backlog", "--data", dir, "--sink", "127.0.0.1:0", "-n", "300", "--domains", "30",
		"--size", "1500", "--max-connections", "6", "--per-domain", "2", "--dkim=false", "--json"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	var res struct {
		Messages, Relayed, Duplicates, Left int
		MaxSinkConns                        int     `json:"max_sink_conns"`
		EmptyS                              float64 `json:"empty_s"`
		MsgPerS                             float64 `json:"msg_per_s"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("output %q: %v", stdout.String(), err)
	}
	if res.Messages != 300 || res.Relayed != 300 || res.Duplicates != 0 || res.Left != 0 {
		t.Errorf("result %+v, want 300 relayed, none duplicated or left", res)
	}
	if res.MaxSinkConns < 1 || res.MaxSinkConns > 6 {
		t.Errorf("%d connections at once at the sink, want 1 to 6", res.MaxSinkConns)
	}
	if res.EmptyS <= 0 || res.MsgPerS <= 0 {
		t.Errorf("implausible figures: %+v", res)
	}
	if !strings.Contains(stderr.String(), "delivered  300 of 300") {
		t.Errorf("summary:\n%s", stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "pillarbox.db")); err != nil {
		t.Errorf("the queue was not built in --data: %v", err)
	}
}

// A data directory with something in it is refused: the queue would hold
// more than this run's messages.
func TestBacklogRefusesUsedDataDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pillarbox.db"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := run(context.Background(), []string{"backlog", "--data", dir, "--sink", "127.0.0.1:0", "-n", "1"}, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "is not empty") {
		t.Fatalf("err = %v, want a refusal of the used directory", err)
	}
}
