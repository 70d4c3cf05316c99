package audit

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Sink stores a batch of events in one go (the store's InsertAudit).
type Sink func(ctx context.Context, evs []Event) error

// Batcher is a Recorder that queues events and writes them in batches from
// one goroutine, so that request handlers never wait for the database. A
// full queue blocks the caller briefly (up to Block) and then drops the
// event with an error log, rather than stalling the server; Close flushes
// what is queued.
//
// A batch is written when it is full or linger (200 ms) after its first event. Each
// write is a commit, and every commit makes each reader connection of the
// database drop its page cache at its next read; gathering events for a
// few milliseconds keeps a busy server from doing that hundreds of times a
// second. Events are queued in memory either way: a crash loses what was
// not yet written.
type Batcher struct {
	sink    Sink
	logger  *slog.Logger
	queue   chan Event
	done    chan struct{}
	closing sync.Once
	// Block bounds how long Record waits when the queue is full.
	Block time.Duration
}

// linger bounds how long the first event of a batch waits for others
// before the batch is written.
const linger = 200 * time.Millisecond

// NewBatcher starts a Batcher with room for size queued events.
func NewBatcher(sink Sink, size int, logger *slog.Logger) *Batcher {
	if size <= 0 {
		size = 4096
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	b := &Batcher{sink: sink, logger: logger, queue: make(chan Event, size), done: make(chan struct{}), Block: time.Second}
	go b.loop()
	return b
}

// Record queues ev.
func (b *Batcher) Record(ctx context.Context, ev Event) {
	if ev.At.IsZero() {
		ev.At = time.Now()
	}
	select {
	case b.queue <- ev:
		return
	default:
	}
	t := time.NewTimer(b.Block)
	defer t.Stop()
	select {
	case b.queue <- ev:
	case <-t.C:
		b.logger.ErrorContext(ctx, "audit queue full; event dropped", "kind", ev.Kind, "outcome", ev.Outcome)
	}
}

func (b *Batcher) loop() {
	defer close(b.done)
	const max = 512
	batch := make([]Event, 0, max)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for ev := range b.queue {
		batch = append(batch[:0], ev)
		timer.Reset(linger)
	fill:
		for len(batch) < max {
			select {
			case ev, ok := <-b.queue:
				if !ok {
					break fill
				}
				batch = append(batch, ev)
			case <-timer.C:
				break fill
			}
		}
		timer.Stop()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := b.sink(ctx, batch); err != nil {
			b.logger.Error("writing audit events failed", "count", len(batch), "err", err)
		}
		cancel()
	}
}

// Close flushes the queued events and stops the Batcher. Record must not
// be called after Close.
func (b *Batcher) Close() {
	b.closing.Do(func() { close(b.queue) })
	<-b.done
}
