package main

import (
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
// keys are namespaceFields. Errors name the entry by index and name.
func decodeNamespaces(v any) ([]stream.Namespace, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("namespaces must be a list of namespaces, got %s", describe(v))
	}
	out := make([]stream.Namespace, 0, len(list))
	for i, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("namespaces[%d] must be a map with at least a name, got %s", i, describe(item))
		}
		where := fmt.Sprintf("namespaces[%d]", i)
		if name, ok := m["name"].(string); ok && name != "" {
			where = fmt.Sprintf("namespaces[%d] (%s)", i, name)
		}
		var ns stream.Namespace
		for _, key := range slices.Sorted(maps.Keys(m)) {
			def, known := namespaceFields[key]
			if !known {
				return nil, fmt.Errorf("%s: unknown key %q (known: %s)", where, key, strings.Join(slices.Sorted(maps.Keys(namespaceFields)), ", "))
			}
			if m[key] == nil {
				continue
			}
			v, err := convert(def, m[key])
			if err != nil {
				return nil, fmt.Errorf("%s: %s %w", where, key, err)
			}
			setNamespaceField(&ns, key, v)
		}
		if ns.Name == "" {
			return nil, fmt.Errorf("%s: name is required", where)
		}
		out = append(out, ns)
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
