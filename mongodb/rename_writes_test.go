package mongodb_test

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orgd/orgd"
	"github.com/orgd/orgd/mongodb"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// TestWriteAfterARenameOnAStaleInstance creates a record on a second
// instance whose organization, read (as from its cache) before a rename,
// still names the old collection. The write is acknowledged, so it must be
// found where the organization lives now; nothing of it stays in the old
// place, and the empty collection it recreated there is the reconciler's to
// drop.
func TestWriteAfterARenameOnAStaleInstance(t *testing.T) {
	for _, tenancy := range []string{"", "database"} {
		t.Run(cmp.Or(tenancy, "collection"), func(t *testing.T) {
			f := newFixture(t)
			f.tenancy = tenancy
			ctx := context.Background()
			s, other := f.store(""), f.store("")
			stale, before := renamedBehindAStaleInstance(t, s)
			after := createRecord(t, other, stale, `{"n":2}`)

			now, err := s.OrganizationByName(ctx, "roadrunner")
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range []string{before, after} {
				if _, err := s.GetRecord(ctx, now, id); err != nil {
					t.Errorf("record %s in %s.%s: %v", id, now.Database, now.Collection, err)
				}
			}
			if n, _ := f.docs(stale.Database, stale.Collection); n != 0 {
				t.Errorf("the old %s.%s holds %d documents", stale.Database, stale.Collection, n)
			}
			f.restartLater()
			if _, err := s.Reconcile(ctx); err != nil {
				t.Fatal(err)
			}
			f.mustHold(s)
			names, err := f.db.Client.Database(stale.Database).ListCollectionNames(ctx, bson.D{})
			if err != nil {
				t.Fatal(err)
			}
			if slices.Contains(names, stale.Collection) {
				t.Errorf("the stray %s.%s is still there", stale.Database, stale.Collection)
			}
		})
	}
}

// renamedBehindAStaleInstance creates Acme with one record on s and renames
// it Roadrunner there. It returns Acme as read before the rename, as another
// instance's cache may still hold it, and the record's id.
func renamedBehindAStaleInstance(t *testing.T, s *mongodb.Store) (*orgd.Organization, string) {
	t.Helper()
	stale := mustCreate(t, s, "Acme", "a@x.test")
	id := createRecord(t, s, stale, `{"n":1}`)
	if _, err := s.UpdateOrganization(context.Background(), stale.ID, orgd.OrganizationUpdate{Name: ptr("Roadrunner")}); err != nil {
		t.Fatal(err)
	}
	return stale, id
}

// TestStaleInstanceFindsRenamedRecords reads and writes a record through an
// organization read (as from a cache) before a rename: every call must find
// the record where it is now, and a list or an export must not come out
// empty.
func TestStaleInstanceFindsRenamedRecords(t *testing.T) {
	for _, tenancy := range []string{"", "database"} {
		t.Run(cmp.Or(tenancy, "collection"), func(t *testing.T) {
			f := newFixture(t)
			f.tenancy = tenancy
			ctx := context.Background()
			s, other := f.store(""), f.store("")
			stale, id := renamedBehindAStaleInstance(t, s)
			if _, err := other.GetRecord(ctx, stale, id); err != nil {
				t.Errorf("get: %v", err)
			}
			if _, err := other.ReplaceRecord(ctx, stale, id, []byte(`{"n":2}`)); err != nil {
				t.Errorf("replace: %v", err)
			}
			if _, err := other.PatchRecord(ctx, stale, id, []byte(`{"m":3}`)); err != nil {
				t.Errorf("patch: %v", err)
			}
			if page, err := other.ListRecords(ctx, stale, orgd.RecordQuery{Limit: 10}); err != nil || len(page.Records) != 1 {
				t.Errorf("list: %v, %v", page, err)
			}
			var export bytes.Buffer
			if err := other.ExportRecords(ctx, stale, &export); err != nil || export.String() != `{"id":"`+id+`","n":2,"m":3}`+"\n" {
				t.Errorf("export: %q, %v", export.String(), err)
			}
			if err := other.DeleteRecord(ctx, stale, id); err != nil {
				t.Errorf("delete: %v", err)
			}
			now, err := s.OrganizationByName(ctx, "roadrunner")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.GetRecord(ctx, now, id); orgd.ErrorCode(err) != orgd.ENOTFOUND {
				t.Errorf("after the delete: %v, want not found", err)
			}
		})
	}
}

// TestDeleteDuringARenameCopy renames an organization of the database model,
// which copies its data in batches, while a second instance whose cache
// still holds the organization as it was deletes a record the copy has already
// carried. Every other record must arrive, and the deleted one must be gone.
func TestDeleteDuringARenameCopy(t *testing.T) {
	f := newFixture(t)
	f.tenancy = "database"
	f.cache = time.Minute // never synced here: other's copy stays as it was
	ctx := context.Background()
	s, other := f.store(""), f.store("")
	stale, err := s.CreateOrganization(ctx, "Acme", "a@x.test", "h")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.OrganizationByID(ctx, stale.ID); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 25 { // three batches of the fixture's ten
		ids = append(ids, createRecord(t, s, stale, fmt.Sprintf(`{"n":%d}`, i)))
	}
	src := f.db.Client.Database(stale.Database).Collection(stale.Collection)
	deleted := make(chan error, 1)
	batches := 0
	s.SetHooks(mongodb.Hooks{BeforeStep: func(op, step string) error {
		if op != "update" || step != "copy_batch" {
			return nil
		}
		if batches++; batches != 2 {
			return nil
		}
		// The first batch is copied: the other instance deletes its first
		// record, and waits (in settle) for the rename to end to delete it
		// from the new place too. The copy goes on once the source lost it.
		go func() { deleted <- other.DeleteRecord(ctx, stale, ids[0]) }()
		for start := time.Now(); time.Since(start) < time.Minute; {
			err := src.FindOne(ctx, bson.D{{Key: "_id", Value: ids[0]}}).Err()
			if errors.Is(err, mongo.ErrNoDocuments) {
				return nil
			} else if err != nil {
				return err
			}
			time.Sleep(5 * time.Millisecond)
		}
		return errors.New("the other instance's delete never reached the source")
	}})
	if _, err := s.UpdateOrganization(ctx, stale.ID, orgd.OrganizationUpdate{Name: ptr("Roadrunner")}); err != nil {
		t.Fatal(err)
	}
	if err := <-deleted; err != nil {
		t.Fatalf("the delete on the other instance: %v", err)
	}
	now, err := s.OrganizationByName(ctx, "roadrunner")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetRecord(ctx, now, ids[0]); orgd.ErrorCode(err) != orgd.ENOTFOUND {
		t.Errorf("the deleted record %s: %v", ids[0], err)
	}
	for i, id := range ids[1:] {
		if _, err := s.GetRecord(ctx, now, id); err != nil {
			t.Errorf("record %d (%s) after the rename: %v", i+1, id, err)
		}
	}
	if n, _ := f.docs(now.Database, now.Collection); n != len(ids)-1 {
		t.Errorf("%s.%s holds %d records, want %d", now.Database, now.Collection, n, len(ids)-1)
	}
	f.mustHold(s)
}

// TestStaleCopyDuringARename reads through an organization as another
// instance's cache holds it while a rename has moved the collection but not
// yet recorded where it went: the record is there, so none of the reads may
// say it is not, or come out empty; they answer "retry".
func TestStaleCopyDuringARename(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	s, other := f.store(""), f.store("")
	stale := mustCreate(t, s, "Acme", "a@x.test")
	id := createRecord(t, s, stale, `{"n":1}`)
	var checked bool
	s.SetHooks(mongodb.Hooks{BeforeStep: func(op, step string) error {
		if step != "commit" {
			return nil
		}
		checked = true
		if _, err := other.GetRecord(ctx, stale, id); orgd.ErrorCode(err) != orgd.ECONFLICT {
			t.Errorf("get: %v, want a conflict", err)
		}
		if page, err := other.ListRecords(ctx, stale, orgd.RecordQuery{Limit: 10}); orgd.ErrorCode(err) != orgd.ECONFLICT {
			t.Errorf("list: %v, %v, want a conflict", page, err)
		}
		var export bytes.Buffer
		if err := other.ExportRecords(ctx, stale, &export); orgd.ErrorCode(err) != orgd.ECONFLICT {
			t.Errorf("export: %q, %v, want a conflict", export.String(), err)
		}
		return nil
	}})
	if _, err := s.UpdateOrganization(ctx, stale.ID, orgd.OrganizationUpdate{Name: ptr("Roadrunner")}); err != nil {
		t.Fatal(err)
	}
	if !checked {
		t.Fatal("the rename has no commit step")
	}
	if _, err := other.GetRecord(ctx, stale, id); err != nil {
		t.Errorf("get after the rename: %v", err)
	}
}

// TestOldCopyAfterTheTombstone writes through an organization read before a
// rename that ended longer ago than tombstones are trusted: a request whose
// body took the server's whole read timeout, or an import of a slow upload.
// Nothing may land in the old place: the write goes where the organization
// is now, and an import that began before the rename stops with a conflict.
func TestOldCopyAfterTheTombstone(t *testing.T) {
	for _, sync := range []time.Duration{0, 20 * time.Second} {
		t.Run(fmt.Sprintf("cache sync %v", sync), func(t *testing.T) {
			f := newFixture(t)
			f.cache = sync
			ctx := context.Background()
			s, other := f.store(""), f.store("")
			stale := mustCreate(t, s, "Acme", "a@x.test")
			if _, err := other.OrganizationByID(ctx, stale.ID); err != nil { // now in other's cache, if it has one
				t.Fatal(err)
			}
			if _, err := s.UpdateOrganization(ctx, stale.ID, orgd.OrganizationUpdate{Name: ptr("Roadrunner")}); err != nil {
				t.Fatal(err)
			}
			// Past the tombstone's 30 s; within what a cache synced every
			// 20 s may still hold (three intervals).
			f.clock.Advance(40 * time.Second)

			id := createRecord(t, other, stale, `{"n":2}`)
			// From the cache or the database, other learns that the
			// organization changed since the import began.
			rep, err := other.ImportRecords(ctx, stale, strings.NewReader(`{"n":3}`+"\n"))
			if orgd.ErrorCode(err) != orgd.ECONFLICT || rep.Imported != 0 {
				t.Errorf("import: %+v, %v, want a conflict", rep, err)
			}
			now, err := s.OrganizationByName(ctx, "roadrunner")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.GetRecord(ctx, now, id); err != nil {
				t.Errorf("the record in %s.%s: %v", now.Database, now.Collection, err)
			}
			if n, _ := f.docs(stale.Database, stale.Collection); n != 0 {
				t.Errorf("the old %s.%s holds %d documents", stale.Database, stale.Collection, n)
			}
		})
	}
}

// TestRenameWithoutItsCollection renames an organization whose collection
// (or, in the database model, whose database) was dropped by hand: the
// rename completes with an empty one under the new name, where it used to
// fail as an internal error and leave the organization busy for good.
func TestRenameWithoutItsCollection(t *testing.T) {
	for _, tenancy := range []string{"", "database"} {
		t.Run(cmp.Or(tenancy, "collection"), func(t *testing.T) {
			f := newFixture(t)
			f.tenancy = tenancy
			ctx := context.Background()
			s := f.store("")
			o := mustCreate(t, s, "acme", "a@acme.test")
			db := f.db.Client.Database(o.Database)
			var err error
			if tenancy == "database" {
				err = db.Drop(ctx)
			} else {
				err = db.Collection(o.Collection).Drop(ctx)
			}
			if err != nil {
				t.Fatal(err)
			}
			u, err := s.UpdateOrganization(ctx, o.ID, orgd.OrganizationUpdate{Name: ptr("wile")})
			if err != nil {
				t.Fatalf("rename: %v", err)
			}
			if u.Status != orgd.StatusActive || u.Collection != "org_wile" {
				t.Fatalf("after the rename: %+v", u)
			}
			createRecord(t, s, u, `{"n":1}`)
			if n, _ := f.docs(u.Database, u.Collection); n != 1 {
				t.Errorf("%s.%s holds %d documents, want the one written", u.Database, u.Collection, n)
			}
			f.mustHold(s)
		})
	}
}

// TestStaleWriteWhoseClientHangsUp writes a record through an instance that
// has not yet heard of a rename, and the client hangs up the moment the
// database has stored it: the write is still made to land where the
// organization is now, not left in the old place that no organization owns.
func TestStaleWriteWhoseClientHangsUp(t *testing.T) {
	f := newFixture(t)
	f.cache = time.Minute // the clock stands still: other's cache stays stale
	s := f.store("")

	ctx, hangUp := context.WithCancel(context.Background())
	defer hangUp()
	var into atomic.Int64 // the request id of the insert into the old place
	var oldPlace atomic.Value
	mon := &event.CommandMonitor{
		Started: func(_ context.Context, e *event.CommandStartedEvent) {
			if c, _ := e.Command.Lookup("insert").StringValueOK(); c != "" && c == oldPlace.Load() {
				into.Store(e.RequestID)
			}
		},
		Succeeded: func(_ context.Context, e *event.CommandSucceededEvent) {
			if e.RequestID == into.Load() {
				hangUp()
			}
		},
	}
	client, err := mongo.Connect(options.Client().ApplyURI(f.db.URI).SetMonitor(mon))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = client.Disconnect(context.Background()) }()
	other := f.storeOn(client, "")
	stale := mustCreate(t, s, "Acme", "a@x.test")
	if _, err := other.OrganizationByID(context.Background(), stale.ID); err != nil { // cached there
		t.Fatal(err)
	}
	if _, err := s.UpdateOrganization(context.Background(), stale.ID, orgd.OrganizationUpdate{Name: ptr("Roadrunner")}); err != nil {
		t.Fatal(err)
	}
	oldPlace.Store(stale.Collection)
	id, _, werr := other.CreateRecord(ctx, stale, []byte(`{"n":2}`))
	if into.Load() == 0 {
		t.Fatal("the write did not go to the old place")
	}
	if werr != nil {
		t.Errorf("the write, its client gone: %v", werr)
	}
	now, err := s.OrganizationByName(context.Background(), "roadrunner")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetRecord(context.Background(), now, id); werr == nil && err != nil {
		t.Errorf("record %s in %s.%s: %v", id, now.Database, now.Collection, err)
	}
	if n, _ := f.docs(stale.Database, stale.Collection); n != 0 {
		t.Errorf("the old %s.%s holds %d documents", stale.Database, stale.Collection, n)
	}
}
