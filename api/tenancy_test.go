package api_test

import "testing"

// TestDatabaseTenancy runs the key flows of the seed, lifecycle and records
// suites again with a database per organization: creating (concurrently too),
// renaming (a copy into the new name's database, racing writes and deletes,
// resumed by another instance), deleting (a dropped database), records and
// their isolation. ORGD_TEST_TENANCY=database runs the whole suite that way.
func TestDatabaseTenancy(t *testing.T) {
	t.Setenv("ORGD_TEST_TENANCY", "database")
	for name, test := range map[string]func(*testing.T){
		"OrganizationLifecycle":        TestOrganizationLifecycle,
		"ConcurrentCreatesOfOneName":   TestConcurrentCreatesOfOneName,
		"RenameRacingDelete":           TestRenameRacingDelete,
		"CreateRacingDelete":           TestCreateRacingDelete,
		"BusyOrganization":             TestBusyOrganization,
		"RecordsCRUD":                  TestRecordsCRUD,
		"RecordsFollowRenameAndDelete": TestRecordsFollowRenameAndDelete,
		"WritesRacingRenames":          TestWritesRacingRenames,
		"IsolationMatrix":              TestIsolationMatrix,
	} {
		t.Run(name, test)
	}
}
