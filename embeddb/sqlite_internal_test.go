package embeddb

import (
	"context"
	"encoding/binary"
	"path/filepath"
	"testing"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// TestNoLookaside checks that once an embedded database has started, SQLite
// connections in this process reserve no lookaside memory: a connection that
// has parsed a schema and run statements has never had a lookaside slot in use.
func TestNoLookaside(t *testing.T) {
	s, err := Start(Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(context.Background()) })

	tls := libc.NewTLS()
	defer tls.Close()
	cstr := func(s string) uintptr {
		p, err := libc.CString(s)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { libc.Xfree(tls, p) })
		return p
	}
	pdb := libc.Xcalloc(tls, 1, 8) // zeroed: a pointer may be narrower than 8 bytes
	defer libc.Xfree(tls, pdb)
	name := cstr(filepath.Join(t.TempDir(), "probe.sqlite"))
	flags := int32(sqlite3.SQLITE_OPEN_READWRITE | sqlite3.SQLITE_OPEN_CREATE)
	if rc := sqlite3.Xsqlite3_open_v2(tls, name, pdb, flags, 0); rc != sqlite3.SQLITE_OK {
		t.Fatalf("open: code %d", rc)
	}
	db := uintptr(binary.NativeEndian.Uint64(libc.GoBytes(pdb, 8)))
	defer sqlite3.Xsqlite3_close_v2(tls, db)
	sql := cstr(`CREATE TABLE t (v TEXT); CREATE UNIQUE INDEX t_v ON t (v);
		INSERT INTO t VALUES ('a'), ('b'); SELECT v FROM t WHERE v = 'b';`)
	if rc := sqlite3.Xsqlite3_exec(tls, db, sql, 0, 0, 0); rc != sqlite3.SQLITE_OK {
		t.Fatalf("exec: code %d", rc)
	}

	status := libc.Xmalloc(tls, 8) // current, then highest
	defer libc.Xfree(tls, status)
	if rc := sqlite3.Xsqlite3_db_status(tls, db, sqlite3.SQLITE_DBSTATUS_LOOKASIDE_USED, status, status+4, 0); rc != sqlite3.SQLITE_OK {
		t.Fatalf("db_status: code %d", rc)
	}
	if most := int32(binary.NativeEndian.Uint32(libc.GoBytes(status+4, 4))); most != 0 {
		t.Errorf("lookaside slots in use at most: %d, want 0 (lookaside off)", most)
	}
	if rc := sqliteSettings(); rc != sqlite3.SQLITE_OK { // made by Start, before any connection
		t.Errorf("SQLite refused the settings: code %d", rc)
	}
}
