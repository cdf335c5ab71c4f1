package agent

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"

	"github.com/sluice-edge/sluice/configs"
)

// ListenError is an address of the config that the agent cannot listen
// on. Run returns it (joined, one per address) before it writes anything
// to the data dir, so that the first start on a gateway where another
// program holds a port leaves nothing behind.
type ListenError struct {
	Key  string // the config key: api.listen, federation.listen or federation.gossip
	Addr string // its value
	Net  string // "tcp" or "udp" (gossip uses both)
	Err  error  // why, e.g. syscall.EADDRINUSE
}

func (e *ListenError) Error() string {
	proto := ""
	if e.Key == "federation.gossip" {
		proto = " (" + e.Net + ")"
	}
	return fmt.Sprintf("%s %s%s: %v", e.Key, e.Addr, proto, e.Err)
}

func (e *ListenError) Unwrap() error { return e.Err }

// checkListeners binds every address the agent will listen on (the API,
// federation's TCP port, gossip's TCP and UDP ports), all at once so
// that they cannot take each other's ports, and closes them again.
//
// It is a pre-check, not a reservation: the API and federation bind their
// own listeners moments later, and another program could take a port in
// between; the agent then fails at that bind as it did before this check
// (with the data dir written). Handing these listeners on instead would
// close that gap, but federation opens its own.
func checkListeners(cfg configs.Config) error {
	var open []io.Closer
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	var errs []error
	for _, l := range []struct{ key, network, addr string }{
		{"api.listen", "tcp", cfg.API.Listen},
		{"federation.listen", "tcp", cfg.Federation.Listen},
		{"federation.gossip", "tcp", cfg.Federation.Gossip},
		{"federation.gossip", "udp", cfg.Federation.Gossip},
	} {
		var c io.Closer
		var err error
		if l.network == "udp" {
			c, err = net.ListenPacket(l.network, l.addr)
		} else {
			c, err = net.Listen(l.network, l.addr)
		}
		if err != nil {
			errs = append(errs, &ListenError{Key: l.key, Addr: l.addr, Net: l.network, Err: listenCause(err)})
			continue
		}
		open = append(open, c)
	}
	return errors.Join(errs...)
}

// listenCause is the reason of a failed listen without net's "listen tcp
// addr: bind:" prefix, which ListenError says better.
func listenCause(err error) error {
	var se *os.SyscallError
	if errors.As(err, &se) {
		if errors.Is(se.Err, syscall.EACCES) {
			return fmt.Errorf("%w (ports below 1024 need privileges)", se.Err)
		}
		return se.Err
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err
	}
	return err
}
