package embeddb

import (
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite" // the "sqlite" driver FerretDB uses too
)

// metadataTable is the table in which FerretDB lists a database file's
// collections; it reads it from every file as it starts.
const metadataTable = "_ferretdb_collections"

// removeUnfinished removes the database files in dir that FerretDB created
// but was stopped (killed) before it made their metadata table: a file with
// no table at all, which holds nothing. FerretDB creates a database's file
// and that table in two steps, and refuses to start while any file lacks
// it, so one ill-timed kill would otherwise keep orgd from ever starting.
// Only small files are opened: such a file is SQLite's header alone, and
// a start must not open thousands of files.
func removeUnfinished(dir string, logger *slog.Logger) error {
	paths, err := filepath.Glob(filepath.Join(dir, "*.sqlite"))
	if err != nil {
		return err
	}
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil || fi.Size() > 16<<10 {
			continue
		}
		empty, err := unfinished(p)
		if err != nil {
			return fmt.Errorf("database file %s: %w", filepath.Base(p), err)
		}
		if !empty {
			continue
		}
		for _, f := range []string{p, p + "-wal", p + "-shm"} {
			if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("database file %s: %w", filepath.Base(p), err)
			}
		}
		logger.Warn("removed a database file left without its metadata by a stop while it was being created; it held nothing",
			"file", filepath.Base(p))
	}
	return nil
}

// unfinished reports whether the SQLite file at p (with its write-ahead log)
// has no metadata table and no other table or index either. A file with
// tables but no metadata is not FerretDB's doing, and is left to refuse.
func unfinished(p string) (bool, error) {
	db, err := sql.Open("sqlite", "file:"+p+"?mode=rw") // Start refuses a directory with "?", "#" or "%"
	if err != nil {
		return false, err
	}
	defer db.Close()
	var meta, all int
	err = db.QueryRow(`SELECT count(*) FILTER (WHERE name = ?), count(*) FROM sqlite_master`, metadataTable).Scan(&meta, &all)
	if err != nil {
		return false, err
	}
	return meta == 0 && all == 0, nil
}
