package bench

import (
	"testing"

	"google.golang.org/protobuf/proto"

	switchboardv1 "github.com/switchboardhq/switchboard/proto/switchboard/v1"
)

// events are SubscribeResponses as the node's generated code encodes them.
func events(t testing.TB) map[string][]byte {
	t.Helper()
	ms := map[string]*switchboardv1.SubscribeResponse{
		"connected": {Event: &switchboardv1.SubscribeResponse_Connected{Connected: &switchboardv1.Connected{Client: "c1", PingInterval: 25}}},
		"subscribed": {Event: &switchboardv1.SubscribeResponse_Subscribed{Subscribed: &switchboardv1.Subscribed{
			Channel: "bench.x", Epoch: "e1", Offset: 41, Recovered: true}}},
		"publication": {Event: &switchboardv1.SubscribeResponse_Publication{Publication: &switchboardv1.Publication{
			Channel: "bench.x", Epoch: "e1", Offset: 1 << 40, Data: `{"t":1763884800123456789,"p":"xx"}`, Time: 1763884800123,
			Key: "k", Info: &switchboardv1.ClientInfo{Client: "c2", User: "u"}}}},
		"disconnect": {Event: &switchboardv1.SubscribeResponse_Disconnect{Disconnect: &switchboardv1.Disconnect{Code: 3002, Reason: "slow", Reconnect: true}}},
		"ping":       {Event: &switchboardv1.SubscribeResponse_Ping{Ping: &switchboardv1.Ping{}}},
	}
	out := map[string][]byte{}
	for k, m := range ms {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		out[k] = b
	}
	return out
}

// TestDecodeEvent reads the fields the load generator needs from events
// the generated code encoded, skipping the others.
func TestDecodeEvent(t *testing.T) {
	ev := events(t)
	check := func(name string, f func(e grpcEvent) bool) {
		t.Helper()
		e, err := decodeEvent(ev[name])
		if err != nil || !f(e) {
			t.Errorf("%s: %+v, %v", name, e, err)
		}
	}
	check("connected", func(e grpcEvent) bool { return e.kind == evConnected })
	check("ping", func(e grpcEvent) bool { return e.kind == 6 })
	check("subscribed", func(e grpcEvent) bool {
		return e.kind == evSubscribed && string(e.epoch) == "e1" && e.offset == 41 && e.recovered
	})
	check("publication", func(e grpcEvent) bool {
		return e.kind == evPublication && string(e.epoch) == "e1" && e.offset == 1<<40 && sentAt(e.data) == 1763884800123456789
	})
	check("disconnect", func(e grpcEvent) bool {
		return e.kind == evDisconnect && e.code == 3002 && string(e.reason) == "slow" && e.reconnect
	})
	if _, err := decodeEvent([]byte{0x1a, 0x05, 0x18}); err == nil {
		t.Error("a truncated publication decoded without error")
	}
}

func FuzzDecodeEvent(f *testing.F) {
	for _, b := range events(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = decodeEvent(b)
	})
}
