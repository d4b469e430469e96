package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/auth"
)

// forEachTransport runs fn as one subtest per transport. The subtests run
// one after the other, each with nodes of its own; the behaviours run in
// parallel with each other (within go test's -parallel, the number of
// CPUs by default), which keeps the load on a small machine modest.
func forEachTransport(t *testing.T, fn func(t *testing.T, tr transportKind)) {
	t.Helper()
	for _, tr := range allTransports {
		t.Run(tr.String(), func(t *testing.T) { fn(t, tr) })
	}
}

// eventWait bounds every wait for the server; nothing a test waits for
// should take more than a fraction of it.
const eventWait = 20 * time.Second

// transportSecret signs the tests' tokens.
const transportSecret = "e2e-transport-matrix-secret-of-enough-bytes"

// transportConfig is the configuration of the behaviour tests' nodes:
// namespaces with the rules and the history sizes the behaviours need, and
// an HMAC secret so tests can mint tokens. A short drain keeps stopping a
// node quick.
const transportConfig = `token:
  hmac_secrets: ["` + transportSecret + `"]
shutdown_drain: 200ms
namespaces:
  - name: feed            # anyone subscribes; history 1000
  - name: short           # history shorter than the tests' gaps
    history_size: 5
  - name: members         # clients with a valid token
    subscribe: authenticated
  - name: user            # clients whose token grants the channel
    subscribe: claim
`

// startTransportNode starts a node on transportConfig, with args added.
func startTransportNode(t *testing.T, args ...string) *node {
	t.Helper()
	path := filepath.Join(t.TempDir(), "switchboard.yaml")
	if err := os.WriteFile(path, []byte(transportConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	return startNode(t, append([]string{"--config", path}, args...)...)
}

// mintTransportToken mints a token for user, granting channels, valid for
// ttl and less than a second more.
func mintTransportToken(t *testing.T, user string, channels []string, ttl time.Duration) string {
	t.Helper()
	// exp is in whole seconds and would be rounded down: round up
	// instead, so the token lives at least ttl.
	exp := time.Now().Add(ttl).Truncate(time.Second).Add(time.Second)
	tok, err := auth.MintHMAC([]byte(transportSecret), "", auth.Claims{
		Subject: user, Channels: channels, ExpiresAt: exp,
	})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// sentPublication is one publication a test made through the HTTP API.
type sentPublication struct {
	channel string
	pos     published
	data    json.RawMessage
}

// publishEach publishes each JSON value to ch in turn through the HTTP API.
func publishEach(t *testing.T, n *node, ch string, data ...string) []sentPublication {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), eventWait)
	defer cancel()
	out := make([]sentPublication, 0, len(data))
	for _, d := range data {
		p, err := n.publish(ctx, ch, json.RawMessage(d))
		if err != nil {
			t.Fatalf("publish to %s: %v", ch, err)
		}
		out = append(out, sentPublication{channel: ch, pos: p, data: json.RawMessage(d)})
	}
	return out
}

// publishRounds publishes count rounds of one numbered publication to each
// channel, numbered from first, and returns them in the order made.
func publishRounds(t *testing.T, n *node, chans []string, first, count int) []sentPublication {
	t.Helper()
	var out []sentPublication
	for i := first; i < first+count; i++ {
		for _, ch := range chans {
			out = append(out, publishEach(t, n, ch, fmt.Sprintf(`{"channel":%q,"n":%d}`, ch, i))...)
		}
	}
	return out
}

// fromNow expects the subscribe answers of channels opened from now: a
// subscription without a position missed nothing, so every transport
// reports it recovered.
func fromNow(chans ...string) map[string]bool { return answers(true, chans) }

// answers expects a subscribe answer with the same recovered flag for each
// channel.
func answers(recovered bool, chans []string) map[string]bool {
	m := make(map[string]bool, len(chans))
	for _, ch := range chans {
		m[ch] = recovered
	}
	return m
}

// probe is a follower under test: it fails the test on any event it was
// not told to expect.
type probe struct {
	t  *testing.T
	tr transportKind
	f  follower
	n  *node // the node it is connected to, for its logs
}

// openProbe opens a follower of kind tr on n.
func openProbe(t *testing.T, tr transportKind, n *node, spec followSpec) *probe {
	t.Helper()
	p := &probe{t: t, tr: tr, f: newFollower(t, tr), n: n}
	ctx, cancel := context.WithTimeout(t.Context(), eventWait)
	defer cancel()
	if err := p.f.open(ctx, n, spec); err != nil {
		p.fatalf("open %v: %v", spec.channels, err)
	}
	return p
}

func (p *probe) fatalf(format string, args ...any) {
	p.t.Helper()
	p.t.Fatalf("%s: %s\nnode log:\n%s", p.tr, fmt.Sprintf(format, args...), p.n.logs)
}

// next returns the next event, failing the test when none comes in time.
func (p *probe) next(waiting string) followEvent {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.t.Context(), eventWait)
	defer cancel()
	e, err := p.f.next(ctx)
	if err != nil {
		p.fatalf("waiting for %s: %v", waiting, err)
	}
	return e
}

// cut drops the connection as a failing network would.
func (p *probe) cut() { p.f.cut() }

// resume reconnects to n from the last position received.
func (p *probe) resume(n *node) {
	p.t.Helper()
	p.n = n
	ctx, cancel := context.WithTimeout(p.t.Context(), eventWait)
	defer cancel()
	if err := p.f.resume(ctx, n); err != nil {
		p.fatalf("resume: %v", err)
	}
}

// expect reads events until it has one subscribe answer for each channel
// of subs, with the recovered flag given there, and every publication of
// pubs, and fails on anything else. Order
// is checked per channel, which is all the design promises: a channel's
// answer before its publications, and its publications exactly in the
// order given. It returns the subscribe answers by channel.
func (p *probe) expect(subs map[string]bool, pubs ...sentPublication) map[string]followEvent {
	p.t.Helper()
	queued := make(map[string][]sentPublication)
	for _, s := range pubs {
		queued[s.channel] = append(queued[s.channel], s)
	}
	answered := make(map[string]followEvent, len(subs))
	for left := len(subs) + len(pubs); left > 0; left-- {
		e := p.next(fmt.Sprintf("%d more subscribe answers and publications", left))
		switch e.kind {
		case evSubscribed:
			want, ok := subs[e.channel]
			if _, again := answered[e.channel]; !ok || again {
				p.fatalf("unexpected %v", e)
			}
			if e.recovered != want {
				p.fatalf("got %v, want recovered=%t", e, want)
			}
			answered[e.channel] = e
		case evPublication:
			ch := e.pub.Channel
			if _, ok := subs[ch]; ok {
				if _, done := answered[ch]; !done {
					p.fatalf("%v came before the subscribe answer of its channel", e)
				}
			}
			q := queued[ch]
			if len(q) == 0 {
				p.fatalf("unexpected %v: a duplicate or a publication nobody made", e)
			}
			w := q[0]
			queued[ch] = q[1:]
			if e.pub.Epoch != w.pos.Epoch || e.pub.Offset != w.pos.Offset {
				what := "a gap"
				if e.pub.Epoch == w.pos.Epoch && e.pub.Offset < w.pos.Offset {
					what = "a duplicate"
				}
				p.fatalf("got %v, want %s/%d: %s", e, w.pos.Epoch, w.pos.Offset, what)
			}
			if string(e.pub.Data) != string(w.data) {
				p.fatalf("publication %s/%d carries %s, want %s", ch, e.pub.Offset, e.pub.Data, w.data)
			}
		default:
			p.fatalf("unexpected %v", e)
		}
	}
	return answered
}

// expectRefused expects a subscription to channel to be refused with code:
// an error reply on a WebSocket, which stays open; an HTTP status and a
// coded body over HTTP, which end the connection.
func (p *probe) expectRefused(channel string, code uint32, status int) {
	p.t.Helper()
	e := p.next(fmt.Sprintf("the refusal of %s", channel))
	switch {
	case e.kind != evError || e.code != code:
		p.fatalf("got %v, want error %d for %s", e, code, channel)
	case p.tr.overHTTP() && !p.tr.statusIs(e, status):
		p.fatalf("got %v, want HTTP status %d (over gRPC, %v)", e, status, grpcCodeFor(status))
	case !p.tr.overHTTP() && e.channel != channel:
		p.fatalf("got %v, want it for channel %s", e, channel)
	}
	if p.tr.overHTTP() {
		if e := p.next("the end after a refusal"); e.kind != evEnd {
			p.fatalf("got %v after the refusal, want the end", e)
		}
	}
}

// expectEnd reads events until the connection ends, returning the ones that
// said why (disconnects and errors). A publication on the way fails the
// test.
func (p *probe) expectEnd(waiting string) []followEvent {
	p.t.Helper()
	var why []followEvent
	for {
		e := p.next(waiting)
		switch e.kind {
		case evEnd:
			return why
		case evDisconnect, evError:
			why = append(why, e)
		default:
			p.fatalf("unexpected %v while waiting for %s", e, waiting)
		}
	}
}

// describeEvents lists events for a failure message.
func describeEvents(evs []followEvent) string {
	s := make([]string, len(evs))
	for i, e := range evs {
		s[i] = e.String()
	}
	return "[" + strings.Join(s, "; ") + "]"
}
