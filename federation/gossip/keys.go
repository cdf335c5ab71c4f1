package gossip

import (
	"bytes"
	"fmt"
	"slices"
)

// Key rotation, the gossip half (the sequence is in the package doc). The
// keys live in memberlist's Keyring, which memberlist reads on every packet
// and stream: GetPrimaryKey to encrypt, GetKeys to decrypt. Changes are
// made here only, one at a time under keyMu.
//
// memberlist's Keyring.RemoveKey shifts the keys after the removed one down
// in place, in the very array GetKeys has handed to decrypting goroutines,
// which read it without the Keyring's lock: a data race, unless the removed
// key is the last one, when nothing is written. So RemoveKey below only
// ever removes the last key: it takes off the keys behind the target, then
// the target, then puts the others back. UseKey builds a new array; AddKey
// may first append into the spare capacity of the current one, past
// anything a reader reads. TestClusterKeys has the race detector watch
// this.

// InstallKey adds key to this agent's keyring for the community as a
// secondary key: from now on what members send encrypted with it is
// accepted, as well as what they send with the keys already installed.
// This agent keeps sending with its primary key. Installing a key already
// installed does nothing. Phase 1 of a rotation.
func (c *Cluster) InstallKey(key []byte) error {
	if err := c.checkKeyOp(key); err != nil {
		return err
	}
	c.keyMu.Lock()
	defer c.keyMu.Unlock()
	return c.keyring.AddKey(bytes.Clone(key))
}

// UseKey makes an installed key the primary key: everything this agent
// sends from now on (packets, streams, push/pull) is encrypted with it. The
// previous primary key stays installed, as a secondary, until RemoveKey.
// Phase 2 of a rotation: call it only once every member has installed the
// key, or those that have not stop understanding this agent.
// ErrUnknownKey if key is not installed; using the primary key again does
// nothing.
func (c *Cluster) UseKey(key []byte) error {
	if err := c.checkKeyOp(key); err != nil {
		return err
	}
	c.keyMu.Lock()
	defer c.keyMu.Unlock()
	if !slices.ContainsFunc(c.keyring.GetKeys(), func(k []byte) bool { return bytes.Equal(k, key) }) {
		return ErrUnknownKey
	}
	return c.keyring.UseKey(key)
}

// RemoveKey uninstalls a secondary key: from now on what arrives encrypted
// with it is dropped (and counted in sluice_gossip_decrypt_failures_total),
// so a holder of only that key can no longer inject anything into this
// agent. Phase 3 of a rotation: call it once every member uses the new
// key, or this agent stops understanding those that do not.
// ErrPrimaryKey for the primary key; removing a key that is not installed
// does nothing.
//
// Keys installed after key are briefly taken off and put back (see the
// comment at the top of keys.go), so packets encrypted with them may be
// dropped for a few microseconds, which gossip tolerates. In a plain
// rotation the old key is the last one and nothing else moves.
func (c *Cluster) RemoveKey(key []byte) error {
	if err := c.checkKeyOp(key); err != nil {
		return err
	}
	c.keyMu.Lock()
	defer c.keyMu.Unlock()
	keys := slices.Clone(c.keyring.GetKeys())
	i := slices.IndexFunc(keys, func(k []byte) bool { return bytes.Equal(k, key) })
	switch {
	case i < 0:
		return nil
	case i == 0:
		return ErrPrimaryKey
	}
	for j := len(keys) - 1; j >= i; j-- {
		if err := c.keyring.RemoveKey(keys[j]); err != nil {
			return fmt.Errorf("gossip: community %q: remove key: %w", c.id, err)
		}
	}
	for _, k := range keys[i+1:] {
		if err := c.keyring.AddKey(k); err != nil {
			return fmt.Errorf("gossip: community %q: reinstall key: %w", c.id, err)
		}
	}
	return nil
}

// Keys returns copies of the installed keys, the primary key first. It is
// what to persist while a rotation is in progress, so that a restart
// resumes where it was: Keys()[0] as ClusterConfig.Key, the rest as
// ClusterConfig.SecondaryKeys.
func (c *Cluster) Keys() [][]byte {
	c.keyMu.Lock()
	defer c.keyMu.Unlock()
	keys := c.keyring.GetKeys()
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = bytes.Clone(k)
	}
	return out
}

func (c *Cluster) checkKeyOp(key []byte) error {
	if len(key) != KeySize {
		return fmt.Errorf("%w, got %d", ErrInvalidKey, len(key))
	}
	if c.shut.Load() || c.left.Load() {
		return ErrShutdown
	}
	return nil
}

// tapLog is the memberlist log tap (newMemberlistLogger): it counts the
// decryption failures memberlist reports only there. Never blocks.
func (c *Cluster) tapLog(line string) {
	proto, ok := decryptFailure(line)
	switch {
	case !ok:
	case proto == "udp":
		c.decryptUDP.Inc()
	default:
		c.decryptTCP.Inc()
	}
}
