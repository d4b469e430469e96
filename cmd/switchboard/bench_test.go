package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/testkit"
)

// runBench runs "switchboard bench" with args against a launched node,
// unpinned, and decodes its JSON output into v.
func runBench(t *testing.T, v any, args ...string) {
	t.Helper()
	// The scenarios launch the switchboard command as the node and the
	// floor; the test binary is not it.
	bin := filepath.Join(t.TempDir(), "switchboard")
	if err := testkit.BuildSwitchboard(bin); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	var errOut testkit.Buffer // the node and the floor write their logs to it at once
	full := append([]string{"bench", "--node-binary", bin, "--server-cpu", "-1", "--client-cpu", "-1", "--json",
		"--sources", "127.0.0.1"}, args...)
	if code := run(ctx, full, &out, &errOut, nil); code != 0 {
		t.Fatalf("%v: exit %d: %s", args, code, errOut.String())
	}
	if err := json.Unmarshal(out.Bytes(), v); err != nil {
		t.Fatalf("%v: %v in %s", args, err, out.String())
	}
}

func TestBenchLadder(t *testing.T) {
	var rep ladderReport
	runBench(t, &rep, "broadcast", "--subscribers", "20", "--rates", "2,5", "--duration", "1s")
	// Per rate: the floor, then the node.
	if len(rep.Steps) != 4 {
		t.Fatalf("%d steps, want 4 (floor and websocket at 2 rates): %+v", len(rep.Steps), rep.Steps)
	}
	for i, s := range rep.Steps {
		wantRate, wantTransport := []float64{2, 5}[i/2], []string{"tcp", "websocket"}[i%2]
		if s.Rate != wantRate || s.Transport != wantTransport || s.Delivered == 0 {
			t.Errorf("step %d: %s at %v/s, %d delivered; want %s at %v/s", i, s.Transport, s.Rate, s.Delivered, wantTransport, wantRate)
		}
		// A verdict is what the figures say, whatever the machine's speed.
		want := s.Lost == 0 && s.Duplicates == 0 && s.Ended == 0 && s.Latency.P99 < rep.MaxP99
		if s.Passes != want {
			t.Errorf("step %d: passes %v with lost %d, p99 %v", i, s.Passes, s.Lost, s.Latency.P99)
		}
	}
	if rep.MaxP99 != 250*time.Millisecond {
		t.Errorf("max p99 %v, want the 250ms default", rep.MaxP99)
	}
	highest := 0.0
	for _, s := range rep.Steps {
		if s.Passes && s.Transport == "websocket" {
			highest = max(highest, s.Rate*20)
		}
	}
	if rep.Highest["websocket"] != highest {
		t.Errorf("highest passing %v, want %v", rep.Highest["websocket"], highest)
	}
}

// TestBenchLongPollFloor: long polling is read beside the long-poll floor,
// WebSocket beside the raw-TCP floor, each floor run once.
func TestBenchLongPollFloor(t *testing.T) {
	var rows []loadRow
	runBench(t, &rows, "broadcast", "--subscribers", "20", "--rate", "5", "--duration", "1s",
		"--transport", "longpoll,websocket")
	var got []string
	for _, r := range rows {
		got = append(got, r.Transport)
		if r.Delivered == 0 || r.Lost != 0 || r.Duplicates != 0 {
			t.Errorf("%s: delivered %d, lost %d, duplicated %d", r.Transport, r.Delivered, r.Lost, r.Duplicates)
		}
	}
	want := []string{"longpoll-floor", "tcp", "longpoll", "websocket"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("rows %v, want %v", got, want)
	}
	for _, r := range rows[2:] {
		if r.DeliveriesVsFloor <= 0 {
			t.Errorf("%s: no ratio to its floor: %+v", r.Transport, r)
		}
	}
}

func TestBenchConnect(t *testing.T) {
	var rows []struct {
		Transport string  `json:"transport"`
		Connected int     `json:"connected"`
		PerSec    float64 `json:"connects_per_sec"`
	}
	runBench(t, &rows, "connect", "--conns", "50", "--concurrency", "10")
	if len(rows) != 2 || rows[0].Transport != "websocket" || rows[1].Transport != "websocket+tls" {
		t.Fatalf("rows %+v, want websocket then websocket+tls", rows)
	}
	for _, r := range rows {
		if r.Connected != 50 || r.PerSec <= 0 {
			t.Errorf("%+v: want 50 connected at some rate", r)
		}
	}
}

func TestBenchPresence(t *testing.T) {
	var res struct {
		Connected int   `json:"connected"`
		Pushes    int64 `json:"pushes_received"`
	}
	runBench(t, &res, "presence", "--subscribers", "50", "--concurrency", "10")
	if res.Connected != 50 || res.Pushes < 50 {
		t.Errorf("%+v: want 50 connected, each hearing at least its own join", res)
	}
}

// TestBenchGRPC: --transport grpc reaches every scenario that takes it.
func TestBenchGRPC(t *testing.T) {
	var idle []struct {
		Transport  string  `json:"transport"`
		Goroutines float64 `json:"goroutines_per_conn"`
	}
	runBench(t, &idle, "idle", "--conns", "20", "--channels", "2", "--transport", "websocket,grpc")
	if len(idle) != 2 || idle[0].Transport != "websocket" || idle[1].Transport != "grpc" {
		t.Errorf("idle rows %+v, want websocket then grpc", idle)
	}
	var load []struct {
		Transport string `json:"transport"`
		Delivered int64  `json:"delivered"`
		Lost      int64  `json:"lost"`
	}
	runBench(t, &load, "broadcast", "--subscribers", "20", "--rate", "20", "--duration", "1s", "--transport", "grpc")
	if len(load) != 2 || load[0].Transport != "tcp" || load[1].Transport != "grpc" || load[1].Delivered == 0 || load[1].Lost != 0 {
		t.Errorf("broadcast rows %+v, want the floor then grpc, all delivered", load)
	}
	var storm []struct {
		Transport string `json:"transport"`
		Delivered int64  `json:"delivered"`
		Lost      int64  `json:"lost"`
		Dups      int64  `json:"duplicates"`
	}
	runBench(t, &storm, "storm", "--clients", "20", "--channels", "4", "--before", "300ms", "--after", "300ms", "--transport", "grpc")
	if len(storm) != 1 || storm[0].Transport != "grpc" || storm[0].Delivered == 0 || storm[0].Lost != 0 || storm[0].Dups != 0 {
		t.Errorf("storm rows %+v, want grpc with nothing lost or repeated", storm)
	}
}
