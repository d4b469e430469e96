package auth_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/auth"
	"github.com/switchboardhq/switchboard/stream"
)

const channel = "room:42"

var (
	actions = []stream.Action{stream.ActionSubscribe, stream.ActionPublish, stream.ActionHistory, stream.ActionPresence}

	identities = []struct {
		name string
		id   *stream.Identity
	}{
		{"nil", nil},
		{"anonymous", &stream.Identity{}},
		{"user", &stream.Identity{User: "u", Channels: []string{"room:43", "other:*"}}},
		{"claim", &stream.Identity{User: "u", Channels: []string{"room:4*"}}},
		// Verify never makes one, but Policy must not depend on that.
		{"anonymous with claim", &stream.Identity{Channels: []string{channel}}},
	}
)

// TestPolicyTable runs every rule × action × identity with one rule for all
// actions; want lists the allowed actions as "S" subscribe, "P" publish,
// "H" history and "R" presence.
func TestPolicyTable(t *testing.T) {
	t.Parallel()
	want := map[stream.Access]map[string]string{
		stream.AccessAnyone: {
			"nil": "SPHR", "anonymous": "SPHR", "user": "SPHR", "claim": "SPHR", "anonymous with claim": "SPHR",
		},
		stream.AccessAuthenticated: {
			"nil": "", "anonymous": "", "user": "SPHR", "claim": "SPHR", "anonymous with claim": "SHR",
		},
		stream.AccessClaim: {
			"nil": "", "anonymous": "", "user": "", "claim": "SPHR", "anonymous with claim": "SPHR",
		},
		stream.AccessNobody: {
			"nil": "", "anonymous": "", "user": "", "claim": "", "anonymous with claim": "",
		},
	}
	var p auth.Policy
	for access, byID := range want {
		ns := &stream.Namespace{Name: "room", Presence: true, Subscribe: access, Publish: access, History: access}
		for _, who := range identities {
			for i, action := range actions {
				allowed := strings.ContainsRune(byID[who.name], rune("SPHR"[i]))
				t.Run(fmt.Sprintf("%s/%s/%s", access, who.name, action), func(t *testing.T) {
					err := p.Allow(who.id, action, channel, ns)
					checkAllow(t, err, allowed, action)
				})
			}
		}
	}
}

func checkAllow(t *testing.T, err error, allowed bool, action stream.Action) {
	t.Helper()
	switch {
	case allowed && err != nil:
		t.Fatalf("denied: %v", err)
	case !allowed && err == nil:
		t.Fatal("allowed")
	case !allowed && !errors.Is(err, stream.ErrPermissionDenied):
		t.Fatalf("err = %v, want one wrapping ErrPermissionDenied", err)
	case !allowed && !strings.Contains(err.Error(), fmt.Sprintf("%s %q", action, channel)):
		t.Fatalf("err = %q does not name the action and channel", err)
	}
}

// TestPolicyRulesPerAction checks that each action reads its own rule, the
// defaults, and the claim bonus on top of a stricter rule.
func TestPolicyRulesPerAction(t *testing.T) {
	t.Parallel()
	user := &stream.Identity{User: "u"}
	claim := &stream.Identity{User: "u", Channels: []string{channel}}
	anonClaim := &stream.Identity{Channels: []string{channel}}
	for _, tc := range []struct {
		name   string
		ns     *stream.Namespace
		id     *stream.Identity
		action stream.Action
		ok     bool
	}{
		{"zero namespace: anyone subscribes", &stream.Namespace{}, nil, stream.ActionSubscribe, true},
		{"zero namespace: nobody publishes", &stream.Namespace{}, claim, stream.ActionPublish, false},
		{"zero namespace: anyone reads history", &stream.Namespace{}, nil, stream.ActionHistory, true},
		{"nil namespace acts as zero", nil, nil, stream.ActionSubscribe, true},
		{"nil namespace: nobody publishes", nil, user, stream.ActionPublish, false},
		{"history follows subscribe", &stream.Namespace{Subscribe: stream.AccessAuthenticated}, nil, stream.ActionHistory, false},
		{"history follows subscribe, user", &stream.Namespace{Subscribe: stream.AccessAuthenticated}, user, stream.ActionHistory, true},
		{"history rule overrides", &stream.Namespace{Subscribe: stream.AccessAnyone, History: stream.AccessNobody}, claim, stream.ActionHistory, false},
		{"history rule governs presence", &stream.Namespace{Presence: true, History: stream.AccessClaim}, user, stream.ActionPresence, false},
		{"publish rule only", &stream.Namespace{Subscribe: stream.AccessNobody, Publish: stream.AccessAnyone}, nil, stream.ActionPublish, true},
		{"subscribe rule only", &stream.Namespace{Subscribe: stream.AccessNobody, Publish: stream.AccessAnyone}, nil, stream.ActionSubscribe, false},
		{"claim lifts subscribe", &stream.Namespace{Subscribe: stream.AccessAuthenticated}, anonClaim, stream.ActionSubscribe, true},
		{"claim lifts history", &stream.Namespace{Subscribe: stream.AccessAuthenticated}, anonClaim, stream.ActionHistory, true},
		{"claim does not lift publish", &stream.Namespace{Publish: stream.AccessAuthenticated}, anonClaim, stream.ActionPublish, false},
		{"claim does not lift nobody", &stream.Namespace{Subscribe: stream.AccessNobody}, claim, stream.ActionSubscribe, false},
		{"claim publishes where the rule is claim", &stream.Namespace{Publish: stream.AccessClaim}, claim, stream.ActionPublish, true},
		{"unknown rule fails closed", &stream.Namespace{Subscribe: "everyone"}, user, stream.ActionSubscribe, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			checkAllow(t, (&auth.Policy{}).Allow(tc.id, tc.action, channel, tc.ns), tc.ok, tc.action)
		})
	}
}

func TestPolicyPresence(t *testing.T) {
	t.Parallel()
	var p *auth.Policy // nil works: Policy has no state
	// The policy decides permission only; whether presence is on is the
	// hub's to say (hub's TestPresenceOffOrQuiet).
	if err := p.Allow(&stream.Identity{User: "u"}, stream.ActionPresence, channel, &stream.Namespace{}); err != nil {
		t.Errorf("presence off, anyone: %v, want nil", err)
	}
	err := p.Allow(nil, stream.ActionPresence, channel, &stream.Namespace{History: stream.AccessNobody})
	if !errors.Is(err, stream.ErrPermissionDenied) {
		t.Errorf("presence denied and off: %v, want ErrPermissionDenied", err)
	}
	if err := p.Allow(nil, stream.ActionPresence, channel, &stream.Namespace{Presence: true}); err != nil {
		t.Errorf("presence on, anyone: %v", err)
	}
}

func TestPolicyUnknownAction(t *testing.T) {
	t.Parallel()
	err := (&auth.Policy{}).Allow(&stream.Identity{User: "u"}, stream.Action(0), channel, &stream.Namespace{Subscribe: stream.AccessAnyone})
	if !errors.Is(err, stream.ErrPermissionDenied) {
		t.Errorf("unknown action: %v", err)
	}
}
