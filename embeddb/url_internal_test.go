package embeddb

import "testing"

// TestSQLiteURL checks that every connection's page cache is bounded, in
// KiB (a negative cache_size), by default and when configured.
func TestSQLiteURL(t *testing.T) {
	for _, tc := range []struct {
		kib  int
		want string
	}{
		{0, "file:/data/?_pragma=cache_size(-16)"},
		{64, "file:/data/?_pragma=cache_size(-64)"},
		{2000, "file:/data/?_pragma=cache_size(-2000)"},
	} {
		if got := sqliteURL("/data", tc.kib); got != tc.want {
			t.Errorf("sqliteURL(/data, %d) = %s, want %s", tc.kib, got, tc.want)
		}
	}
}
