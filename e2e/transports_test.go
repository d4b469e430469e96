package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/stream"
)

// The behaviours of the design's delivery guarantee, each run under every
// transport against real nodes. A behaviour is written once; the follower
// of each transport turns it into that transport's wire shapes.

// TestTransportLiveDelivery: publications made through the HTTP API arrive
// in order, with their data exactly as published, on each of two channels
// followed by one connection.
func TestTransportLiveDelivery(t *testing.T) {
	t.Parallel()
	// JSON values of every kind, and strings that would break a careless
	// framing: escaped newlines in an SSE data line, text that looks like
	// SSE fields, characters outside ASCII.
	values := []string{
		`{"text":"hi"}`,
		`"a bare string"`,
		`42`,
		`-0.5e-3`,
		`true`,
		`[1,2,{"deep":[true,null,"x"]}]`,
		`{"text":"héllo ✓ 世界 🎉"}`,
		`{"text":"line\nbreak, tab\t, \"quotes\" and \\ backslash"}`,
		`{"sse":"\n\ndata: not a field\nid: nor an id\n\n"}`,
		`{}`,
	}
	forEachTransport(t, func(t *testing.T, tr transportKind) {
		n := startTransportNode(t)
		chans := []string{"feed:live", "feed:other"}
		p := openProbe(t, tr, n, followSpec{channels: chans})
		p.expect(fromNow(chans...))
		var sent []sentPublication
		for _, v := range values {
			sent = append(sent, publishEach(t, n, chans[0], v)...)
			sent = append(sent, publishEach(t, n, chans[1], v)...)
		}
		p.expect(nil, sent...)
	})
}

// TestTransportResumeAfterCut: a client whose connection is cut, and which
// resumes from the last position it received, gets exactly what was
// published meanwhile and then live publications: no gap, no duplicate.
// The first cut comes before any publication, so the position it resumes
// from is the one the subscribe answer gave (for SSE, the connected
// event's id).
func TestTransportResumeAfterCut(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, tr transportKind) {
		n := startTransportNode(t)
		chans := []string{"feed:a", "feed:b"}
		p := openProbe(t, tr, n, followSpec{channels: chans})
		p.expect(fromNow(chans...))

		p.cut()
		missed := publishRounds(t, n, chans, 1, 2)
		p.resume(n)
		p.expect(answers(true, chans), missed...)
		p.expect(nil, publishRounds(t, n, chans, 3, 2)...)

		p.cut()
		missed = publishRounds(t, n, chans, 5, 4)
		p.resume(n)
		p.expect(answers(true, chans), missed...)
		// Live ones straight after the replay: a duplicate at the seam
		// would come before them and fail.
		p.expect(nil, publishRounds(t, n, chans, 9, 3)...)
	})
}

// TestTransportResumeMidStream: cuts land while publications are flowing,
// every few publications received, and the client resumes each time. It
// must end with every offset exactly once and in order, and each resume
// must be recovered.
func TestTransportResumeMidStream(t *testing.T) {
	t.Parallel()
	const total, every = 200, 30
	forEachTransport(t, func(t *testing.T, tr transportKind) {
		n := startTransportNode(t)
		const ch = "feed:flowing"
		p := openProbe(t, tr, n, followSpec{channels: []string{ch}})
		p.expect(fromNow(ch))

		ctx, cancel := context.WithTimeout(t.Context(), eventWait)
		defer cancel()
		published := make(chan error, 1)
		go func() {
			for i := 1; i <= total; i++ {
				if _, err := n.publish(ctx, ch, json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))); err != nil {
					published <- err
					return
				}
			}
			published <- nil
		}()

		// A cut waits until the last resume was answered: a poll cut
		// before its reply never answers.
		var got, sinceCut, cuts int
		answered := true
		for got < total {
			e := p.next(fmt.Sprintf("offset %d of %d", got+1, total))
			switch {
			case e.kind == evSubscribed && e.recovered && !answered:
				answered = true
				continue
			case e.kind != evPublication:
				p.fatalf("unexpected %v after %d publications and %d cuts", e, got, cuts)
			}
			want := uint64(got + 1)
			if e.pub.Offset != want || string(e.pub.Data) != fmt.Sprintf(`{"n":%d}`, want) {
				p.fatalf("got %v after %d cuts, want offset %d", e, cuts, want)
			}
			got++
			if sinceCut++; answered && sinceCut >= every && got < total {
				p.cut()
				p.resume(n)
				cuts, sinceCut, answered = cuts+1, 0, false
			}
		}
		if err := <-published; err != nil {
			t.Fatalf("publish: %v", err)
		}
		if cuts < 3 {
			p.fatalf("only %d cuts: the run did not exercise resume", cuts)
		}
		// A resume's answer comes after what was received before its cut,
		// so the last one may still be on its way.
		if !answered {
			if e := p.next("the answer to the last resume"); e.kind != evSubscribed || !e.recovered {
				p.fatalf("got %v, want a recovered subscribe answer", e)
			}
		}
		p.expect(nil, publishEach(t, n, ch, `{"last":true}`)...)
	})
}

// TestTransportOpenFromPosition: a client that kept its positions (across
// a page reload, say) opens a new connection from them and gets what came
// after each, then live ones. Positions go as WebSocket since and as a
// cursor made by the client for SSE and polls.
func TestTransportOpenFromPosition(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, tr transportKind) {
		n := startTransportNode(t)
		chans := []string{"feed:kept", "feed:also"}
		sent := publishRounds(t, n, chans, 1, 5)
		from := map[string]stream.Position{
			chans[0]: {Epoch: sent[0].pos.Epoch, Offset: 2}, // has 1 and 2
			chans[1]: {Epoch: sent[1].pos.Epoch, Offset: 0}, // has nothing
		}
		var missed []sentPublication
		for _, s := range sent {
			if s.pos.Offset > from[s.channel].Offset {
				missed = append(missed, s)
			}
		}
		p := openProbe(t, tr, n, followSpec{channels: chans, since: from})
		p.expect(answers(true, chans), missed...)
		p.expect(nil, publishRounds(t, n, chans, 6, 2)...)
	})
}

// TestTransportNotRecoveredWhenTooOld: a position older than a channel's
// history is reported as not recovered, nothing stale is replayed, and the
// channel goes on live from its latest position; another channel of the
// same connection whose history does reach back is recovered as usual.
func TestTransportNotRecoveredWhenTooOld(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, tr transportKind) {
		n := startTransportNode(t)
		const short, long = "short:ticker", "feed:ticker" // history 5 and 1000
		chans := []string{short, long}
		p := openProbe(t, tr, n, followSpec{channels: chans})
		p.expect(fromNow(chans...))
		p.expect(nil, publishRounds(t, n, chans, 1, 3)...)

		p.cut()
		var kept []sentPublication
		for _, s := range publishRounds(t, n, chans, 4, 20) {
			if s.channel == long {
				kept = append(kept, s)
			}
		}
		p.resume(n)
		// Publishing only after the answer: a client told its position is
		// lost starts from wherever the channel is when it is told.
		got := p.expect(map[string]bool{short: false, long: true}, kept...)
		if tr.streams() {
			if l := got[short].latest; l.Offset != 3+20 {
				p.fatalf("answer says latest %s/%d, want offset 23: 3 before the cut, 20 during it", l.Epoch, l.Offset)
			}
		}
		p.expect(nil, publishRounds(t, n, chans, 24, 3)...)
	})
}

// TestTransportEpochChange: a node restart loses a memory broker's history
// and starts a new epoch. A client told to go (ws and sse hear the
// shutdown) resumes with its old position against the new node: not
// recovered, then live publications of the new epoch.
func TestTransportEpochChange(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, tr transportKind) {
		first := startTransportNode(t)
		const ch = "feed:epoch"
		p := openProbe(t, tr, first, followSpec{channels: []string{ch}})
		p.expect(fromNow(ch))
		before := publishRounds(t, first, []string{ch}, 1, 3)
		p.expect(nil, before...)

		first.stop()
		why := p.expectEnd("the end of the connection to the stopped node")
		switch {
		case tr.streams():
			if len(why) != 1 || why[0].kind != evDisconnect || why[0].code != 3001 || !why[0].reconnect {
				p.fatalf("the stopping node said %s, want one disconnect 3001 with reconnect", describeEvents(why))
			}
		default:
			// A poll in flight is answered; the next finds the node gone,
			// or, at worst, still draining.
			for _, e := range why {
				if e.kind != evError || e.status != 503 || e.code != 117 {
					p.fatalf("the stopping node said %s, want nothing or 503 with code 117", describeEvents(why))
				}
			}
		}

		second := startTransportNode(t)
		p.resume(second)
		got := p.expect(map[string]bool{ch: false})
		after := publishRounds(t, second, []string{ch}, 1, 3)
		if after[0].pos.Epoch == before[0].pos.Epoch {
			t.Fatalf("the new node kept epoch %s", after[0].pos.Epoch)
		}
		if tr.streams() {
			if e := got[ch].latest.Epoch; e != after[0].pos.Epoch {
				p.fatalf("answer says epoch %s, the new node publishes in %s", e, after[0].pos.Epoch)
			}
		}
		p.expect(nil, after...)
	})
}

// TestTransportPermissionDenied: a subscription the namespace rules refuse
// gets code 103, an error reply on a WebSocket, a 403 over HTTP and
// PermissionDenied over gRPC; the
// same channel with a token the rules accept works.
func TestTransportPermissionDenied(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, tr transportKind) {
		n := startTransportNode(t)
		alice := mintTransportToken(t, "alice", []string{"user:alice"}, time.Hour)

		refused := []struct {
			spec followSpec
			bad  string
		}{
			{followSpec{channels: []string{"members:room"}}, "members:room"},                 // authenticated, anonymous
			{followSpec{channels: []string{"user:bob"}, token: alice}, "user:bob"},           // claim, not granted
			{followSpec{channels: []string{"feed:x", "user:bob"}, token: alice}, "user:bob"}, // one bad among good
		}
		for _, r := range refused {
			p := openProbe(t, tr, n, r.spec)
			if tr.overHTTP() {
				// The whole request is refused before anything is
				// streamed.
				p.expectRefused(r.bad, 103, 403)
				continue
			}
			// A WebSocket answers each subscribe on its own.
			for _, ch := range r.spec.channels {
				if ch == r.bad {
					p.expectRefused(ch, 103, 0)
				} else {
					p.expect(fromNow(ch))
				}
			}
		}

		for _, ch := range []string{"members:room", "user:alice"} {
			p := openProbe(t, tr, n, followSpec{channels: []string{ch}, token: alice})
			p.expect(fromNow(ch))
			p.expect(nil, publishEach(t, n, ch, `{"for":"alice"}`)...)
		}
	})
}

// TestTransportTokenExpiry: a connection whose token expires is ended with
// the token-expired code: a disconnect 3005 on a WebSocket, an SSE stream
// and a gRPC stream, and for polls the first poll after the expiry is refused with 401
// and code 109. A token expired already is refused with code 109 at once.
func TestTransportTokenExpiry(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, tr transportKind) {
		// Expiry is checked on the heartbeat, so a short ping interval
		// makes it prompt.
		n := startTransportNode(t, "--ping-interval", "1s")
		const ch = "feed:expiring"

		// Older than the verifier's leeway for clock skew.
		stale := mintTransportToken(t, "eve", nil, -time.Minute)
		p := openProbe(t, tr, n, followSpec{channels: []string{ch}, token: stale})
		why := p.expectEnd("the refusal of an expired token")
		if len(why) == 0 || why[0].kind != evError || why[0].code != 109 || tr.overHTTP() && !tr.statusIs(why[0], 401) {
			p.fatalf("got %s, want error 109 (status 401 over HTTP, Unauthenticated over gRPC)", describeEvents(why))
		}
		if tr == transportWS && (len(why) != 2 || why[1].kind != evDisconnect || why[1].code != 3005) {
			p.fatalf("got %s, want the connect error then disconnect 3005", describeEvents(why))
		}

		tok := mintTransportToken(t, "eve", nil, 2*time.Second)
		p = openProbe(t, tr, n, followSpec{channels: []string{ch}, token: tok})
		p.expect(fromNow(ch))
		p.expect(nil, publishEach(t, n, ch, `{"before":"expiry"}`)...)

		why = p.expectEnd("the end of the expiring connection")
		if !tr.streams() {
			if len(why) != 1 || why[0].status != 401 || why[0].code != 109 {
				p.fatalf("got %s, want one refusal with status 401 and code 109", describeEvents(why))
			}
			return
		}
		if len(why) != 1 || why[0].kind != evDisconnect || why[0].code != 3005 {
			p.fatalf("got %s, want one disconnect 3005", describeEvents(why))
		}
	})
}

// TestTransportOrderUnderConcurrentPublishers: four publishers race on one
// channel through the HTTP API while a client follows it. The offsets are
// the order: the client gets 1..400 exactly once and in order, each with
// the data the API said it stored at that offset.
func TestTransportOrderUnderConcurrentPublishers(t *testing.T) {
	t.Parallel()
	const publishers, each = 4, 100
	forEachTransport(t, func(t *testing.T, tr transportKind) {
		n := startTransportNode(t)
		const ch = "feed:race"
		p := openProbe(t, tr, n, followSpec{channels: []string{ch}})
		p.expect(fromNow(ch))

		ctx, cancel := context.WithTimeout(t.Context(), eventWait)
		defer cancel()
		sent := make([][]sentPublication, publishers)
		errs := make([]error, publishers)
		var wg sync.WaitGroup
		for i := range publishers {
			wg.Go(func() {
				for j := range each {
					data := json.RawMessage(fmt.Sprintf(`{"publisher":%d,"n":%d}`, i, j))
					pos, err := n.publish(ctx, ch, data)
					if err != nil {
						errs[i] = err
						return
					}
					sent[i] = append(sent[i], sentPublication{channel: ch, pos: pos, data: data})
				}
			})
		}

		got := make([]followEvent, 0, publishers*each)
		for len(got) < publishers*each {
			e := p.next(fmt.Sprintf("offset %d of %d", len(got)+1, publishers*each))
			if e.kind != evPublication {
				p.fatalf("unexpected %v after %d publications", e, len(got))
			}
			if want := uint64(len(got) + 1); e.pub.Offset != want || (len(got) > 0 && e.pub.Epoch != got[0].pub.Epoch) {
				p.fatalf("publication %d is %v, want offset %d in one epoch", len(got), e, want)
			}
			got = append(got, e)
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("publisher %d: %v", i, err)
			}
		}
		for i, list := range sent {
			last := uint64(0)
			for _, s := range list {
				e := got[s.pos.Offset-1]
				if s.pos.Epoch != e.pub.Epoch || string(e.pub.Data) != string(s.data) {
					p.fatalf("offset %d carries %s/%s, the API stored %s/%s there", s.pos.Offset, e.pub.Epoch, e.pub.Data, s.pos.Epoch, s.data)
				}
				if s.pos.Offset <= last {
					p.fatalf("publisher %d's publications went out of its order at offset %d", i, s.pos.Offset)
				}
				last = s.pos.Offset
			}
		}
		// Nothing more is pending: a late duplicate would come before this.
		p.expect(nil, publishEach(t, n, ch, `{"last":true}`)...)
	})
}

// TestTransportSwitchOnResume: a client that follows a channel on one
// transport and comes back on another resumes from the position it had —
// one position model, whatever carries it — with nothing lost or repeated.
func TestTransportSwitchOnResume(t *testing.T) {
	t.Parallel()
	kinds := []transportKind{transportWS, transportSSE, transportLongPoll, transportPoll, transportGRPC}
	for i, from := range kinds {
		to := kinds[(i+1)%len(kinds)]
		t.Run(from.String()+"→"+to.String(), func(t *testing.T) {
			n := startTransportNode(t)
			ch := []string{"feed:switch"}
			first := openProbe(t, from, n, followSpec{channels: ch})
			first.expect(fromNow(ch...))
			seen := publishRounds(t, n, ch, 1, 5)
			first.expect(nil, seen...)
			first.f.close()

			missed := publishRounds(t, n, ch, 6, 5)
			last := seen[len(seen)-1].pos
			second := openProbe(t, to, n, followSpec{channels: ch, since: map[string]stream.Position{
				ch[0]: {Epoch: last.Epoch, Offset: last.Offset},
			}})
			second.expect(answers(true, ch), missed...)
			second.expect(nil, publishRounds(t, n, ch, 11, 3)...)
		})
	}
}
