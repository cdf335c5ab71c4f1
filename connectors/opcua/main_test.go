package opcua

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test must leave no goroutine behind: the source's own, and the
// gopcua client's after Close. gopcua's server (used in-process by
// gopcuaserver_test.go) starts its connection monitor with a background
// context that Close does not end; that one is ignored.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/gopcua/opcua/server.(*channelBroker).ReadMessage"))
}
