package stream

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Access says which clients may do something in a namespace. The HTTP API,
// authenticated by the API key, may always do everything.
type Access string

const (
	// AccessAnyone admits every client, anonymous ones too.
	AccessAnyone Access = "anyone"
	// AccessAuthenticated admits every client with a valid token.
	AccessAuthenticated Access = "authenticated"
	// AccessClaim admits clients whose token's channels claim grants the
	// channel.
	AccessClaim Access = "claim"
	// AccessNobody admits no client; only the HTTP API may act.
	AccessNobody Access = "nobody"
)

// Valid reports whether a is one of the named levels or empty (the default).
func (a Access) Valid() bool {
	switch a {
	case "", AccessAnyone, AccessAuthenticated, AccessClaim, AccessNobody:
		return true
	}
	return false
}

// Defaults for Namespace fields left zero.
const (
	DefaultHistorySize = 1000
	DefaultHistoryTTL  = time.Hour
)

// Namespace holds the options shared by every channel whose name starts with
// "Name:" (the default namespace has an empty Name). Its zero value works:
// every field documents its default.
type Namespace struct {
	Name string `koanf:"name" json:"name"`
	// HistorySize is how many publications each channel keeps for replay.
	// 0: DefaultHistorySize (1000); negative: no history.
	HistorySize int `koanf:"history_size" json:"history_size"`
	// HistoryTTL is how long a publication stays in history.
	// 0: DefaultHistoryTTL (1h); negative: no time limit.
	HistoryTTL time.Duration `koanf:"history_ttl" json:"history_ttl"`
	// Presence keeps a list of each channel's subscribers (default off).
	Presence bool `koanf:"presence" json:"presence"`
	// JoinLeave pushes join and leave events to subscribers (default off).
	JoinLeave bool `koanf:"join_leave" json:"join_leave"`
	// Subscribe says who may subscribe (default anyone).
	Subscribe Access `koanf:"subscribe" json:"subscribe"`
	// Publish says which clients may publish (default nobody: the API only).
	Publish Access `koanf:"publish" json:"publish"`
	// History says who may read history and presence (default: as Subscribe).
	History Access `koanf:"history" json:"history"`
}

// Size returns the effective history size.
func (n *Namespace) Size() int {
	switch {
	case n.HistorySize == 0:
		return DefaultHistorySize
	case n.HistorySize < 0:
		return 0
	}
	return n.HistorySize
}

// TTL returns the effective history TTL; 0 means no time limit.
func (n *Namespace) TTL() time.Duration {
	switch {
	case n.HistoryTTL == 0:
		return DefaultHistoryTTL
	case n.HistoryTTL < 0:
		return 0
	}
	return n.HistoryTTL
}

// SubscribeAccess returns the effective subscribe rule.
func (n *Namespace) SubscribeAccess() Access {
	if n.Subscribe == "" {
		return AccessAnyone
	}
	return n.Subscribe
}

// PublishAccess returns the effective client-publish rule.
func (n *Namespace) PublishAccess() Access {
	if n.Publish == "" {
		return AccessNobody
	}
	return n.Publish
}

// HistoryAccess returns the effective history and presence rule.
func (n *Namespace) HistoryAccess() Access {
	if n.History == "" {
		return n.SubscribeAccess()
	}
	return n.History
}

// Namespaces resolves a channel name to its namespace's options. It is
// immutable once built and safe for concurrent use.
type Namespaces struct {
	def    Namespace
	byName map[string]*Namespace
}

// NewNamespaces checks and indexes the namespaces. def holds the options of
// channels without a ':'; its Name is ignored.
func NewNamespaces(def Namespace, list []Namespace) (*Namespaces, error) {
	ns := &Namespaces{def: def, byName: make(map[string]*Namespace, len(list))}
	ns.def.Name = ""
	if err := checkNamespace(&ns.def); err != nil {
		return nil, fmt.Errorf("default namespace: %w", err)
	}
	for i := range list {
		n := list[i]
		if n.Name == "" {
			return nil, fmt.Errorf("namespace %d: empty name", i)
		}
		if err := ValidateChannel(n.Name); err != nil || strings.IndexByte(n.Name, NamespaceSeparator) >= 0 {
			return nil, fmt.Errorf("namespace %q: name must be a valid channel name without ':'", n.Name)
		}
		if _, dup := ns.byName[n.Name]; dup {
			return nil, fmt.Errorf("namespace %q: defined twice", n.Name)
		}
		if err := checkNamespace(&n); err != nil {
			return nil, fmt.Errorf("namespace %q: %w", n.Name, err)
		}
		ns.byName[n.Name] = &n
	}
	return ns, nil
}

func checkNamespace(n *Namespace) error {
	for _, a := range []Access{n.Subscribe, n.Publish, n.History} {
		if !a.Valid() {
			return fmt.Errorf("access %q is not one of anyone, authenticated, claim, nobody", a)
		}
	}
	return nil
}

// Lookup returns the namespace of a valid channel name, or an error wrapping
// ErrUnknownChannel when the channel names a namespace that is not
// configured. A nil *Namespaces resolves every channel to the zero Namespace.
func (ns *Namespaces) Lookup(channel string) (*Namespace, error) {
	if ns == nil {
		return &zeroNamespace, nil
	}
	name := NamespaceOf(channel)
	if name == "" {
		return &ns.def, nil
	}
	if n, ok := ns.byName[name]; ok {
		return n, nil
	}
	return nil, fmt.Errorf("%w: namespace %q is not configured", ErrUnknownChannel, name)
}

// List returns the default namespace followed by the named ones, by name.
func (ns *Namespaces) List() []Namespace {
	if ns == nil {
		return []Namespace{zeroNamespace}
	}
	out := []Namespace{ns.def}
	for _, n := range ns.byName {
		out = append(out, *n)
	}
	sort.Slice(out[1:], func(i, j int) bool { return out[1+i].Name < out[1+j].Name })
	return out
}

var zeroNamespace Namespace
