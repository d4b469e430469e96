package memory_test

import (
	"testing"

	"github.com/switchboardhq/switchboard/broker/controltest"
	"github.com/switchboardhq/switchboard/broker/memory"
	"github.com/switchboardhq/switchboard/hub"
)

var _ hub.Control = (*memory.Control)(nil)

func TestControl(t *testing.T) {
	controltest.Run(t, func(t *testing.T) (hub.Control, hub.Control) {
		c := memory.NewControl()
		return c, c
	})
}
