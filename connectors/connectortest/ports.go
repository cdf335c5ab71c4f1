package connectortest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"testing"
)

// FreePort returns a loopback port that is free for TCP (and, with udp,
// for UDP too) for a server the test starts next and that must be told
// its port (Mosquitto, an OPC UA server). The port is below the kernel's
// ephemeral range: a port the kernel hands out for ":0" could be taken,
// before the server binds it, as the source port of any outgoing
// connection on the machine, and make the test fail at random.
func FreePort(tb testing.TB, udp bool) int {
	tb.Helper()
	lo := ephemeralLow()
	for range 200 {
		port := 10000 + rand.IntN(lo-10000)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		if udp {
			u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
			if err != nil {
				l.Close()
				continue
			}
			u.Close()
		}
		l.Close()
		return port
	}
	tb.Fatal("no free loopback port below the ephemeral range")
	return 0
}

// ephemeralLow is the first port of the kernel's ephemeral range.
func ephemeralLow() int {
	lo, hi := 32768, 0
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		fmt.Sscan(string(b), &lo, &hi)
	}
	if lo <= 11000 {
		lo = 32768
	}
	return lo
}
