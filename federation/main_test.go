package federation

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any goroutine outlives the tests: every
// goroutine a Node starts must end with Close.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
