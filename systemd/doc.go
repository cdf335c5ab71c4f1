// Package systemd holds the systemd unit that runs the agent on a gateway
// (sluice.service, installed as README.md describes) and the tests that
// check it with systemd's own tools. It has no code.
package systemd
