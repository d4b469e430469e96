package grpc

import (
	"encoding/json"

	switchboardv1 "github.com/switchboardhq/switchboard/proto/switchboard/v1"
	"github.com/switchboardhq/switchboard/stream"
	"github.com/switchboardhq/switchboard/transport"
)

// The conversions between the schema's messages and package stream's
// types, shared by ClientService here and APIService in package server, so
// a publication, a history page or a position has one shape in every
// service.

// Publication is p in the schema's shape: data as its JSON text, as
// stored; info only for a publication a client made.
func Publication(p *stream.Publication) *switchboardv1.Publication {
	return &switchboardv1.Publication{
		Channel: p.Channel, Epoch: p.Epoch, Offset: p.Offset,
		Data: string(p.Data), Time: p.Time, Key: p.Key,
		Info: ClientInfo(p.Info),
	}
}

// ClientInfo is c in the schema's shape; nil for nil.
func ClientInfo(c *stream.ClientInfo) *switchboardv1.ClientInfo {
	if c == nil {
		return nil
	}
	return &switchboardv1.ClientInfo{Client: c.Client, User: c.User, Info: string(c.Info)}
}

// Position is p in the schema's shape.
func Position(p stream.Position) *switchboardv1.Position {
	return &switchboardv1.Position{Epoch: p.Epoch, Offset: p.Offset}
}

// PublishResult is r in the schema's shape.
func PublishResult(r stream.PublishResult) *switchboardv1.PublishResult {
	return &switchboardv1.PublishResult{Epoch: r.Epoch, Offset: r.Offset, Duplicate: r.Duplicate}
}

// HistoryPage is page, a page of channel's history, in the schema's shape.
func HistoryPage(channel string, page stream.HistoryPage) *switchboardv1.HistoryPage {
	out := &switchboardv1.HistoryPage{
		Channel: channel, Epoch: page.Latest.Epoch, Offset: page.Latest.Offset,
		Publications: make([]*switchboardv1.Publication, len(page.Publications)),
	}
	for i, p := range page.Publications {
		out.Publications[i] = Publication(p)
	}
	return out
}

// HistoryQuery reads a HistoryQuery message with the rules of the HTTP
// transports' query string (transport.HistoryQuery): limit unset is the
// default, over the maximum capped or refused as over says; a since without
// an epoch is none, and an offset without an epoch is refused.
func HistoryQuery(m *switchboardv1.HistoryQuery, over transport.OverLimit) (stream.HistoryQuery, error) {
	q := stream.HistoryQuery{Limit: transport.DefaultHistoryLimit, Reverse: m.GetReverse()}
	if m != nil && m.Limit != nil {
		n, err := transport.HistoryLimit(int(min(m.GetLimit(), 1<<31-1)), over)
		if err != nil {
			return q, err
		}
		q.Limit = n
	}
	if since := m.GetSince(); since != nil {
		p, err := transport.HistorySince(since.GetEpoch(), since.GetOffset(), since.GetOffset() != 0)
		if err != nil {
			return q, err
		}
		q.Since = p
	}
	return q, nil
}

// Data is a data field's JSON text as the node takes data: an empty field
// is data not sent (proto3 cannot tell the two apart, and no JSON value is
// empty), which protocol.RequireData refuses.
func Data(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	return json.RawMessage(s)
}
