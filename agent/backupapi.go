package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"path/filepath"

	"github.com/sluice-edge/sluice/agent/audit"
	"github.com/sluice-edge/sluice/agent/backup"
	"github.com/sluice-edge/sluice/agent/store"
)

// BackupTrailer is the HTTP trailer that carries the error of a backup
// that failed after its answer began; the archive is then incomplete.
const BackupTrailer = "Sluice-Backup-Error"

// mountBackup serves GET /api/v1/backup: one archive of the whole data
// dir (agent/backup), taken while the agent keeps ingesting. It holds the
// tenant's private key, so the route is the tenant admin's with step-up
// (agent/users/authz.go), and every backup is audited before it starts,
// so the archive records its own taking.
func (a *Agent) mountBackup() {
	a.api.Mount("GET /api/v1/backup", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gz := r.URL.Query().Get("compress") == "gzip"
		who := actor(r.Context())
		if err := a.audit.Append(context.WithoutCancel(r.Context()), audit.Entry{Kind: audit.KindAdmin, Actor: who,
			Outcome: "ok", Detail: "GET /api/v1/backup: backup started"}); err != nil {
			http.Error(w, "audit log: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		streams, _, _ := a.store.ListStreams(r.Context(), store.ListOptions{})
		w.Header().Set("Trailer", BackupTrailer)
		w.Header().Set("Content-Type", map[bool]string{true: "application/gzip", false: "application/x-tar"}[gz])
		w.Header().Set("Cache-Control", "no-store")
		m, err := backup.Write(r.Context(), w, backup.Source{
			DataDir: a.cfg.DataDir, Store: a.store, Audit: a.audit,
			TenantID: string(a.fed.ID()), TenantName: a.cfg.Tenant.Name, AgentVersion: Version,
			Streams: len(streams), Gzip: gz,
		})
		outcome, detail := "ok", "backup written"
		if err != nil {
			w.Header().Set(BackupTrailer, err.Error())
			outcome, detail = "error", "backup failed: "+err.Error()
			a.log.Error("backup failed", "err", err, "actor", who)
		} else {
			detail += fmt.Sprintf(": %d files, %d store bytes", m.Counts.Files, m.Counts.StoreBytes)
			a.log.Info("backup written", "actor", who, "files", m.Counts.Files, "store_bytes", m.Counts.StoreBytes,
				"audit_entries", m.Counts.AuditEntries)
		}
		if err := a.audit.Append(context.WithoutCancel(r.Context()), audit.Entry{Kind: audit.KindAdmin, Actor: who,
			Outcome: outcome, Detail: detail}); err != nil {
			a.log.Error("audit append failed", "err", err)
		}
	}))
}

// checkStoreFiles refuses to open a store whose files are damaged (see
// store.CheckFiles) rather than let Badger panic, or forget tables and
// start with less data than it had.
func checkStoreFiles(dataDir string) error {
	if err := store.CheckFiles(filepath.Join(dataDir, "store")); err != nil {
		return damaged(err)
	}
	return nil
}

// damaged adds the way out to an error that reading a data dir file met:
// a file the agent cannot read back is not repaired by guessing (that
// would drop data); it comes back from a backup.
func damaged(err error) error {
	if err == nil || errors.Is(err, fs.ErrPermission) {
		return err
	}
	return fmt.Errorf("%w; if that file is damaged, restore the data dir from a backup: "+
		"sluice restore BACKUP --data-dir DIR --force (the damaged dir is kept aside; README: backup and restore)", err)
}
