package client_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"

	"github.com/switchboardhq/switchboard/broker/memory"
	"github.com/switchboardhq/switchboard/client"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/server"
	"github.com/switchboardhq/switchboard/stream"
)

// A client subscribes, publishes, and prints what arrives. The node runs in
// the same process here; a real client gets a URL such as
// "https://rt.example.com".
func Example() {
	url, stop := startExampleNode()
	defer stop()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := client.New(url, client.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	sub, err := c.Subscribe("chat:lobby", client.SubscribeOptions{})
	if err != nil {
		panic(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()

	for received := 0; received < 2; {
		ev, err := sub.Next(ctx)
		if err != nil {
			panic(err)
		}
		switch ev := ev.(type) {
		case client.Subscribed:
			fmt.Println("subscribed to", ev.Channel, "over", c.State().Transport)
			for _, text := range []string{"hello", "world"} {
				if _, err := c.Publish(ctx, "chat:lobby", map[string]string{"text": text}, client.PublishOptions{}); err != nil {
					panic(err)
				}
			}
		case client.Publication:
			fmt.Printf("%s #%d %s\n", ev.Channel, ev.Offset, ev.Data)
			received++
		case client.Gap:
			fmt.Println("missed publications: reload")
		}
	}
	cancel()
	if err := <-done; err != nil {
		panic(err)
	}
	// Output:
	// subscribed to chat:lobby over websocket
	// chat:lobby #1 {"text":"hello"}
	// chat:lobby #2 {"text":"world"}
}

// startExampleNode runs a node with an in-memory broker, where clients may
// publish to the "chat" namespace, and returns its URL and how to stop it.
func startExampleNode() (url string, stop func()) {
	quiet := slog.New(slog.DiscardHandler)
	ns, err := stream.NewNamespaces(stream.Namespace{}, []stream.Namespace{{Name: "chat", Publish: stream.AccessAnyone}})
	if err != nil {
		panic(err)
	}
	h, err := hub.New(hub.Config{Broker: memory.New(memory.Config{Logger: quiet}), Namespaces: ns, Logger: quiet})
	if err != nil {
		panic(err)
	}
	srv, err := server.New(server.Config{Hub: h, Logger: quiet})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- h.Run(ctx) }()
	ts := httptest.NewServer(srv.Handler())
	return ts.URL, func() {
		_ = h.Shutdown(context.Background(), 0)
		ts.Close()
		_ = srv.Wait(context.Background())
		cancel()
		<-ran
	}
}
