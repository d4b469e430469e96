package stream_test

import (
	"testing"

	"github.com/switchboardhq/switchboard/stream"
)

func TestParseTransport(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want stream.Transport
		ok   bool
	}{
		{"websocket", stream.WebSocket, true},
		{"ws", stream.WebSocket, true}, // the spelling of earlier versions
		{"sse", stream.SSE, true},
		{"longpoll", stream.LongPoll, true},
		{"poll", stream.Poll, true},
		{"grpc", stream.GRPC, true},
		{"", "", false},
		{"WebSocket", "", false},
		{"tcp", "", false},
	} {
		if got, ok := stream.ParseTransport(tc.in); got != tc.want || ok != tc.ok {
			t.Errorf("ParseTransport(%q) = %q, %t; want %q, %t", tc.in, got, ok, tc.want, tc.ok)
		}
	}
	for _, tr := range stream.Transports {
		if got, ok := stream.ParseTransport(string(tr)); !ok || got != tr {
			t.Errorf("ParseTransport(%q) = %q, %t", tr, got, ok)
		}
	}
}
