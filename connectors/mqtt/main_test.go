package mqtt

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test must leave no goroutine behind: the source's own, and paho's
// after Disconnect.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
