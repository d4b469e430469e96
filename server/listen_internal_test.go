package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

// fakeListener hands out what is sent on next, one item per Accept: a
// net.Conn, or an error. With nothing to hand out it blocks until closed.
type fakeListener struct {
	next   chan any
	calls  atomic.Int64
	closed chan struct{}
	once   sync.Once
}

func newFake(items ...any) *fakeListener {
	f := &fakeListener{next: make(chan any, len(items)+8), closed: make(chan struct{})}
	for _, it := range items {
		f.next <- it
	}
	return f
}

func (f *fakeListener) Accept() (net.Conn, error) {
	f.calls.Add(1)
	select {
	case it := <-f.next:
		if c, ok := it.(net.Conn); ok {
			return c, nil
		}
		return nil, it.(error)
	case <-f.closed:
		return nil, net.ErrClosed
	}
}

func (f *fakeListener) Close() error {
	f.once.Do(func() { close(f.closed) })
	return nil
}

func (f *fakeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

func (f *fakeListener) Calls() int { return int(f.calls.Load()) }

// emfile is the error accept returns when the process is out of
// descriptors.
var emfile = &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}

// records keeps the log lines of a test.
type records struct {
	mu    sync.Mutex
	lines []slog.Record
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, rec)
	return nil
}
func (r *records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *records) WithGroup(string) slog.Handler      { return r }

// counted sums the "count" attributes of the lines logged.
func (r *records) counted() (lines, total int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range r.lines {
		rec.Attrs(func(a slog.Attr) bool {
			if a.Key == "count" {
				total += int(a.Value.Int64())
			}
			return true
		})
	}
	return len(r.lines), total
}

// TestAcceptErrorsBackOff: a listener that fails every accept is retried
// with a backoff that grows to a second, not in a spin, and logged once a
// second with a count rather than once per failure.
func TestAcceptErrorsBackOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errs := make([]any, 1000)
		for i := range errs {
			errs[i] = emfile
		}
		fake := newFake(errs...)
		rec := &records{}
		l := newListener(fake, 10, slog.New(rec))
		// No spare descriptor: the backoff is all that is left.
		l.spare.Close()
		l.spare = nil
		done := make(chan error, 1)
		go func() {
			_, err := l.Accept()
			done <- err
		}()
		time.Sleep(30 * time.Second)
		synctest.Wait()
		calls := fake.Calls()
		// 5ms doubling to 1s is 9 tries in the first 2.6s, then one a
		// second: 37 in 30s. A spin would use up the script.
		if calls > 40 || calls < 30 {
			t.Errorf("%d accepts in 30s of failures, want about 37 (backoff capped at 1s)", calls)
		}
		if lines, _ := rec.counted(); lines > 31 {
			t.Errorf("%d log lines in 30s, want at most one a second", lines)
		}
		l.Close()
		if err := <-done; !errors.Is(err, net.ErrClosed) {
			t.Errorf("Accept after Close: %v, want net.ErrClosed", err)
		}
		if _, total := rec.counted(); total != calls {
			t.Errorf("log lines count %d failures, want all %d", total, calls)
		}
	})
}

// TestAcceptShedsWhenOutOfFiles: out of descriptors, the listener frees its
// spare one to take the waiting client off the backlog and close it at
// once, and goes on accepting without waiting.
func TestAcceptShedsWhenOutOfFiles(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		shedServer, shedClient := net.Pipe()
		okServer, okClient := net.Pipe()
		defer shedClient.Close()
		defer okClient.Close()
		fake := newFake(emfile, shedServer, okServer)
		l := newListener(fake, 10, slog.New(slog.DiscardHandler))
		defer l.Close()
		if l.spare == nil {
			t.Fatal("no spare descriptor")
		}
		start := time.Now()
		c, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if c.(*trackedConn).Conn != okServer {
			t.Error("Accept returned the shed connection")
		}
		if _, err := shedClient.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("the shed client reads %v, want EOF (closed at once)", err)
		}
		if d := time.Since(start); d != 0 {
			t.Errorf("shedding waited %s, want no backoff", d)
		}
		if l.spare == nil {
			t.Error("the spare descriptor was not taken back")
		}
	})
}

// TestListenerCap: beyond its cap the listener closes new connections at
// once, and takes them again when one of those it handed out closes.
func TestListenerCap(t *testing.T) {
	var servers, clients []net.Conn
	for range 4 {
		s, c := net.Pipe()
		servers, clients = append(servers, s), append(clients, c)
		defer c.Close()
	}
	fake := newFake(servers[0], servers[1], servers[2])
	l := newListener(fake, 2, slog.New(slog.DiscardHandler))
	a, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if l.Open() != 2 {
		t.Fatalf("%d open, want 2", l.Open())
	}
	// The third is over the cap: Accept closes it and waits for the next.
	next := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		next <- c
	}()
	if _, err := clients[2].Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("over the cap the client reads %v, want EOF", err)
	}
	a.Close()
	a.Close() // twice counts once
	if l.Open() != 1 {
		t.Fatalf("%d open after a close, want 1", l.Open())
	}
	fake.next <- servers[3]
	c := <-next
	if c == nil || c.(*trackedConn).Conn != servers[3] {
		t.Fatalf("after a close Accept returned %v, want the fourth connection", c)
	}
	c.Close()
	l.Close()
}

// TestDescriptorBudget: the session limit and the listener's cap leave the
// reserve where the package documentation says.
func TestDescriptorBudget(t *testing.T) {
	for _, tc := range []struct{ nofile, reserve, sessions int }{
		{0, 64, 0},
		{100, 64, 36},
		{256, 64, 192},
		{1024, 64, 960},
		{20_000, 1000, 19_000},
		{1 << 20, 52_428, 996_148},
	} {
		if got := DescriptorReserve(tc.nofile); got != tc.reserve {
			t.Errorf("DescriptorReserve(%d) = %d, want %d", tc.nofile, got, tc.reserve)
		}
		if got := SessionBudget(tc.nofile); got != tc.sessions {
			t.Errorf("SessionBudget(%d) = %d, want %d", tc.nofile, got, tc.sessions)
		}
	}
	for _, tc := range []struct{ sessions, nofile, want int }{
		{192, 256, 224},           // the derived limit: half the reserve above it
		{50, 20_000, 550},         // a small limits.connections
		{100_000, 20_000, 19_500}, // more sessions than descriptors: the file limit wins
		{100_000, 0, 102_500},     // unknown file limit: half of the sessions' reserve
		{1, 0, 33},
	} {
		if got := openCap(tc.sessions, tc.nofile); got != tc.want {
			t.Errorf("openCap(%d, %d) = %d, want %d", tc.sessions, tc.nofile, got, tc.want)
		}
	}
}
