package main

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/switchboardhq/switchboard/stream"
)

// namespaceFields are the keys of one entry of `namespaces`, with the types
// convert checks them against. They are the fields of the default_namespace
// settings, plus name.
var namespaceFields = map[string]any{
	"name":         "",
	"history_size": 0,
	"history_ttl":  settingDefault("default_namespace.history_ttl"),
	"presence":     false,
	"join_leave":   false,
	"subscribe":    "",
	"publish":      "",
	"history":      "",
}

func settingDefault(key string) any {
	s, ok := lookupSetting(key)
	if !ok {
		panic("no setting " + key)
	}
	return s.def
}

// decodeNamespaces reads the config file's namespaces: a list of maps whose
// keys are namespaceFields. It checks what stream.NewNamespaces would refuse
// too (names, access rules, duplicates), so that every mistake in the list
// is reported at once; errors name the entry by index and name.
func decodeNamespaces(v any) ([]stream.Namespace, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("namespaces must be a list of namespaces, got %s", describe(v))
	}
	var errs []error
	out := make([]stream.Namespace, 0, len(list))
	first := make(map[string]int, len(list)) // name → index of its first entry
	for i, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			errs = append(errs, fmt.Errorf("namespaces[%d] must be a map with at least a name, got %s", i, describe(item)))
			continue
		}
		where := fmt.Sprintf("namespaces[%d]", i)
		if name, ok := m["name"].(string); ok && name != "" {
			where = fmt.Sprintf("namespaces[%d] (%s)", i, name)
		}
		bad := func(format string, a ...any) {
			errs = append(errs, fmt.Errorf("%s: %s", where, fmt.Sprintf(format, a...)))
		}
		var ns stream.Namespace
		for _, key := range slices.Sorted(maps.Keys(m)) {
			def, known := namespaceFields[key]
			if !known {
				bad("unknown key %q (known: %s)", key, strings.Join(slices.Sorted(maps.Keys(namespaceFields)), ", "))
				continue
			}
			if m[key] == nil {
				continue
			}
			v, err := convert(def, m[key])
			if err != nil {
				bad("%s %v", key, err)
				continue
			}
			setNamespaceField(&ns, key, v)
		}
		for _, a := range []struct {
			key string
			a   stream.Access
		}{{"subscribe", ns.Subscribe}, {"publish", ns.Publish}, {"history", ns.History}} {
			if !a.a.Valid() {
				bad("%s: access %q is not one of anyone, authenticated, claim, nobody", a.key, a.a)
			}
		}
		switch {
		case ns.Name == "":
			bad("name is required")
			continue
		case stream.ValidateChannel(ns.Name) != nil || strings.IndexByte(ns.Name, stream.NamespaceSeparator) >= 0:
			bad("name must be a valid channel name without ':'")
			continue
		}
		if j, dup := first[ns.Name]; dup {
			bad("defined twice (also namespaces[%d])", j)
			continue
		}
		first[ns.Name] = i
		out = append(out, ns)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// setNamespaceField stores a converted value; v has the type of
// namespaceFields[key].
func setNamespaceField(ns *stream.Namespace, key string, v any) {
	switch key {
	case "name":
		ns.Name = v.(string)
	case "history_size":
		ns.HistorySize = v.(int)
	case "history_ttl":
		ns.HistoryTTL = v.(time.Duration)
	case "presence":
		ns.Presence = v.(bool)
	case "join_leave":
		ns.JoinLeave = v.(bool)
	case "subscribe":
		ns.Subscribe = stream.Access(v.(string))
	case "publish":
		ns.Publish = stream.Access(v.(string))
	case "history":
		ns.History = stream.Access(v.(string))
	}
}
