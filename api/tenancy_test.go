package api_test

import "testing"

// TestDatabaseTenancy runs the key flows of the seed, lifecycle and records
// suites again with a database per organization: creating, renaming (a copy
// into the new name's database, racing writes), deleting (a dropped
// database), records and their isolation. ORGD_TEST_TENANCY=database runs
// the whole suite that way.
func TestDatabaseTenancy(t *testing.T) {
	t.Setenv("ORGD_TEST_TENANCY", "database")
	for name, test := range map[string]func(*testing.T){
		"OrganizationLifecycle":        TestOrganizationLifecycle,
		"UpdateRules":                  TestUpdateRules,
		"ConcurrentCreatesOfOneName":   TestConcurrentCreatesOfOneName,
		"RenameRacingDelete":           TestRenameRacingDelete,
		"CreateRacingDelete":           TestCreateRacingDelete,
		"BusyOrganization":             TestBusyOrganization,
		"RecordsCRUD":                  TestRecordsCRUD,
		"RecordsFollowRenameAndDelete": TestRecordsFollowRenameAndDelete,
		"WritesRacingRenames":          TestWritesRacingRenames,
		"IsolationMatrix":              TestIsolationMatrix,
		"ExportImportRoundTrip":        TestExportImportRoundTrip,
	} {
		t.Run(name, test)
	}
}
