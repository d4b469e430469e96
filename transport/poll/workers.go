package poll

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// A parked poll's answer and the next request of a kept connection run on
// a few long-lived goroutines rather than on a new one each: a new
// goroutine's stack grows to the depth of a request every time (the
// reply, the query's parsing, the hub's subscribe), and at a publication
// a second to ten thousand long polls that copying was a tenth of the
// node's CPU per delivery. The hub's Wake and the poller's readiness call
// hand their work over without waiting (see workers.run): to an idle
// worker, or a new one up to the limit, or the queue the busy ones drain;
// a full queue gets a goroutine of its own, so nothing the hub or the
// poller does ever waits for a worker.
//
// Work that has to wait on its socket — a reply the socket cannot take at
// once, a request head that came in part — leaves the workers for a
// goroutine of its own (see conn.writeResponse, conn.next). What a request
// waits for inside the hub (a broker's history, presence) it waits for on
// its worker, under the hub's deadlines.

// task is one piece of work for the workers.
type task interface{ run() }

// workers is the Handler's pool. The zero value is not usable: see
// newWorkers.
type workers struct {
	tasks chan task
	max   int32
	n     atomic.Int32 // running
	idle  atomic.Int32 // waiting for a task
	quit  chan struct{}

	mu      sync.Mutex // orders a worker's start before stop's wait
	stopped bool
	wg      sync.WaitGroup
}

// workerIdle is how long a worker with nothing to do waits before it
// ends: longer than the gap between the bursts of a channel that
// publishes about once a second, so the same goroutines answer each one.
const workerIdle = 3 * time.Second

// queueLen is the queue's length: a publication to one channel wakes all
// its long polls in one burst, faster than any worker answers them.
const queueLen = 16 << 10

func newWorkers() *workers {
	return &workers{
		tasks: make(chan task, queueLen),
		max:   int32(max(8, 4*runtime.GOMAXPROCS(0))),
		quit:  make(chan struct{}),
	}
}

// run has t done by a worker, or by a goroutine of its own when the queue
// is full or the pool is stopping. It never waits.
func (w *workers) run(t task) {
	select {
	case w.tasks <- t:
	default:
		go t.run()
		return
	}
	select {
	case <-w.quit:
		w.drain() // the workers may be gone already
		return
	default:
	}
	if w.idle.Load() > 0 {
		return
	}
	for {
		n := w.n.Load()
		if n >= w.max {
			return
		}
		if w.n.CompareAndSwap(n, n+1) {
			w.start()
			return
		}
	}
}

// start starts a worker counted in n already, unless the pool stopped:
// then the queue is drained by goroutines of their own.
func (w *workers) start() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		w.n.Add(-1)
		w.drain()
		return
	}
	w.wg.Add(1)
	go w.work()
}

// work runs tasks until the pool has been idle for workerIdle or stops.
func (w *workers) work() {
	defer w.wg.Done()
	var idle *time.Timer
	defer func() {
		if idle != nil {
			idle.Stop()
		}
	}()
	for {
		select {
		case t := <-w.tasks:
			t.run()
			continue
		default:
		}
		if idle == nil {
			idle = time.NewTimer(workerIdle)
		} else {
			idle.Reset(workerIdle)
		}
		w.idle.Add(1)
		select {
		case t := <-w.tasks:
			w.idle.Add(-1)
			t.run()
		case <-idle.C:
			w.idle.Add(-1)
			w.n.Add(-1)
			// A task queued as this worker gave up, when no other was
			// running, still gets one.
			if len(w.tasks) > 0 && w.n.Load() == 0 {
				if w.n.CompareAndSwap(0, 1) {
					continue
				}
			}
			return
		case <-w.quit:
			w.idle.Add(-1)
			w.n.Add(-1)
			w.drain()
			return
		}
	}
}

// drain runs what is queued, each task on a goroutine of its own.
func (w *workers) drain() {
	for {
		select {
		case t := <-w.tasks:
			go t.run()
		default:
			return
		}
	}
}

// stop ends the workers once they are done with their tasks, and waits
// for them when wait is true; tasks handed over from then on get
// goroutines of their own.
func (w *workers) stop(wait bool) {
	w.mu.Lock()
	if !w.stopped {
		w.stopped = true
		close(w.quit)
	}
	w.mu.Unlock()
	if wait {
		w.wg.Wait()
	}
}
