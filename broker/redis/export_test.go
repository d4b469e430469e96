package redis

import (
	"context"

	"github.com/switchboardhq/switchboard/stream"
)

// PublishUnreadable publishes req as a node of a later version would, in a
// body format this one does not know.
func (b *Broker) PublishUnreadable(ctx context.Context, req stream.PublishRequest) (stream.PublishResult, error) {
	return b.publish(ctx, &req, []byte{0x02, 0x00})
}

// Probe makes the request the broker's readiness probe makes, once.
func (b *Broker) Probe(ctx context.Context) error { return b.probe.Ask(ctx) }
