package mongodb_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/orgd/orgd"
	"github.com/orgd/orgd/mongodb"
	"github.com/orgd/orgd/mongotest"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// TestResumeSparesANewOwnersData interrupts a delete, and a database-model
// rename, after they dropped the organization's data and released its name;
// a new organization takes the name, and so the same place, before the
// reconciler finishes them. Finishing must not drop the newcomer's data.
func TestResumeSparesANewOwnersData(t *testing.T) {
	for _, c := range []struct {
		name, tenancy, step string
		interrupt           func(s *mongodb.Store, o *orgd.Organization) error
	}{
		{"delete", "", "delete_record", func(s *mongodb.Store, o *orgd.Organization) error {
			return s.DeleteOrganization(context.Background(), o.ID)
		}},
		{"rename", "database", "finish", func(s *mongodb.Store, o *orgd.Organization) error {
			_, err := s.UpdateOrganization(context.Background(), o.ID, orgd.OrganizationUpdate{Name: ptr("Roadrunner")})
			return err
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			f.tenancy = c.tenancy
			ctx := context.Background()
			s := f.store("")
			old := mustCreate(t, s, "Acme", "old@acme.test")
			f.insertDocs(old, 3)
			s.SetHooks(abortAt(c.step))
			if err := c.interrupt(s, old); err == nil {
				t.Fatal("the operation was not interrupted")
			}
			neu, err := f.store("").CreateOrganization(ctx, "Acme", "new@acme.test", "h")
			if err != nil {
				t.Fatalf("the released name cannot be taken: %v", err)
			}
			f.insertDocs(neu, 5)
			f.restartLater()
			s = f.store("")
			if _, err := s.Reconcile(ctx); err != nil {
				t.Fatal(err)
			}
			if n, _ := f.docs(neu.Database, neu.Collection); n != 5 {
				t.Errorf("the new Acme's %s.%s holds %d documents, want 5", neu.Database, neu.Collection, n)
			}
			f.mustHold(s)
		})
	}
}

// TestRenameRefusesDataOfUnknownOrigin renames into a database that already
// holds data no organization claims: the rename is refused and undone, and
// that data is left for a person to decide about.
func TestRenameRefusesDataOfUnknownOrigin(t *testing.T) {
	for _, tenancy := range []string{"", "database"} {
		t.Run(map[string]string{"": "collection", "database": "database"}[tenancy], func(t *testing.T) {
			f := newFixture(t)
			f.tenancy = tenancy
			ctx := context.Background()
			s := f.store("")
			acme := mustCreate(t, s, "Acme", "admin@acme.test")
			f.insertDocs(acme, 3)
			db := acme.Database
			if tenancy == "database" {
				db = f.db.Prefix + "org_beta"
			}
			stray := f.db.Client.Database(db).Collection("org_beta")
			if _, err := stray.InsertOne(ctx, bson.D{{Key: "_id", Value: "someone-elses"}}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.UpdateOrganization(ctx, acme.ID, orgd.OrganizationUpdate{Name: ptr("Beta")}); orgd.ErrorCode(err) != orgd.ECONFLICT {
				t.Errorf("rename into data of unknown origin: %v, want a conflict", err)
			}
			if n, _ := stray.CountDocuments(ctx, bson.D{}); n != 1 {
				t.Errorf("the data of unknown origin holds %d documents, want its 1", n)
			}
			o, err := s.OrganizationByName(ctx, "Acme")
			if err != nil || o.Status != orgd.StatusActive {
				t.Fatalf("after the refusal: %v, %v; want Acme active", o, err)
			}
			if n, _ := f.docs(o.Database, o.Collection); n != 3 {
				t.Errorf("Acme's data holds %d documents, want 3", n)
			}
			if _, err := s.OrganizationByName(ctx, "Beta"); orgd.ErrorCode(err) != orgd.ENOTFOUND {
				t.Errorf("the name Beta: %v, want it free again", err)
			}
		})
	}
}

// TestStalledOwnerSparesTheNextOperation stalls an operation past its lease
// between a check and a write (inside its last step's lease renewal, and
// just before its last write to the organization's record); the reconciler
// finishes it and the organization's next operation, a delete, starts. When
// the stalled run wakes, it must write over neither the delete's journal
// entry nor its record.
func TestStalledOwnerSparesTheNextOperation(t *testing.T) {
	for _, at := range []int{1, 2} { // which clock reading after the last step's check stalls
		t.Run(fmt.Sprintf("reading %d", at), func(t *testing.T) {
			f := newFixture(t)
			ctx := context.Background()
			acme, err := f.store("").CreateOrganization(ctx, "Acme", "admin@acme.test", "h")
			if err != nil {
				t.Fatal(err)
			}
			owner, stalled, release := f.stallingStore("finish", at)
			done := make(chan error, 1)
			go func() {
				_, err := owner.UpdateOrganization(ctx, acme.ID, orgd.OrganizationUpdate{Email: ptr("boss@acme.test")})
				done <- err
			}()
			<-stalled
			f.restartLater()
			if did, err := f.store("").Reconcile(ctx); err != nil || len(did) != 1 {
				t.Fatalf("takeover: %v, %v", did, err)
			}
			next := f.store("")
			atRelease, goOn := make(chan struct{}), make(chan struct{})
			next.SetHooks(mongodb.Hooks{BeforeStep: func(_, step string) error {
				if step == "release" {
					close(atRelease)
					<-goOn
				}
				return nil
			}})
			deleted := make(chan error, 1)
			go func() { deleted <- next.DeleteOrganization(ctx, acme.ID) }()
			<-atRelease
			close(release)
			t.Logf("the stalled run: %v", <-done)
			var rec struct {
				Status string `bson:"status"`
			}
			if err := f.db.Client.Database(f.db.MasterDB).Collection("organizations").FindOne(ctx, bson.D{{Key: "_id", Value: acme.ID}}).Decode(&rec); err != nil || rec.Status != "deleting" {
				t.Errorf("the record while the delete runs: %+v, %v; want status deleting", rec, err)
			}
			close(goOn)
			if err := <-deleted; err != nil {
				t.Errorf("the next operation, a delete: %v", err)
			}
			s := f.store("")
			f.mustHold(s)
			if _, err := s.OrganizationByName(ctx, "Acme"); orgd.ErrorCode(err) != orgd.ENOTFOUND {
				t.Errorf("after the delete: %v, want it gone", err)
			}
		})
	}
}

// TestUnconfiguredDeployment renames and deletes an organization whose
// deployment was left out of the configuration: both are refused as
// unavailable before they start, and the organization stays as it was.
func TestUnconfiguredDeployment(t *testing.T) {
	f := newFixture(t)
	f.deps = deployments(t, 2)
	ctx := context.Background()
	o, err := f.store("").CreateOrganizationAt(ctx, "Acme", "a@acme.test", "h", orgd.Placement{Deployment: "east"})
	if err != nil {
		t.Fatal(err)
	}
	f.deps = nil // east is no longer configured
	s := f.store("")
	if _, err := s.UpdateOrganization(ctx, o.ID, orgd.OrganizationUpdate{Name: ptr("Roadrunner")}); orgd.ErrorCode(err) != orgd.EUNAVAILABLE {
		t.Errorf("rename: %v, want unavailable", err)
	}
	if err := s.DeleteOrganization(ctx, o.ID); orgd.ErrorCode(err) != orgd.EUNAVAILABLE {
		t.Errorf("delete: %v, want unavailable", err)
	}
	if _, err := s.UpdateOrganization(ctx, o.ID, orgd.OrganizationUpdate{Email: ptr("b@acme.test")}); err != nil {
		t.Errorf("an email change, which touches no data: %v", err)
	}
	if got, err := s.OrganizationByName(ctx, "Acme"); err != nil || got.Status != orgd.StatusActive {
		t.Errorf("afterwards: %v, %v; want Acme active", got, err)
	}
}

// TestCreatesWithADeploymentDown places organizations while one of two
// deployments does not answer: after the first create there fails, the
// policy passes over it, and the name of the failed create is free again.
func TestCreatesWithADeploymentDown(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	down, err := mongodb.Connect(ctx, "mongodb://127.0.0.1:1/?directConnection=true", 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = down.Disconnect(context.Background()) })
	f.deps = map[string]*mongo.Client{"east": down}
	s := f.store("")
	var failed []string
	for i := range 4 {
		name := fmt.Sprintf("new%d", i)
		if _, err := s.CreateOrganization(ctx, name, name+"@x.test", "h"); err != nil {
			if orgd.ErrorCode(err) != orgd.EUNAVAILABLE {
				t.Errorf("create %s: %v, want unavailable at worst", name, err)
			}
			failed = append(failed, name)
		}
	}
	if len(failed) > 1 {
		t.Errorf("creates that failed: %v; want at most the first, then the other deployment", failed)
	}
	for _, name := range failed {
		if _, err := s.CreateOrganizationAt(ctx, name, "again-"+name+"@x.test", "h", orgd.Placement{Deployment: "main"}); err != nil {
			t.Errorf("the name of a failed create is not free again: %v", err)
		}
	}
}

// TestRetireDuringAMove retires a deployment while a move away from it
// could not drop its source: the move must still end once the deployment
// is out of the configuration, and the organization take changes again.
func TestRetireDuringAMove(t *testing.T) {
	f := newFixture(t)
	srv := mongotest.NewServer(t)
	ctx := context.Background()
	east, err := mongodb.Connect(ctx, srv.URI, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	f.deps = map[string]*mongo.Client{"east": east}
	s := f.store("")
	o, err := s.CreateOrganizationAt(ctx, "leaver", "l@x.test", "h", orgd.Placement{Deployment: "east"})
	if err != nil {
		t.Fatal(err)
	}
	f.insertDocs(o, 20)
	s.SetHooks(mongodb.Hooks{BeforeStep: func(_, step string) error {
		if step == "drop_source" {
			_ = east.Disconnect(context.Background()) // east goes away for good
		}
		return nil
	}})
	if err := s.Move(ctx, o.ID, orgd.Placement{Deployment: "main"}); err == nil {
		t.Fatal("the move dropped its source on a deployment that was gone")
	}
	f.deps = nil // retired
	f.restartLater()
	s = f.store("")
	if _, err := s.Resume(ctx); err != nil {
		t.Fatalf("resume once east is retired: %v", err)
	}
	if _, err := s.UpdateOrganization(ctx, o.ID, orgd.OrganizationUpdate{Name: ptr("leaver2")}); err != nil {
		t.Errorf("rename after east was retired: %v", err)
	}
	now, err := s.OrganizationByName(ctx, "leaver2")
	if err != nil || now.Deployment != "main" {
		t.Fatalf("after the move: %v, %v", now, err)
	}
	if n, _ := f.docs(now.Database, now.Collection); n != 20 {
		t.Errorf("the moved data holds %d documents, want 20", n)
	}
}

// TestResumedRenameAfterAStaleWrite interrupts a collection rename after
// the collection was renamed; a writer that read the old place then
// recreates it. Finishing the rename must keep every record with the
// organization, not take its own renamed collection for foreign data.
func TestResumedRenameAfterAStaleWrite(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	s := f.store("")
	acme := mustCreate(t, s, "Acme", "admin@acme.test")
	f.insertDocs(acme, 3)
	interruptRename(t, s, acme, "commit")
	old := f.db.Client.Database(acme.Database).Collection(acme.Collection)
	if _, err := old.InsertMany(ctx, []any{bson.D{{Key: "_id", Value: "late"}, {Key: "_org", Value: acme.ID}},
		bson.D{{Key: "_id", Value: 1}, {Key: "_org", Value: acme.ID}, {Key: "tag", Value: "newer"}}}); err != nil {
		t.Fatal(err)
	}
	s, o := f.resumeRename(t)
	if n, _ := f.docs(o.Database, o.Collection); n != 4 {
		t.Errorf("%s.%s holds %d documents, want the 3 renamed and the late one", o.Database, o.Collection, n)
	}
	var one struct {
		Tag string `bson:"tag"`
	}
	if err := f.db.Client.Database(o.Database).Collection(o.Collection).FindOne(ctx, bson.D{{Key: "_id", Value: 1}}).Decode(&one); err != nil || one.Tag != "newer" {
		t.Errorf("the record the late writer replaced: %+v, %v; want its newer version", one, err)
	}
	f.mustHold(s)
}

// TestRecordOfAnEarlierVersion changes an organization whose record no
// operation has claimed yet (written before records were claimed).
func TestRecordOfAnEarlierVersion(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	s := f.store("")
	o := mustCreate(t, s, "Acme", "admin@acme.test")
	orgs := f.db.Client.Database(f.db.MasterDB).Collection("organizations")
	if _, err := orgs.UpdateOne(ctx, bson.D{{Key: "_id", Value: o.ID}}, bson.D{{Key: "$unset", Value: bson.D{{Key: "op_id", Value: ""}}}}); err != nil {
		t.Fatal(err)
	}
	s = f.store("")
	if _, err := s.UpdateOrganization(ctx, o.ID, orgd.OrganizationUpdate{Name: ptr("Beta")}); err != nil {
		t.Fatalf("rename: %v", err)
	}
	if err := s.DeleteOrganization(ctx, o.ID); err != nil {
		t.Fatalf("delete: %v", err)
	}
	f.mustHold(s)
}

// TestRenameOntoItsOwnStrays renames an organization into a collection that
// already holds some of its own records (left by a late write after an
// earlier rename): nothing has moved yet, so the rename is refused and
// undone rather than merged, and every record stays where it was.
func TestRenameOntoItsOwnStrays(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	s := f.store("")
	acme := mustCreate(t, s, "Acme", "admin@acme.test")
	f.insertDocs(acme, 3)
	stray := f.db.Client.Database(acme.Database).Collection("org_beta")
	if _, err := stray.InsertOne(ctx, bson.D{{Key: "_id", Value: "stray"}, {Key: "_org", Value: acme.ID}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateOrganization(ctx, acme.ID, orgd.OrganizationUpdate{Name: ptr("Beta")}); orgd.ErrorCode(err) != orgd.ECONFLICT {
		t.Errorf("rename: %v, want a conflict", err)
	}
	if n, _ := f.docs(acme.Database, acme.Collection); n != 3 {
		t.Errorf("%s holds %d documents, want its 3", acme.Collection, n)
	}
	if o, err := s.OrganizationByName(ctx, "Acme"); err != nil || o.Collection != acme.Collection {
		t.Errorf("after the refusal: %v, %v", o, err)
	}
}

// TestResumeARenameOfAnEarlierVersion resumes a collection rename journaled
// by a version that did not record its target check, interrupted after the
// collection was renamed, whose old collection a late writer recreated: it
// finishes, every record where the record says.
func TestResumeARenameOfAnEarlierVersion(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	s := f.store("")
	acme := mustCreate(t, s, "Acme", "admin@acme.test")
	for i := range 3 {
		createRecord(t, s, acme, fmt.Sprintf(`{"n":%d}`, i))
	}
	interruptRename(t, s, acme, "commit")
	ops := f.db.Client.Database(f.db.MasterDB).Collection("operations")
	if _, err := ops.UpdateOne(ctx, bson.D{{Key: "_id", Value: acme.ID}}, bson.D{{Key: "$unset", Value: bson.D{{Key: "target_checked", Value: ""}, {Key: "format", Value: ""}}}}); err != nil {
		t.Fatal(err)
	}
	old := f.db.Client.Database(acme.Database).Collection(acme.Collection)
	if _, err := old.InsertOne(ctx, bson.D{{Key: "_id", Value: "late"}, {Key: "_org", Value: acme.ID}}); err != nil {
		t.Fatal(err)
	}
	s, o := f.resumeRename(t)
	if n, _ := f.docs(o.Database, o.Collection); n != 4 {
		t.Errorf("%s.%s holds %d documents, want the 3 renamed and the late one", o.Database, o.Collection, n)
	}
	f.mustHold(s)
}

// TestRenameOfALostCollection renames an organization whose collection is
// gone into a collection that holds another's data: refused, not adopted.
func TestRenameOfALostCollection(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	s := f.store("")
	acme := mustCreate(t, s, "Acme", "admin@acme.test")
	if err := f.db.Client.Database(acme.Database).Collection(acme.Collection).Drop(ctx); err != nil {
		t.Fatal(err)
	}
	other := f.db.Client.Database(acme.Database).Collection("org_beta")
	if _, err := other.InsertOne(ctx, bson.D{{Key: "_id", Value: "foreign"}, {Key: "_org", Value: "someone-else"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateOrganization(ctx, acme.ID, orgd.OrganizationUpdate{Name: ptr("Beta")}); orgd.ErrorCode(err) != orgd.ECONFLICT {
		t.Errorf("rename onto another's data: %v, want a conflict", err)
	}
	if o, err := s.OrganizationByName(ctx, "Acme"); err != nil || o.Collection != acme.Collection {
		t.Errorf("after the refusal: %v, %v; want Acme where it was", o, err)
	}
}

// TestAdoptionReadsTheJournalAgain repairs an abandoned rename from a list
// of problems read before its stalled owner woke, renamed the collection
// and died: the takeover must work from the journal as it is then, not as
// listed, or it would take the renamed data for foreign and undo the rename.
func TestAdoptionReadsTheJournalAgain(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	s := f.store("")
	acme := mustCreate(t, s, "Acme", "admin@acme.test")
	for i := range 3 {
		createRecord(t, s, acme, fmt.Sprintf(`{"n":%d}`, i))
	}
	reached, resume := make(chan struct{}), make(chan struct{})
	s.SetHooks(mongodb.Hooks{BeforeStep: func(_, step string) error {
		switch step {
		case "move_collection":
			close(reached)
			<-resume
		case "commit":
			return mongodb.ErrAbort // dies after the rename
		}
		return nil
	}})
	done := make(chan error, 1)
	go func() {
		_, err := s.UpdateOrganization(ctx, acme.ID, orgd.OrganizationUpdate{Name: ptr("Beta")})
		done <- err
	}()
	<-reached
	f.restartLater() // the run stalls past its lease
	doctor := f.store("")
	probs, err := doctor.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	close(resume)
	if err := <-done; err == nil {
		t.Fatal("the rename was not interrupted")
	}
	f.restartLater()
	for _, p := range probs {
		if p.Auto {
			if _, err := p.Repair(ctx); err != nil {
				t.Errorf("repair %s: %v", p.Text, err)
			}
		}
	}
	o, err := doctor.OrganizationByID(ctx, acme.ID)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := f.docs(o.Database, o.Collection); n != 3 {
		t.Errorf("%q at %s.%s holds %d documents, want 3", o.Name, o.Database, o.Collection, n)
	}
}

// interruptRename renames o Beta on s, stopped at step as by a crash there.
func interruptRename(t *testing.T, s *mongodb.Store, o *orgd.Organization, step string) {
	t.Helper()
	s.SetHooks(abortAt(step))
	if _, err := s.UpdateOrganization(context.Background(), o.ID, orgd.OrganizationUpdate{Name: ptr("Beta")}); err == nil {
		t.Fatal("the rename was not interrupted")
	}
}

// resumeRename lets a restarted instance finish an interrupted rename to
// Beta, and returns it and the organization as Beta.
func (f *fixture) resumeRename(t *testing.T) (*mongodb.Store, *orgd.Organization) {
	t.Helper()
	f.restartLater()
	s := f.store("")
	if _, err := s.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	o, err := s.OrganizationByName(context.Background(), "Beta")
	if err != nil {
		t.Fatalf("after the resumed rename: %v", err)
	}
	return s, o
}
