package ingest

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/squall-automation/squall/workflows"
)

// batchStartTimeout bounds one batch start. It is not any caller's context:
// one sender giving up must not fail the start for the others.
const batchStartTimeout = 30 * time.Second

// startFunc makes a batch durable; duplicates[i] tells whether Temporal
// already had evs[i].
type startFunc func(ctx context.Context, evs []workflows.TriggerInstanceInput) (duplicates []bool, err error)

// batcher gathers events and makes each batch durable with one start
// (group commit). Batches are started at least a window apart, and at most
// maxInFlight at a time: at low load (the last start a window ago or more)
// an event is started at once; under load the open batch gathers what
// arrives until a window has passed since the last start and a start slot
// is free, so batches grow with the load and the time a start takes,
// instead of more small starts queueing on the store (SQLite has one
// writer, and each start also costs visibility records). A full batch is
// started at once (it queues for a slot). Every caller waits for its
// batch's start and shares its outcome.
type batcher struct {
	window   time.Duration
	maxN     int
	maxBytes int
	start    startFunc
	slots    chan struct{} // one token per start in flight

	mu  sync.Mutex
	cur *pending
	// lastStart is when the last batch was started: batches are started
	// at least a window apart, so under load each gathers what arrives in
	// a window, and every start (a workflow, its history, its visibility
	// records) is shared by that many events.
	lastStart time.Time
}

// pending is one batch, open while it gathers, then sealed and started.
type pending struct {
	evs   []workflows.TriggerInstanceInput
	index map[string]int // trigger instance ID -> position in evs
	bytes int
	timer *time.Timer
	ready bool // the window has passed: start as soon as a slot is free

	done       chan struct{} // closed when the start has returned
	err        error
	duplicates []bool
}

func newBatcher(window time.Duration, maxN, maxBytes, maxInFlight int, start startFunc) *batcher {
	return &batcher{window: window, maxN: maxN, maxBytes: maxBytes, start: start, slots: make(chan struct{}, maxInFlight)}
}

// add puts the event in the open batch and waits until that batch is
// durable. duplicate is true when the same trigger instance was already
// durable, or is already in this batch (a redelivery racing the first
// delivery); it is then not added twice. An error means the event was not
// accepted. When ctx ends first the event may still become durable, as with
// any start cut short: the sender retries, with its key if it has one.
func (b *batcher) add(ctx context.Context, ev workflows.TriggerInstanceInput) (duplicate bool, err error) {
	size := encodedSize(ev)
	b.mu.Lock()
	p := b.cur
	if p != nil {
		if i, ok := p.index[ev.ID]; ok {
			b.mu.Unlock()
			if _, err := p.wait(ctx, i); err != nil {
				return false, err
			}
			return true, nil
		}
		if p.bytes+size > b.maxBytes {
			b.sealFullLocked(p)
			p = nil
		}
	}
	if p == nil {
		p = &pending{index: map[string]int{}, done: make(chan struct{})}
		b.cur = p
		wait := time.Until(b.lastStart.Add(b.window))
		if wait <= 0 {
			// The last start was a window ago or more (low load): nothing
			// is gained by waiting, this event starts at once (as soon as
			// nothing is in flight), and those arriving meanwhile gather
			// behind it.
			p.ready = true
			wait = b.window
		}
		p.timer = time.AfterFunc(wait, func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			if b.cur == p {
				p.ready = true
				b.startReadyLocked()
			}
		})
	}
	i := len(p.evs)
	p.evs = append(p.evs, ev)
	p.index[ev.ID] = i
	p.bytes += size
	if len(p.evs) >= b.maxN || p.bytes >= b.maxBytes {
		b.sealFullLocked(p)
	} else if p.ready && len(b.slots) == 0 {
		b.startReadyLocked()
	}
	b.mu.Unlock()
	return p.wait(ctx, i)
}

// sealFullLocked closes the open batch p, which can take no more events,
// and starts it as soon as a slot is free. b.mu is held.
func (b *batcher) sealFullLocked(p *pending) {
	b.cur = nil
	p.timer.Stop()
	go func() {
		b.slots <- struct{}{}
		b.mu.Lock()
		b.lastStart = time.Now()
		b.mu.Unlock()
		b.run(p)
	}()
}

// startReadyLocked starts the open batch if its window has passed and a
// slot is free. b.mu is held.
func (b *batcher) startReadyLocked() {
	p := b.cur
	if p == nil || !p.ready {
		return
	}
	select {
	case b.slots <- struct{}{}:
		b.cur = nil
		b.lastStart = time.Now()
		go b.run(p)
	default:
		// Every slot is taken: p goes on gathering until one is freed.
	}
}

// run starts p, holding a slot, then frees the slot for the open batch.
func (b *batcher) run(p *pending) {
	ctx, cancel := context.WithTimeout(context.Background(), batchStartTimeout)
	p.duplicates, p.err = b.start(ctx, p.evs)
	cancel()
	close(p.done)
	<-b.slots
	b.mu.Lock()
	b.startReadyLocked()
	b.mu.Unlock()
}

// wait returns the outcome of event i of the batch.
func (p *pending) wait(ctx context.Context, i int) (bool, error) {
	select {
	case <-p.done:
		if p.err != nil {
			return false, p.err
		}
		return i < len(p.duplicates) && p.duplicates[i], nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// encodedSize estimates what the event weighs in the batch's workflow
// input, to keep batches under Temporal's payload size limit.
func encodedSize(ev workflows.TriggerInstanceInput) int {
	b, err := json.Marshal(ev)
	if err != nil {
		// The start will fail to encode it too, and report why.
		return 0
	}
	return len(b)
}
