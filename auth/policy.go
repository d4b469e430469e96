package auth

import (
	"fmt"

	"github.com/switchboardhq/switchboard/stream"
)

// Policy decides what a client may do on a channel from its identity and the
// channel's namespace; it satisfies hub.Policy. The zero Policy is ready to
// use, and it is safe for concurrent use. The HTTP API, trusted by its key,
// does not ask it.
//
// Each action follows one namespace rule: subscribe the Subscribe rule,
// publish the Publish rule, history and presence the History rule. On top of
// the rule, a token whose channels claim grants the channel may always
// subscribe to it and read its history and presence, unless the rule is
// nobody. A claim never lets a client publish on its own: publishing is
// writing into everyone's stream, so it takes a namespace that says so.
type Policy struct{}

var anonymous stream.Identity

// Allow returns nil, or an error wrapping stream.ErrPermissionDenied that
// names the action and channel. It decides permission only: whether the
// feature is on (presence in a namespace without it) is the hub's to say,
// after asking Allow, so that only clients allowed to ask learn how the
// namespace is configured. A nil id is an anonymous client; a nil ns is the
// default namespace options.
func (p *Policy) Allow(id *stream.Identity, action stream.Action, channel string, ns *stream.Namespace) error {
	if id == nil {
		id = &anonymous
	}
	if ns == nil {
		ns = &stream.Namespace{}
	}
	var rule stream.Access
	switch action {
	case stream.ActionSubscribe:
		rule = ns.SubscribeAccess()
	case stream.ActionPublish:
		rule = ns.PublishAccess()
	case stream.ActionHistory, stream.ActionPresence:
		rule = ns.HistoryAccess()
	default:
		return fmt.Errorf("%s %q: %w: unknown action", action, channel, stream.ErrPermissionDenied)
	}
	if why := refuse(id, action, channel, rule); why != "" {
		return fmt.Errorf("%s %q: %w: %s", action, channel, stream.ErrPermissionDenied, why)
	}
	return nil
}

// refuse returns why the rule refuses the action, or "" when it allows it.
func refuse(id *stream.Identity, action stream.Action, channel string, rule stream.Access) string {
	var why string
	switch rule {
	case stream.AccessAnyone:
		return ""
	case stream.AccessAuthenticated:
		if !id.Anonymous() {
			return ""
		}
		why = "needs a token"
	case stream.AccessClaim:
		if id.Grants(channel) {
			return ""
		}
		why = "the token does not grant this channel"
	case stream.AccessNobody:
		return "no client may " + action.String() + " here"
	default:
		// An Access the namespace checks should have caught: fail closed.
		return fmt.Sprintf("unknown access rule %q", rule)
	}
	if action != stream.ActionPublish && id.Grants(channel) {
		return ""
	}
	return why
}
