package hub_test

import (
	"context"
	"fmt"

	"github.com/switchboardhq/switchboard/broker/memory"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/stream"
)

// textEncoder is the smallest wire format: one line per publication.
type textEncoder struct{}

func (textEncoder) Publication(p *stream.Publication) []byte {
	return fmt.Appendf(nil, "%s #%d %s", p.Channel, p.Offset, p.Data)
}
func (textEncoder) Ping() []byte                                     { return nil }
func (textEncoder) Presence(string, bool, *stream.ClientInfo) []byte { return nil }
func (textEncoder) Gap(*hub.Gap) []byte                              { return []byte("gap") }
func (textEncoder) Unsubscribed(string, error) []byte                { return []byte("unsubscribed") }

// A client resumes a channel from the position it had: the publications it
// missed are queued first, in order, then live ones follow.
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h, err := hub.New(hub.Config{Broker: memory.New(memory.Config{})})
	if err != nil {
		panic(err)
	}
	done := make(chan error)
	go func() { done <- h.Run(ctx) }()
	defer func() { cancel(); <-done }()

	var last stream.PublishResult
	for _, text := range []string{`"one"`, `"two"`, `"three"`} {
		last, _ = h.Publish(ctx, stream.PublishRequest{Channel: "news", Data: []byte(text)})
	}

	s, err := h.NewSession(hub.SessionOptions{Transport: "example", Encoder: textEncoder{}})
	if err != nil {
		panic(err)
	}
	defer s.Close()
	res, err := s.Subscribe(ctx, "news", hub.SubscribeOptions{
		Since: &stream.Position{Epoch: last.Epoch, Offset: 1},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println("recovered:", res.Recovered, "replayed:", res.Replayed)
	h.Publish(ctx, stream.PublishRequest{Channel: "news", Data: []byte(`"four"`)})

	// A transport's writer drains the queue in one go.
	for _, it := range s.Take(nil) {
		fmt.Println(string(it.Bytes))
	}
	// Output:
	// recovered: true replayed: 2
	// news #2 "two"
	// news #3 "three"
	// news #4 "four"
}
