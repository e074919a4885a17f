package ingest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/squall-automation/squall/workflows"
)

// starts records the batches a batcher starts, and answers with err.
type starts struct {
	mu      sync.Mutex
	batches [][]string // trigger instance IDs per start
	at      []time.Time
	err     error
	block   chan struct{} // when set, each start waits for it to close
	// held: a start holding this event waits for holdCh to close.
	held   string
	holdCh chan struct{}
}

func (s *starts) start(ctx context.Context, evs []workflows.TriggerInstanceInput) ([]bool, error) {
	if s.block != nil {
		<-s.block
	}
	for _, ev := range evs {
		if s.held != "" && ev.ID == s.held {
			<-s.holdCh
		}
	}
	ids := make([]string, len(evs))
	for i, ev := range evs {
		ids[i] = ev.ID
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches = append(s.batches, ids)
	s.at = append(s.at, time.Now())
	if s.err != nil {
		return nil, s.err
	}
	return make([]bool, len(evs)), nil
}

func (s *starts) sizes() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]int, len(s.batches))
	for i, b := range s.batches {
		out[i] = len(b)
	}
	sort.Ints(out)
	return out
}

func ev(id string) workflows.TriggerInstanceInput {
	return workflows.TriggerInstanceInput{ID: id, TriggerType: "core.st2.webhook", Payload: map[string]any{"n": id}}
}

// addAll adds n events concurrently (IDs prefix-0..n-1) and returns each
// caller's error.
func addAll(b *batcher, prefix string, n int) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, errs[i] = b.add(context.Background(), ev(fmt.Sprintf("%s-%d", prefix, i)))
		})
	}
	wg.Wait()
	return errs
}

// pilot puts a start in flight that lasts until release is called, the
// state of a loaded batcher; the pilot's own outcome arrives on done.
func pilot(t *testing.T, b *batcher, s *starts) (release func(), done <-chan error) {
	t.Helper()
	s.held, s.holdCh = "pilot", make(chan struct{})
	ch := make(chan error, 1)
	go func() {
		_, err := b.add(context.Background(), ev("pilot"))
		ch <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for len(b.slots) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the pilot event was not started")
		}
		time.Sleep(time.Millisecond)
	}
	return func() { close(s.holdCh) }, ch
}

// At low load (the last start a window ago or more) an event is started at
// once, without waiting out the window.
func TestBatcherStartsALoneEventAtOnce(t *testing.T) {
	s := &starts{}
	window := 300 * time.Millisecond
	b := newBatcher(window, 1000, 1<<20, 4, s.start)
	for i, id := range []string{"lone", "next"} {
		if i > 0 {
			time.Sleep(window + 50*time.Millisecond)
		}
		t0 := time.Now()
		if _, err := b.add(context.Background(), ev(id)); err != nil {
			t.Fatal(err)
		}
		if waited := time.Since(t0); waited > window/2 {
			t.Fatalf("event %s waited %s at low load", id, waited)
		}
	}
	if got := s.sizes(); fmt.Sprint(got) != "[1 1]" {
		t.Fatalf("batch sizes %v, want two of one", got)
	}
}

func TestBatcherGathersConcurrentEventsInOneStart(t *testing.T) {
	s := &starts{}
	b := newBatcher(200*time.Millisecond, 1000, 1<<20, 4, s.start)
	release, pilotDone := pilot(t, b, s)
	for i, err := range addAll(b, "e", 50) {
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	release()
	if err := <-pilotDone; err != nil {
		t.Fatal(err)
	}
	if got := s.sizes(); fmt.Sprint(got) != "[1 50]" {
		t.Fatalf("batch sizes %v, want the pilot and one batch of 50", got)
	}
}

// Under load batches are started a window apart, even when the previous
// start has ended, and no more than that.
func TestBatcherWindowBoundsTheWait(t *testing.T) {
	s := &starts{}
	window := 80 * time.Millisecond
	b := newBatcher(window, 1000, 1<<20, 4, s.start)
	t0 := time.Now()
	release, pilotDone := pilot(t, b, s)
	time.Sleep(10 * time.Millisecond)
	release()
	if err := <-pilotDone; err != nil {
		t.Fatal(err)
	}
	if _, err := b.add(context.Background(), ev("second")); err != nil {
		t.Fatal(err)
	}
	waited := time.Since(t0)
	if waited < window {
		t.Fatalf("the next batch was started %s after the last, within the %s window", waited, window)
	}
	if waited > window+500*time.Millisecond {
		t.Fatalf("the next batch was started %s after the last, for a %s window", waited, window)
	}
}

func TestBatcherStartsAFullBatchAtOnce(t *testing.T) {
	s := &starts{}
	// A window no test waits for: only the size can start these batches.
	b := newBatcher(time.Hour, 3, 1<<20, 4, s.start)
	release, _ := pilot(t, b, s)
	defer release()
	done := make(chan []error)
	go func() { done <- addAll(b, "e", 9) }()
	select {
	case errs := <-done:
		for i, err := range errs {
			if err != nil {
				t.Fatalf("event %d: %v", i, err)
			}
		}
	case <-time.After(10 * time.Second):
		t.Fatal("full batches were not started before the window")
	}
	if got := s.sizes(); fmt.Sprint(got) != "[3 3 3]" {
		t.Fatalf("batch sizes %v, want [3 3 3] while the pilot is still starting", got)
	}
}

func TestBatcherSplitsByEncodedSize(t *testing.T) {
	s := &starts{}
	one := encodedSize(ev("e-0"))
	// Room for two events per batch, not three.
	b := newBatcher(100*time.Millisecond, 1000, 2*one+one/2, 4, s.start)
	for i, err := range addAll(b, "e", 6) {
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	for _, n := range s.sizes() {
		if n > 2 {
			t.Fatalf("batch sizes %v exceed two events' bytes", s.sizes())
		}
	}
}

func TestBatcherFansAStartErrorOutToEveryWaiter(t *testing.T) {
	boom := errors.New("temporal unavailable")
	s := &starts{err: boom}
	b := newBatcher(50*time.Millisecond, 1000, 1<<20, 4, s.start)
	for i, err := range addAll(b, "e", 20) {
		if !errors.Is(err, boom) {
			t.Fatalf("event %d: got %v, want the start's error", i, err)
		}
	}
	// The failure does not stick: the next batch starts afresh.
	s.mu.Lock()
	s.err = nil
	s.mu.Unlock()
	if _, err := b.add(context.Background(), ev("retry")); err != nil {
		t.Fatalf("after a failed batch: %v", err)
	}
}

func TestBatcherCountsARedeliveryInTheSameBatchOnce(t *testing.T) {
	s := &starts{}
	b := newBatcher(100*time.Millisecond, 1000, 1<<20, 4, s.start)
	release, _ := pilot(t, b, s)
	defer release()
	dups := make([]bool, 4)
	var wg sync.WaitGroup
	for i := range dups {
		wg.Go(func() {
			var err error
			if dups[i], err = b.add(context.Background(), ev("same")); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	n := 0
	for _, d := range dups {
		if !d {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("duplicates %v: want exactly one first delivery", dups)
	}
	if got := s.sizes(); fmt.Sprint(got) != "[1]" {
		t.Fatalf("batch sizes %v, want the event once (the pilot is still starting)", got)
	}
}

func TestBatcherWaiterGivesUpWithItsContext(t *testing.T) {
	s := &starts{block: make(chan struct{})}
	b := newBatcher(30*time.Millisecond, 1000, 1<<20, 4, s.start)
	other := make(chan error, 1)
	go func() {
		_, err := b.add(context.Background(), ev("patient"))
		other <- err
	}()
	time.Sleep(5 * time.Millisecond) // "patient" is starting, and blocks
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := b.add(ctx, ev("impatient")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the caller's deadline", err)
	}
	// One sender giving up does not cancel the start for the others.
	close(s.block)
	if err := <-other; err != nil {
		t.Fatalf("the other waiter: %v", err)
	}
	// The impatient event's start was not called off either: its sender
	// retries, and the retry is the same trigger instance.
	deadline := time.Now().Add(5 * time.Second)
	for fmt.Sprint(s.sizes()) != "[1 1]" {
		if time.Now().After(deadline) {
			t.Fatalf("batch sizes %v, want both events started", s.sizes())
		}
		time.Sleep(time.Millisecond)
	}
}

// While every start slot is taken, the open batch keeps gathering past its
// window and goes in one start when a slot is freed.
func TestBatcherGathersWhileStartsAreInFlight(t *testing.T) {
	s := &starts{block: make(chan struct{})}
	b := newBatcher(10*time.Millisecond, 1000, 1<<20, 1, s.start)
	first := make(chan error, 1)
	go func() {
		_, err := b.add(context.Background(), ev("first"))
		first <- err
	}()
	time.Sleep(30 * time.Millisecond) // first's window passed: its start holds the slot
	rest := make(chan []error, 1)
	go func() { rest <- addAll(b, "later", 5) }()
	time.Sleep(60 * time.Millisecond) // several windows pass meanwhile
	close(s.block)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for i, err := range <-rest {
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	if got := s.sizes(); fmt.Sprint(got) != "[1 5]" {
		t.Fatalf("batch sizes %v, want [1 5]", got)
	}
}
