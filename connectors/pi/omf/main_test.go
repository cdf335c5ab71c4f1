package omf

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test must leave no goroutine behind: Run's, the handlers', the
// HTTP clients'.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
