package testkit_test

import (
	"errors"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/testkit"
	"github.com/switchboardhq/switchboard/stream"
)

func TestVerifier(t *testing.T) {
	var v testkit.Verifier
	id, err := v.Verify("good:ann")
	if err != nil || id.User != "ann" || time.Until(id.ExpiresAt) < 59*time.Minute {
		t.Errorf("good:ann is %+v, %v", id, err)
	}
	id, err = v.Verify("brief:bob")
	if err != nil || id.User != "bob" || time.Until(id.ExpiresAt) > testkit.BriefValidity {
		t.Errorf("brief:bob is %+v, %v", id, err)
	}
	if _, err := v.Verify("expired:ann"); !errors.Is(err, stream.ErrTokenExpired) {
		t.Errorf("expired:ann: %v", err)
	}
	for _, tok := range []string{"", "ann", "forged:ann"} {
		if _, err := v.Verify(tok); !errors.Is(err, stream.ErrInvalidToken) {
			t.Errorf("%q: %v", tok, err)
		}
	}
}

func TestPolicy(t *testing.T) {
	anon, ann := &stream.Identity{}, &stream.Identity{User: "ann"}
	for _, tc := range []struct {
		id      *stream.Identity
		a       stream.Action
		ch      string
		allowed bool
	}{
		{ann, stream.ActionSubscribe, "chat:a", true},
		{anon, stream.ActionPublish, "chat:a", true},
		{ann, stream.ActionSubscribe, "admin:a", false},
		{ann, stream.ActionSubscribe, "private:ann", true},
		{anon, stream.ActionSubscribe, "private:ann", false},
		{ann, stream.ActionPublish, "news:a", false},
		{ann, stream.ActionSubscribe, "news:a", true},
	} {
		err := testkit.Policy{}.Allow(tc.id, tc.a, tc.ch, nil)
		if (err == nil) != tc.allowed || err != nil && !errors.Is(err, stream.ErrPermissionDenied) {
			t.Errorf("%s %s as %q: %v", tc.a, tc.ch, tc.id.User, err)
		}
	}
}
