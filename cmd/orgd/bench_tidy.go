package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/orgd/orgd"
	"github.com/orgd/orgd/embeddb"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// organizations lists every organization by id.
func (e *benchEnv) organizations(ctx context.Context) (map[string]*orgd.Organization, error) {
	all := map[string]*orgd.Organization{}
	for after := ""; ; {
		page, next, err := e.store.ListOrganizations(ctx, orgd.OrgFilter{}, after, 1000)
		if err != nil {
			return nil, err
		}
		for _, o := range page {
			all[o.ID] = o
		}
		if next == "" {
			return all, nil
		}
		after = next
	}
}

// tidy takes out of dir, the embedded database's kept directory, what runs
// added to it: the organizations they created, the records they wrote, and
// their baselines' databases. Without it each run would leave the next one
// more organizations and records than its -orgs and -records say.
// everything looks at every organization's records, not only at those this
// run wrote to: a run before it stopped before tidying up.
func (e *benchEnv) tidy(ctx context.Context, dir string, everything bool, progress func(string, ...any)) error {
	all, err := e.organizations(ctx)
	if err != nil {
		return err
	}
	seeded := map[string]bool{}
	for _, o := range e.orgs {
		seeded[o.org.ID] = true
	}
	var extra []string
	for id := range all {
		if !seeded[id] {
			extra = append(extra, id)
		}
	}
	if len(extra) > 0 {
		progress("deleting %d organizations created by runs", len(extra))
	}
	for i, id := range extra {
		if err := e.store.DeleteOrganization(ctx, id); err != nil {
			return fmt.Errorf("delete organization %s: %w", id, err)
		}
		if (i+1)%100 == 0 {
			progress("deleted %d of %d", i+1, len(extra))
		}
	}
	for _, o := range e.orgs {
		if !everything && !o.written.Load() {
			continue
		}
		o.mu.Lock()
		db, coll := o.org.Database, o.org.Collection
		o.mu.Unlock()
		// Records the seed did not write: orgd's and the baseline's (and
		// those of earlier versions of the baseline, written without _org).
		filter := bson.D{{Key: "_id", Value: bson.D{{Key: "$nin", Value: o.records}}}}
		if _, err := e.db.Database(db).Collection(coll).DeleteMany(ctx, filter); err != nil {
			return fmt.Errorf("delete the records written to %s: %w", o.org.Name, err)
		}
	}
	names, err := embeddb.DatabaseNames(dir) // listDatabases takes minutes at 10,000 organizations
	if err != nil {
		return err
	}
	for _, name := range names {
		// Baselines' databases (orgd's own are orgd_*): this run's, and
		// those of runs that ended before dropping theirs.
		if strings.HasPrefix(name, "bench_") {
			if err := e.db.Database(name).Drop(ctx); err != nil {
				return err
			}
		}
	}
	if err := os.Remove(filepath.Join(dir, untidyMarker)); !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// untidyMarker is the file a run keeps in its data directory until it has
// tidied up.
const untidyMarker = "bench-untidy"

// untidied readies dir, a kept data directory, for this run. If a run
// before stopped before tidying up (killed, or while seeding), it takes out
// what that run added, before anything is measured. It refuses a directory
// with organizations but no seeding to reuse: they are not the bench's, and
// tidying up would delete them. Then it marks dir until this run has
// tidied up.
func (e *benchEnv) untidied(ctx context.Context, dir string, reused bool, progress func(string, ...any)) error {
	marker := filepath.Join(dir, untidyMarker)
	if _, err := os.Stat(marker); err == nil {
		progress("a run before this one stopped before tidying up: taking out of %s what it added", dir)
		if err := e.tidy(ctx, dir, true, progress); err != nil {
			return err
		}
	} else if !reused {
		all, err := e.organizations(ctx)
		if err != nil {
			return err
		}
		if len(all) > 0 {
			return fmt.Errorf("-data %s holds %d organizations but no %s: the bench did not seed them; use another directory", dir, len(all), benchStateFile)
		}
	}
	return os.WriteFile(marker, nil, 0o600)
}
