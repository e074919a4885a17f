package filewatch

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/squall-automation/squall/catalog"
	"github.com/squall-automation/squall/ingest"
)

type lines struct {
	mu  sync.Mutex
	got []ingest.Event
}

func (l *lines) dispatch(_ context.Context, ev ingest.Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, ev)
	return nil
}

func (l *lines) texts() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, ev := range l.got {
		out = append(out, fmt.Sprintf("%s:%s", filepath.Base(ev.Payload["file_path"].(string)), ev.Payload["line"]))
	}
	return out
}

func appendTo(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func trig(path string) catalog.Trigger {
	return catalog.Trigger{ID: path, Ref: "linux." + filepath.Base(path), Type: TriggerType,
		Parameters: map[string]any{"file_path": path}}
}

// start runs the sensor on triggers until the test ends.
func start(t *testing.T, ts ...catalog.Trigger) (*lines, chan []catalog.Trigger) {
	t.Helper()
	got := &lines{}
	ch := make(chan []catalog.Trigger, 1)
	ch <- ts
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Triggers: ch, Dispatch: got.dispatch, PollInterval: 10 * time.Millisecond,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	})
	time.Sleep(50 * time.Millisecond) // the files are opened (at their end)
	return got, ch
}

func waitFor(t *testing.T, got *lines, want ...string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		have := got.texts()
		if fmt.Sprint(have) == fmt.Sprint(want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("lines = %q, want %q", have, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFollowsAppendedLinesOnly(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.log")
	appendTo(t, path, "before\n")
	got, _ := start(t, trig(path))
	appendTo(t, path, "one\r\ntw")
	time.Sleep(50 * time.Millisecond) // a partial line waits for its newline
	appendTo(t, path, "o\n\nthree\n")
	waitFor(t, got, "a.log:one", "a.log:two", "a.log:", "a.log:three")
	got.mu.Lock()
	ev := got.got[0]
	got.mu.Unlock()
	if ev.TriggerType != TriggerType || ev.TriggerParams["file_path"] != path || ev.Payload["file_name"] != "a.log" {
		t.Errorf("event = %+v", ev)
	}
}

func TestRotationAndTruncation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	appendTo(t, path, "")
	got, _ := start(t, trig(path))

	appendTo(t, path, "1\n")
	waitFor(t, got, "app.log:1")
	// Rotation: rename away, a writer finishes the old file, a new file
	// appears at the path.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendTo(t, path+".1", "2\n")
	appendTo(t, path, "3\n")
	waitFor(t, got, "app.log:1", "app.log:2", "app.log:3")

	// Truncation (copytruncate): start over from the beginning.
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	appendTo(t, path, "4\n")
	waitFor(t, got, "app.log:1", "app.log:2", "app.log:3", "app.log:4")
}

func TestMissingFileAndTriggerChanges(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	got, ch := start(t, trig(a))
	// a does not exist yet: it is read from its start once it appears.
	appendTo(t, a, "born\n")
	waitFor(t, got, "a.log:born")

	appendTo(t, b, "")
	ch <- []catalog.Trigger{trig(b)} // a's rule is gone, b's is new
	time.Sleep(50 * time.Millisecond)
	appendTo(t, a, "ignored\n")
	appendTo(t, b, "seen\n")
	waitFor(t, got, "a.log:born", "b.log:seen")
}
