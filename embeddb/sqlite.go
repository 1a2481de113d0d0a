package embeddb

import (
	"sync"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// sqliteSettings makes the SQLite library's process-wide settings, once,
// and reports SQLite's answer (SQLITE_OK when they were taken). SQLite takes
// them only before its first connection, and they hold for the whole
// process, so they cannot belong to one Server; Start calls this before
// FerretDB opens a file.
//
// The one setting turns off each connection's lookaside allocator, a buffer
// of 40 slots of 1,200 bytes that SQLite reserves per connection to speed up
// small allocations. FerretDB keeps up to 100 connections open per database
// file and never closes them, so at 10,000 organizations over 256 tenant
// files the buffers alone come to tens of MiB (38 to 45 KiB of resident
// memory per connection, measured); statements were at most a few µs
// slower without it, within the noise of the runs, next to a record
// read's 0.5 ms.
var sqliteSettings = sync.OnceValue(func() int32 {
	tls := libc.NewTLS()
	defer tls.Close()
	va := libc.NewVaList(int32(0), int32(0)) // slot size, slot count
	defer libc.Xfree(tls, va)
	return sqlite3.Xsqlite3_config(tls, sqlite3.SQLITE_CONFIG_LOOKASIDE, va)
})
