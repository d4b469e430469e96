package ws

import (
	"net"
	"testing"
)

// BenchmarkReadMessage reads small commands from a loopback TCP socket,
// each sent in a write of its own as a client sends them: the frame
// reader's reads per frame, and what each costs.
func BenchmarkReadMessage(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		b.Fatal(err)
	}
	defer server.Close()
	c := &conn{h: &Handler{maxFrame: 1 << 16, rate: 1, burst: 1 << 30}, nc: server}
	frame := maskedFrame(true, opText, []byte(`{"type":"publish","id":7,"channel":"chat:x","data":{"text":"hello"}}`))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := client.Write(frame); err != nil {
			b.Fatal(err)
		}
		if _, _, err := c.readMessage(); err != nil {
			b.Fatal(err)
		}
	}
}
