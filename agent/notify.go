package agent

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// SystemdNotifier returns a function that sends sd_notify messages to the
// socket named by $NOTIFY_SOCKET, or nil when it is not set (not run by
// systemd with Type=notify). The protocol is one datagram per message on a
// unix socket; a leading '@' names an abstract socket.
func SystemdNotifier() func(state string) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	// A leading '@' names an abstract socket; net does that translation.
	addr := &net.UnixAddr{Name: path, Net: "unixgram"}
	return func(state string) error {
		conn, err := net.DialUnix("unixgram", nil, addr)
		if err != nil {
			return fmt.Errorf("sd_notify %s: %w", path, err)
		}
		defer conn.Close()
		_, err = conn.Write([]byte(state))
		return err
	}
}

// monotonicUsec is CLOCK_MONOTONIC in microseconds, which systemd wants
// with RELOADING=1.
func monotonicUsec() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return ts.Nano() / 1e3
}

// WatchdogInterval is $WATCHDOG_USEC as a duration, or 0 when systemd's
// watchdog is off for this process ($WATCHDOG_PID names another process).
func WatchdogInterval() time.Duration {
	us, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || us <= 0 {
		return 0
	}
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0
	}
	return time.Duration(us) * time.Microsecond
}
