package main

import (
	"context"
	"fmt"

	"github.com/sluice-edge/sluice/connectors/opcua"
)

func runOPCUA(ctx context.Context, args []string) error {
	return subcommand(ctx, "opcua", args, map[string]command{
		"trust": {"trust the server certificates an OPC UA source refused (move rejected/ to trusted/)", opcuaTrust},
	})
}

// opcuaTrust works on the data dir, like the operator moving the files by
// hand; the source picks the certificate up at its next connection.
func opcuaTrust(ctx context.Context, args []string) error {
	fs := newFlags("opcua trust", "SOURCE [--data-dir DIR]")
	dir := dataDirFlag(fs)
	pos, err := parseFlags(fs, args, 1, 1)
	if err != nil {
		return err
	}
	moved, err := opcua.Trust(resolveDataDir(*dir), pos[0])
	if err != nil {
		return err
	}
	if len(moved) == 0 {
		fmt.Printf("source %s has no refused server certificates\n", pos[0])
		return nil
	}
	for _, m := range moved {
		fmt.Printf("trusted %s\n", m)
	}
	return nil
}
