package catalog

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/squall-automation/squall/activities"
	"github.com/squall-automation/squall/internal/testenv"
)

// The store is the activities' output sink.
var _ activities.OutputSink = (*Store)(nil)

func TestOutputAppendRead(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := New(testenv.Pool(t))
	exec := NewID()

	writes := []struct {
		attempt int32
		stream  string
		data    string
	}{
		{1, StreamStdout, "line 1\n"},
		{1, StreamStderr, "warn\n"},
		{1, StreamStdout, "line 2\n"},
		{2, StreamStdout, "retry\n"},
	}
	for _, w := range writes {
		if err := s.AppendOutput(ctx, exec, w.attempt, w.stream, []byte(w.data)); err != nil {
			t.Fatalf("AppendOutput: %v", err)
		}
	}
	// Another execution's output never shows up.
	if err := s.AppendOutput(ctx, NewID(), 1, StreamStdout, []byte("elsewhere\n")); err != nil {
		t.Fatal(err)
	}
	// Empty writes store nothing.
	if err := s.AppendOutput(ctx, exec, 1, StreamStdout, nil); err != nil {
		t.Fatal(err)
	}

	all, err := s.ReadOutput(ctx, exec, 0, "", 0)
	if err != nil {
		t.Fatalf("ReadOutput: %v", err)
	}
	if len(all) != len(writes) {
		t.Fatalf("ReadOutput returned %d chunks, want %d", len(all), len(writes))
	}
	for i, c := range all {
		w := writes[i]
		if c.ExecutionID != exec || c.Attempt != w.attempt || c.Stream != w.stream || c.Data != w.data || c.Timestamp.IsZero() {
			t.Errorf("chunk %d = %+v, want %+v", i, c, w)
		}
		if i > 0 && c.ID <= all[i-1].ID {
			t.Errorf("chunk IDs not increasing: %d after %d", c.ID, all[i-1].ID)
		}
	}

	tests := []struct {
		name    string
		afterID int64
		stream  string
		limit   int
		want    []string
	}{
		{"tail after first", all[0].ID, "", 0, []string{"warn\n", "line 2\n", "retry\n"}},
		{"stdout only", 0, StreamStdout, 0, []string{"line 1\n", "line 2\n", "retry\n"}},
		{"stderr only", 0, StreamStderr, 0, []string{"warn\n"}},
		{"limit", 0, "", 2, []string{"line 1\n", "warn\n"}},
		{"tail after last", all[len(all)-1].ID, "", 0, nil},
	}
	for _, tt := range tests {
		got, err := s.ReadOutput(ctx, exec, tt.afterID, tt.stream, tt.limit)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		var data []string
		for _, c := range got {
			data = append(data, c.Data)
		}
		if fmt.Sprint(data) != fmt.Sprint(tt.want) {
			t.Errorf("%s: ReadOutput = %q, want %q", tt.name, data, tt.want)
		}
	}

	if err := s.DeleteOutput(ctx, exec); err != nil {
		t.Fatalf("DeleteOutput: %v", err)
	}
	if got, err := s.ReadOutput(ctx, exec, 0, "", 0); err != nil || len(got) != 0 {
		t.Fatalf("ReadOutput after delete = %v, %v", got, err)
	}
	if err := s.DeleteOutput(ctx, exec); err != nil {
		t.Fatalf("DeleteOutput of nothing: %v", err)
	}
}

func TestOutputBinaryData(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := New(testenv.Pool(t))
	exec := NewID()
	if err := s.AppendOutput(ctx, exec, 1, StreamStdout, []byte("ok \xff\xfe\x00 end ✓")); err != nil {
		t.Fatalf("AppendOutput of binary data: %v", err)
	}
	got, err := s.ReadOutput(ctx, exec, 0, StreamStdout, 0)
	if err != nil || len(got) != 1 {
		t.Fatalf("ReadOutput = %v, %v", got, err)
	}
	if want := "ok \uFFFD\uFFFD end ✓"; got[0].Data != want {
		t.Fatalf("stored %q, want %q", got[0].Data, want)
	}
}

func TestOutputRejectsBadInput(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := New(testenv.Pool(t))
	if err := s.AppendOutput(ctx, NewID(), 1, "stdin", []byte("x")); err == nil {
		t.Error("AppendOutput to stream stdin succeeded")
	}
	if err := s.AppendOutput(ctx, "", 1, StreamStdout, []byte("x")); err == nil {
		t.Error("AppendOutput without an execution ID succeeded")
	}
	if _, err := s.ReadOutput(ctx, NewID(), 0, "both", 0); err == nil {
		t.Error("ReadOutput of stream both succeeded")
	}
	if _, err := s.ReadOutput(ctx, NewID(), 0, "", -1); err == nil {
		t.Error("ReadOutput with a negative limit succeeded")
	}
}

// Concurrent writers of one execution (stdout and stderr pumps) while a reader
// tails it: the reader must see every chunk exactly once, in ID order.
func TestOutputConcurrentTail(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := New(testenv.Pool(t))
	exec := NewID()
	const perWriter = 50

	var wg sync.WaitGroup
	for _, stream := range []string{StreamStdout, StreamStderr} {
		wg.Go(func() {
			for i := range perWriter {
				if err := s.AppendOutput(ctx, exec, 1, stream, fmt.Appendf(nil, "%s %d\n", stream, i)); err != nil {
					t.Errorf("AppendOutput: %v", err)
					return
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	var seen []OutputChunk
	var last int64
	tail := func() {
		chunks, err := s.ReadOutput(ctx, exec, last, "", 7)
		if err != nil {
			t.Fatalf("ReadOutput: %v", err)
		}
		for _, c := range chunks {
			if c.ID <= last {
				t.Fatalf("chunk %d after %d", c.ID, last)
			}
			last = c.ID
			seen = append(seen, c)
		}
	}
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true
		default:
		}
		tail()
	}
	for before := -1; before != len(seen); {
		before = len(seen)
		tail()
	}

	if len(seen) != 2*perWriter {
		t.Fatalf("tail saw %d chunks, want %d", len(seen), 2*perWriter)
	}
	next := map[string]int{}
	for _, c := range seen {
		want := fmt.Sprintf("%s %d\n", c.Stream, next[c.Stream])
		if c.Data != want {
			t.Fatalf("chunk %d = %q, want %q", c.ID, c.Data, want)
		}
		next[c.Stream]++
	}
	if !strings.HasPrefix(seen[0].ExecutionID, exec) {
		t.Fatalf("chunk of execution %q", seen[0].ExecutionID)
	}
}

// AppendOutput waits for the execution's output lock, which is what keeps
// IDs in commit order for tailing readers. Holding the lock in a transaction
// must hold the append back until the commit.
func TestOutputAppendTakesExecutionLock(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := testenv.Pool(t)
	s := New(pool)
	exec := NewID()

	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, hashtext($2))", lockExecutionOutput, exec); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.AppendOutput(ctx, exec, 1, StreamStdout, []byte("x")) }()
	select {
	case err := <-done:
		t.Fatalf("AppendOutput finished while the execution's lock was held: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	// Another execution is not held back.
	if err := s.AppendOutput(ctx, NewID(), 1, StreamStdout, []byte("y")); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("AppendOutput: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("AppendOutput still blocked after the lock was released")
	}
}
