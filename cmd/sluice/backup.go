package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/sluice-edge/sluice/agent"
	"github.com/sluice-edge/sluice/agent/backup"
)

// runBackup fetches an archive of a running agent's whole data dir
// (GET /api/v1/backup) into FILE. FILE appears only once the archive is
// complete, synced and verified against its own manifest: an interrupted
// backup never leaves a file that looks like one.
func runBackup(ctx context.Context, args []string) error {
	fs, cf := newClientFlags("backup", "FILE [--gzip]  (FILE ending in .gz or .tgz is compressed too)")
	gz := fs.Bool("gzip", false, "compress the archive with gzip")
	pos, c, err := parseClient(fs, cf, args, 1)
	if err != nil {
		return err
	}
	file := pos[0]
	if strings.HasSuffix(file, ".gz") || strings.HasSuffix(file, ".tgz") {
		*gz = true
	}
	start := time.Now()
	q := url.Values{}
	if *gz {
		q.Set("compress", "gzip")
	}
	resp, err := c.Do(ctx, "GET", "/api/v1/backup", q, "", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	m, n, err := backup.Save(resp.Body, file, func() error {
		if msg := resp.Trailer.Get(agent.BackupTrailer); msg != "" {
			return fmt.Errorf("the agent failed to write the backup: %s", msg)
		}
		return nil
	})
	if err != nil {
		return err
	}
	k := m.Counts
	fmt.Printf("backup of tenant %s (%s) written to %s: %s in %s\n", m.TenantName, m.TenantID, file,
		fmtBytes(n), time.Since(start).Round(time.Millisecond))
	fmt.Printf("  %d streams (store stream %s), %d files, %d records, %d users, %d audit entries\n",
		k.Streams, fmtBytes(k.StoreBytes), k.Files, k.Records, k.Users, k.AuditEntries)
	return nil
}

// runRestore unpacks an archive into a data dir no agent is running on.
func runRestore(ctx context.Context, args []string) error {
	fs := newFlags("restore", "FILE --data-dir DIR [--force]")
	dir := dataDirFlag(fs)
	force := fs.Bool("force", false, "restore into a data dir that holds files, moving them aside first")
	pos, err := parseFlags(fs, args, 1, 1)
	if err != nil {
		return err
	}
	target := resolveDataDir(*dir)
	res, err := backup.Restore(ctx, pos[0], target, backup.RestoreOptions{Force: *force})
	if err != nil {
		return err
	}
	m := res.Manifest
	fmt.Printf("restored the backup of tenant %s (%s) taken %s by sluice %s into %s: %d files, %d streams\n",
		m.TenantName, m.TenantID, m.Created.Format(time.RFC3339), m.AgentVersion, target, m.Counts.Files, m.Counts.Streams)
	if res.Previous != "" {
		fmt.Printf("the data dir's old content is in %s\n", res.Previous)
	}
	fmt.Printf("start the agent on it: sluice agent --data-dir %s\n", target)
	return nil
}

func fmtBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
