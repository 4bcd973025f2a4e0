package groupcommit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"
)

// recorder is an Applier that records batches; gate (if set) holds each Apply until
// the test sends on it; fail decides per-item results.
type recorder struct {
	mu      sync.Mutex
	batches [][]int
	gate    chan struct{}
	started chan struct{} // receives once per Apply call, when set
	fail    func(item int) error
	err     error
	panics  bool
	short   bool
}

func (r *recorder) Apply(ctx context.Context, items []int) ([]error, error) {
	if r.started != nil {
		r.started <- struct{}{}
	}
	if r.gate != nil {
		select {
		case <-r.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	r.mu.Lock()
	r.batches = append(r.batches, slices.Clone(items))
	r.mu.Unlock()
	if r.panics {
		panic("boom")
	}
	if r.err != nil {
		return nil, r.err
	}
	res := make([]error, len(items))
	if r.short {
		return res[:len(res)-1], nil
	}
	for i, it := range items {
		if r.fail != nil {
			res[i] = r.fail(it)
		}
	}
	return res, nil
}

func (r *recorder) sizes() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int
	for _, b := range r.batches {
		out = append(out, len(b))
	}
	return out
}

func newCommitter(t *testing.T, cfg Config, a Applier[int]) *Committer[int] {
	t.Helper()
	cfg.Logger = slog.New(slog.DiscardHandler)
	c, err := New[int](cfg, a)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// submitAll submits items concurrently and returns their results by item.
func submitAll(ctx context.Context, c *Committer[int], items []int) map[int]error {
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		out = map[int]error{}
	)
	for _, it := range items {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := c.Submit(ctx, it)
			mu.Lock()
			out[it] = err
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

func waitQueued(t *testing.T, c *Committer[int], n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(c.queue) < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d items queued", len(c.queue), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestNextBatchStartsWhenPreviousCommitFinishes(t *testing.T) {
	rec := &recorder{gate: make(chan struct{}), started: make(chan struct{}, 10)}
	c := newCommitter(t, Config{MaxBatch: 64}, rec)
	ctx := context.Background()

	firstDone := make(chan error, 1)
	go func() { firstDone <- c.Submit(ctx, 0) }()
	<-rec.started // the writer is busy with item 0

	items := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	results := make(chan map[int]error, 1)
	go func() { results <- submitAll(ctx, c, items) }()
	waitQueued(t, c, len(items))

	rec.gate <- struct{}{} // commit the first batch
	if err := <-firstDone; err != nil {
		t.Fatalf("first item: %v", err)
	}
	<-rec.started
	rec.gate <- struct{}{}
	for it, err := range <-results {
		if err != nil {
			t.Errorf("item %d: %v", it, err)
		}
	}
	if got := rec.sizes(); !slices.Equal(got, []int{1, 10}) {
		t.Errorf("batch sizes = %v, want [1 10]: everything waiting goes in the next batch", got)
	}
}

func TestMaxBatch(t *testing.T) {
	rec := &recorder{gate: make(chan struct{}), started: make(chan struct{}, 10)}
	c := newCommitter(t, Config{MaxBatch: 4}, rec)
	ctx := context.Background()
	go func() { _ = c.Submit(ctx, 0) }()
	<-rec.started
	results := make(chan map[int]error, 1)
	go func() { results <- submitAll(ctx, c, []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}) }()
	waitQueued(t, c, 4) // the queue holds MaxBatch; the rest wait to be queued
	go func() {
		for range 4 {
			rec.gate <- struct{}{}
		}
	}()
	for it, err := range <-results {
		if err != nil {
			t.Errorf("item %d: %v", it, err)
		}
	}
	for _, n := range rec.sizes() {
		if n > 4 {
			t.Errorf("batch of %d items, MaxBatch is 4 (sizes %v)", n, rec.sizes())
		}
	}
}

func TestPerItemResults(t *testing.T) {
	errBad := errors.New("bad item")
	rec := &recorder{fail: func(it int) error {
		if it%3 == 0 {
			return fmt.Errorf("item %d: %w", it, errBad)
		}
		return nil
	}}
	c := newCommitter(t, Config{}, rec)
	items := make([]int, 50)
	for i := range items {
		items[i] = i
	}
	for it, err := range submitAll(context.Background(), c, items) {
		if want := it%3 == 0; errors.Is(err, errBad) != want || (!want && err != nil) {
			t.Errorf("item %d: %v (want error: %v)", it, err, want)
		}
	}
}

func TestBatchFailures(t *testing.T) {
	errDown := errors.New("database down")
	tests := []struct {
		name string
		rec  *recorder
	}{
		{"transaction failed", &recorder{err: errDown}},
		{"applier panicked", &recorder{panics: true}},
		{"results missing", &recorder{short: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newCommitter(t, Config{}, tc.rec)
			for it, err := range submitAll(context.Background(), c, []int{1, 2, 3}) {
				if err == nil {
					t.Errorf("item %d: nil error from a failed batch", it)
				}
			}
			// The writer survives and keeps committing.
			tc.rec.err, tc.rec.panics, tc.rec.short = nil, false, false
			if err := c.Submit(context.Background(), 4); err != nil {
				t.Errorf("after a failed batch: %v", err)
			}
		})
	}
}

func TestCloseFlushesAndRefuses(t *testing.T) {
	rec := &recorder{gate: make(chan struct{}), started: make(chan struct{}, 10)}
	c, err := New[int](Config{MaxBatch: 8}, rec)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	go func() { _ = c.Submit(ctx, 0) }()
	<-rec.started
	results := make(chan map[int]error, 1)
	go func() { results <- submitAll(ctx, c, []int{1, 2, 3}) }()
	waitQueued(t, c, 3)
	closed := make(chan error, 1)
	go func() { closed <- c.Close(ctx) }()
	go func() {
		for range 2 {
			rec.gate <- struct{}{}
		}
	}()
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	for it, err := range <-results {
		if err != nil {
			t.Errorf("item %d queued before Close: %v", it, err)
		}
	}
	if err := c.Submit(ctx, 9); !errors.Is(err, ErrClosed) {
		t.Errorf("Submit after Close = %v, want ErrClosed", err)
	}
	if got := rec.sizes(); !slices.Equal(got, []int{1, 3}) {
		t.Errorf("batch sizes = %v, want [1 3]", got)
	}
}

func TestCloseHonoursContext(t *testing.T) {
	rec := &recorder{gate: make(chan struct{}), started: make(chan struct{}, 1)}
	c, err := New[int](Config{}, rec)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = c.Submit(context.Background(), 1) }()
	<-rec.started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Close with a stuck batch = %v, want context.Canceled", err)
	}
	rec.gate <- struct{}{}
	if err := c.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestCancelledCallerIsNotWritten(t *testing.T) {
	rec := &recorder{gate: make(chan struct{}), started: make(chan struct{}, 10)}
	c := newCommitter(t, Config{}, rec)
	go func() { _ = c.Submit(context.Background(), 0) }()
	<-rec.started
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Submit(ctx, 1) }()
	waitQueued(t, c, 1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Submit = %v, want context.Canceled", err)
	}
	go func() {
		for range 2 {
			rec.gate <- struct{}{}
		}
	}()
	if err := c.Submit(context.Background(), 2); err != nil { // flows through after the drop
		t.Fatal(err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, b := range rec.batches {
		if slices.Contains(b, 1) {
			t.Errorf("batches %v include the cancelled item", rec.batches)
		}
	}
}

func TestFlushInterval(t *testing.T) {
	t.Run("full batch does not wait for the interval", func(t *testing.T) {
		rec := &recorder{}
		c := newCommitter(t, Config{MaxBatch: 3, FlushInterval: time.Hour}, rec)
		for it, err := range submitAll(context.Background(), c, []int{1, 2, 3}) {
			if err != nil {
				t.Errorf("item %d: %v", it, err)
			}
		}
	})
	t.Run("partial batch commits when the interval passes", func(t *testing.T) {
		rec := &recorder{}
		c := newCommitter(t, Config{MaxBatch: 100, FlushInterval: 5 * time.Millisecond}, rec)
		if err := c.Submit(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("close ends the wait", func(t *testing.T) {
		rec := &recorder{}
		c, err := New[int](Config{MaxBatch: 100, FlushInterval: time.Hour}, rec)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- c.Submit(context.Background(), 1) }()
		for !c.lingering.Load() {
			time.Sleep(time.Millisecond) // until the writer holds the item and waits
		}
		if err := c.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("item pending at Close: %v", err)
		}
	})
}

func TestObserve(t *testing.T) {
	type obs struct {
		size int
		err  bool
	}
	var (
		mu  sync.Mutex
		got []obs
	)
	rec := &recorder{}
	c := newCommitter(t, Config{Observe: func(size int, elapsed time.Duration, err error) {
		if elapsed < 0 {
			t.Errorf("negative duration %v", elapsed)
		}
		mu.Lock()
		got = append(got, obs{size, err != nil})
		mu.Unlock()
	}}, rec)
	if err := c.Submit(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	rec.err = errors.New("down")
	if err := c.Submit(context.Background(), 2); err == nil {
		t.Fatal("want the batch error")
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(got, []obs{{1, false}, {1, true}}) {
		t.Errorf("observed %v", got)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"negative batch", Config{MaxBatch: -1}},
		{"negative interval", Config{FlushInterval: -time.Second}},
		{"negative timeout", Config{CommitTimeout: -time.Second}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New[int](tc.cfg, &recorder{}); err == nil {
				t.Error("New accepted an invalid config")
			}
		})
	}
	if _, err := New[int](Config{}, nil); err == nil {
		t.Error("New accepted a nil applier")
	}
}
