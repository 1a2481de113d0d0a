package mongodb_test

import (
	"context"
	"strings"
	"testing"

	"github.com/orgd/orgd"
)

// TestReconcileReportsAnUndoCutShort interrupts a rename before it reserved
// its new name, lets another organization take that name, and cuts short
// the reconciler's undo of the rename: that round must report a failure, not
// an undo, and the next must finish the undo.
func TestReconcileReportsAnUndoCutShort(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	s := f.store("")
	o := mustCreate(t, s, "acme", "a@acme.test")
	s.SetHooks(abortAt("reserve_name"))
	if _, err := s.UpdateOrganization(ctx, o.ID, orgd.OrganizationUpdate{Name: ptr("wile")}); err == nil {
		t.Fatal("the rename was not interrupted")
	}
	mustCreate(t, f.store(""), "wile", "w@wile.test")
	f.restartLater()
	s = f.store("")
	s.SetHooks(abortAt("undo_finish"))
	did, err := s.Reconcile(ctx)
	if err == nil || strings.Contains(strings.Join(did, "; "), "undid") {
		t.Errorf("an undo cut short reported %q, %v; want no undo, and an error", did, err)
	}
	f.restartLater()
	s = f.store("")
	if did, err := s.Reconcile(ctx); err != nil || !strings.Contains(strings.Join(did, "; "), "undid the interrupted update") {
		t.Errorf("the next round reported %q, %v; want the undo", did, err)
	}
	if got, err := s.OrganizationByID(ctx, o.ID); err != nil || got.Name != "acme" {
		t.Errorf("after the undo: %+v, %v; want acme", got, err)
	}
	f.mustHold(s)
}
