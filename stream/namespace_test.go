package stream_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/stream"
)

func TestNewNamespacesErrors(t *testing.T) {
	tests := []struct {
		name    string
		def     stream.Namespace
		list    []stream.Namespace
		mention string
	}{
		{"empty name", stream.Namespace{}, []stream.Namespace{{Name: ""}}, "empty name"},
		{"name with a colon", stream.Namespace{}, []stream.Namespace{{Name: "chat:x"}}, "without ':'"},
		{"name with a bad byte", stream.Namespace{}, []stream.Namespace{{Name: "chat room"}}, "valid channel name"},
		{"name too long", stream.Namespace{}, []stream.Namespace{{Name: strings.Repeat("n", 256)}}, "valid channel name"},
		{"duplicate", stream.Namespace{}, []stream.Namespace{{Name: "chat"}, {Name: "chat"}}, "defined twice"},
		{"bad subscribe access", stream.Namespace{}, []stream.Namespace{{Name: "chat", Subscribe: "everyone"}}, `"everyone"`},
		{"bad publish access", stream.Namespace{}, []stream.Namespace{{Name: "chat", Publish: "Anyone"}}, `"Anyone"`},
		{"bad history access", stream.Namespace{}, []stream.Namespace{{Name: "chat", History: "x"}}, `"x"`},
		{"bad default access", stream.Namespace{Subscribe: "all"}, nil, "default namespace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns, err := stream.NewNamespaces(tt.def, tt.list)
			if err == nil {
				t.Fatalf("NewNamespaces succeeded: %+v", ns)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("error %q does not mention %q", err, tt.mention)
			}
		})
	}
}

func TestNamespacesLookup(t *testing.T) {
	ns, err := stream.NewNamespaces(
		stream.Namespace{Name: "ignored", HistorySize: 5},
		[]stream.Namespace{{Name: "chat", Presence: true}, {Name: "news", HistorySize: -1}},
	)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		channel string
		name    string
	}{
		{"lobby", ""},
		{":x", ""},
		{"chat:lobby", "chat"},
		{"chat:a:b", "chat"},
		{"news:today", "news"},
	}
	for _, tt := range tests {
		n, err := ns.Lookup(tt.channel)
		if err != nil || n.Name != tt.name {
			t.Errorf("Lookup(%q) = %+v, %v; want namespace %q", tt.channel, n, err, tt.name)
		}
	}
	if n, _ := ns.Lookup("lobby"); n.HistorySize != 5 {
		t.Errorf("default namespace lost its options: %+v", n)
	}
	if n, err := ns.Lookup("admin:x"); !errors.Is(err, stream.ErrUnknownChannel) || n != nil {
		t.Errorf("Lookup(admin:x) = %+v, %v; want ErrUnknownChannel", n, err)
	}

	list := ns.List()
	if len(list) != 3 || list[0].Name != "" {
		t.Errorf("List() = %+v, want the default namespace first and 3 in all", list)
	}
}

func TestNilNamespaces(t *testing.T) {
	var ns *stream.Namespaces
	for _, ch := range []string{"lobby", "chat:lobby"} {
		n, err := ns.Lookup(ch)
		if err != nil || n == nil || n.Name != "" || n.Size() != stream.DefaultHistorySize {
			t.Errorf("nil Namespaces: Lookup(%q) = %+v, %v; want the zero Namespace", ch, n, err)
		}
	}
	if list := ns.List(); len(list) != 1 {
		t.Errorf("nil Namespaces: List() = %+v, want one zero Namespace", list)
	}
}

func TestNamespaceDefaults(t *testing.T) {
	var zero stream.Namespace
	if zero.Size() != stream.DefaultHistorySize || zero.TTL() != stream.DefaultHistoryTTL {
		t.Errorf("zero Namespace: Size %d, TTL %v; want %d, %v", zero.Size(), zero.TTL(), stream.DefaultHistorySize, stream.DefaultHistoryTTL)
	}
	if zero.SubscribeAccess() != stream.AccessAnyone || zero.PublishAccess() != stream.AccessNobody || zero.HistoryAccess() != stream.AccessAnyone {
		t.Errorf("zero Namespace: subscribe %q, publish %q, history %q; want anyone, nobody, anyone",
			zero.SubscribeAccess(), zero.PublishAccess(), zero.HistoryAccess())
	}
	off := stream.Namespace{HistorySize: -1, HistoryTTL: -1}
	if off.Size() != 0 || off.TTL() != 0 {
		t.Errorf("negative size and TTL: Size %d, TTL %v; want 0, 0", off.Size(), off.TTL())
	}
	set := stream.Namespace{HistorySize: 10, HistoryTTL: time.Minute, Subscribe: stream.AccessClaim,
		Publish: stream.AccessAuthenticated}
	if set.Size() != 10 || set.TTL() != time.Minute {
		t.Errorf("explicit size and TTL: Size %d, TTL %v", set.Size(), set.TTL())
	}
	// History follows Subscribe unless set.
	if set.HistoryAccess() != stream.AccessClaim || set.PublishAccess() != stream.AccessAuthenticated {
		t.Errorf("history %q, publish %q; want claim, authenticated", set.HistoryAccess(), set.PublishAccess())
	}
	set.History = stream.AccessNobody
	if set.HistoryAccess() != stream.AccessNobody {
		t.Errorf("explicit history access %q, want nobody", set.HistoryAccess())
	}
}

func TestAccessValid(t *testing.T) {
	for _, a := range []stream.Access{"", stream.AccessAnyone, stream.AccessAuthenticated, stream.AccessClaim, stream.AccessNobody} {
		if !a.Valid() {
			t.Errorf("Access(%q).Valid() = false", a)
		}
	}
	for _, a := range []stream.Access{"Anyone", "all", " nobody"} {
		if a.Valid() {
			t.Errorf("Access(%q).Valid() = true", a)
		}
	}
}
