package mongodb

import (
	"context"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/orgd/orgd"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Tenancy models as stored; records written before there was a choice have
// none and use one collection in the shared tenant database.
const (
	tenancyCollection = string(orgd.TenancyCollection)
	tenancyDatabase   = string(orgd.TenancyDatabase)
)

// collDeployments holds what operators decided about each deployment
// (_id: deployment name): whether it is draining. Never credentials: those
// stay in the configuration.
const collDeployments = "deployments"

// place is where an organization's tenant data lives: a deployment, a
// tenancy model, and the database and main collection that follow from them.
type place struct {
	Deployment string
	Tenancy    string
	Database   string
	Collection string
}

func (p place) String() string {
	return fmt.Sprintf("%s.%s on %s", p.Database, p.Collection, p.Deployment)
}

// where names a collection (or with coll empty a database) in messages; the
// deployment is named unless it is the home one.
func (s *Store) where(dep, db, coll string) string {
	w := db
	if coll != "" {
		w += "." + coll
	}
	if dep != s.deps.home {
		w += " on " + dep
	}
	return w
}

// placeOf returns where the record d says its data is.
func (s *Store) placeOf(d *orgDoc) place {
	t := d.Tenancy
	if t == "" {
		t = tenancyCollection
	}
	return place{Deployment: s.deps.name(d.Deployment), Tenancy: t, Database: d.Database, Collection: d.Collection}
}

// placeFor names the database and collection of an organization called name
// on deployment dep in tenancy model t: the collection org_<name> in the
// tenant database, or in a database <prefix>org_<name> of its own.
func (s *Store) placeFor(id, name, dep, t string) place {
	p := place{Deployment: s.deps.name(dep), Tenancy: t, Database: s.sharedDB(id), Collection: orgd.CollectionName(name)}
	if t == tenancyDatabase {
		p.Database = s.dbPrefix + p.Collection
	}
	return p
}

// sharedDB is the database of the collection model that holds organization
// id's collection: the same for its whole life, whatever its name.
func (s *Store) sharedDB(id string) string {
	if s.spread <= 1 {
		return s.tenant.Name()
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(id))
	return s.sharedDBName(int(h.Sum32() % uint32(s.spread)))
}

func (s *Store) sharedDBName(i int) string { return fmt.Sprintf("%s_%02d", s.tenant.Name(), i) }

// sharedDBs are the databases of the collection model new organizations go to.
func (s *Store) sharedDBs() []string {
	if s.spread <= 1 {
		return []string{s.tenant.Name()}
	}
	dbs := make([]string, s.spread)
	for i := range dbs {
		dbs[i] = s.sharedDBName(i)
	}
	return dbs
}

// isSharedDB reports whether db is a database of the collection model as
// configured now, or as configured with another spread.
func (s *Store) isSharedDB(db string) bool {
	base := s.tenant.Name()
	if db == base {
		return true
	}
	n, ok := strings.CutPrefix(db, base+"_")
	if !ok || len(n) < 2 {
		return false
	}
	_, err := strconv.Atoi(n)
	return err == nil
}

// tenantDBPrefix is how every per-organization database name starts.
func (s *Store) tenantDBPrefix() string { return s.dbPrefix + orgd.CollectionPrefix }

// database returns the database of p on its deployment.
func (s *Store) database(p place) (*mongo.Database, error) {
	c, err := s.deps.client(p.Deployment)
	if err != nil {
		return nil, err
	}
	return c.Database(p.Database), nil
}

// coll returns the main collection of p: the sibling of tenantCollection for
// code that knows a placement rather than an organization.
func (s *Store) coll(p place) (*mongo.Collection, error) {
	db, err := s.database(p)
	if err != nil {
		return nil, err
	}
	return db.Collection(p.Collection), nil
}

// deploymentDoc is an operator's decision about a deployment.
type deploymentDoc struct {
	Name      string    `bson:"_id"`
	Draining  bool      `bson:"draining"`
	UpdatedAt time.Time `bson:"updated_at"`
}

func (s *Store) deploymentDocs() *mongo.Collection { return s.masterColl(collDeployments) }

// tenantCounts caches how many organizations each deployment holds, for the
// placement policy: counting reads every record, so it is done at most every
// countsTTL, and this process's own placements are added as they happen so
// that a burst of creates spreads too. Several instances each keep their own:
// placement is a balance, not an invariant.
type tenantCounts struct {
	mu   sync.Mutex
	at   time.Time
	n    map[string]int64
	down map[string]time.Time // deployments a create here found unavailable, and when
}

const countsTTL = 10 * time.Second

// downFor is how long the placement policy passes over a deployment that a
// create found unavailable: the fewest tenants are no reason to pick one that
// does not answer, and a failed create there counts for none.
const downFor = 30 * time.Second

// markDown records that deployment dep failed a create as unavailable.
func (s *Store) markDown(dep string) {
	s.counts.mu.Lock()
	defer s.counts.mu.Unlock()
	if s.counts.down == nil {
		s.counts.down = map[string]time.Time{}
	}
	s.counts.down[s.deps.name(dep)] = s.now()
}

func (s *Store) addCount(dep string, delta int64) {
	s.counts.mu.Lock()
	defer s.counts.mu.Unlock()
	if s.counts.n != nil {
		s.counts.n[s.deps.name(dep)] += delta
	}
}

// countTenants counts the organizations of every deployment, in any state.
func (s *Store) countTenants(ctx context.Context) (map[string]int64, error) {
	pipeline := bson.A{bson.D{{Key: "$group", Value: bson.D{{Key: "_id", Value: "$deployment"}, {Key: "n", Value: bson.D{{Key: "$sum", Value: 1}}}}}}}
	cur, err := s.orgs().Aggregate(ctx, pipeline)
	if err != nil {
		return nil, translate(err)
	}
	var rows []struct {
		Dep *string `bson:"_id"`
		N   int64   `bson:"n"`
	}
	if err := cur.All(ctx, &rows); err != nil {
		return nil, translate(err)
	}
	out := map[string]int64{}
	for _, r := range rows {
		name := ""
		if r.Dep != nil {
			name = *r.Dep
		}
		out[s.deps.name(name)] += r.N
	}
	return out, nil
}

// draining returns the deployments marked as draining.
func (s *Store) draining(ctx context.Context) (map[string]bool, error) {
	docs, err := all[deploymentDoc](ctx, s.deploymentDocs())
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, d := range docs {
		out[d.Name] = d.Draining
	}
	return out, nil
}

// choose applies the placement policy to a new organization or a move: the
// deployment asked for, which must be configured (draining or not), or else
// the non-draining deployment with the fewest tenants (ties: by name).
func (s *Store) choose(ctx context.Context, want orgd.Placement) (dep, tenancy string, err error) {
	var v orgd.Validation
	v.Check("tenancy", orgd.ValidateTenancy(want.Tenancy))
	if want.Deployment != "" {
		if msg := orgd.ValidateDeployment(want.Deployment); msg != "" {
			v.Check("deployment", msg)
		} else if _, ok := s.deps.clients[want.Deployment]; !ok {
			v.Check("deployment", fmt.Sprintf("is not a configured deployment (configured: %s)", strings.Join(s.deps.names, ", ")))
		}
	}
	if err := v.Err(); err != nil {
		return "", "", err
	}
	tenancy = string(want.Tenancy)
	if tenancy == "" {
		tenancy = s.tenancy
	}
	if want.Deployment != "" {
		// Draining keeps the policy away; an operator who names a
		// deployment means it (a tenant given hardware of its own goes to a
		// deployment drained so that nobody else does).
		s.addCount(want.Deployment, 1)
		return want.Deployment, tenancy, nil
	}
	drain, err := s.draining(ctx)
	if err != nil {
		return "", "", err
	}
	s.counts.mu.Lock()
	defer s.counts.mu.Unlock()
	if s.counts.n == nil || s.now().Sub(s.counts.at) > countsTTL {
		n, err := s.countTenants(ctx)
		if err != nil {
			return "", "", err
		}
		s.counts.n, s.counts.at = n, s.now()
	}
	for _, avoidDown := range []bool{true, false} { // a deployment that failed lately only if all did
		for _, name := range s.deps.names {
			if at, ok := s.counts.down[name]; avoidDown && ok && s.now().Sub(at) < downFor {
				continue
			}
			if !drain[name] && (dep == "" || s.counts.n[name] < s.counts.n[dep]) {
				dep = name
			}
		}
		if dep != "" {
			break
		}
	}
	if dep == "" {
		return "", "", orgd.Errorf(orgd.EUNAVAILABLE, "Every deployment is draining: no organization can be placed; ask an operator.")
	}
	s.counts.n[dep]++
	return dep, tenancy, nil
}

// SetDraining marks deployment name as draining (the placement policy
// places no new organizations there; naming it still does) or not.
func (s *Store) SetDraining(ctx context.Context, name string, draining bool) error {
	if _, ok := s.deps.clients[name]; !ok {
		return orgd.Errorf(orgd.ENOTFOUND, "Deployment %q is not configured.", name)
	}
	doc := deploymentDoc{Name: name, Draining: draining, UpdatedAt: s.now()}
	return translate(retry(ctx, func() error {
		_, err := s.deploymentDocs().ReplaceOne(ctx, bson.D{{Key: "_id", Value: name}}, doc, options.Replace().SetUpsert(true))
		return err
	}))
}

// source is where a rename or a move takes the data from.
func (s *Store) source(op *opDoc) place {
	t := op.Tenancy
	if t == "" {
		t = tenancyCollection
	}
	return place{Deployment: s.deps.name(op.Deployment), Tenancy: t, Database: op.OldDatabase, Collection: op.OldCollection}
}

// target is where a create puts the data, or a rename or a move takes it.
func (s *Store) target(op *opDoc) place {
	p := s.source(op)
	if op.NewDeployment != "" {
		p.Deployment = op.NewDeployment
	}
	if op.NewTenancy != "" {
		p.Tenancy = op.NewTenancy
	}
	if op.NewDatabase != "" {
		p.Database = op.NewDatabase
	}
	if op.NewCollection != "" {
		p.Collection = op.NewCollection
	}
	return p
}

// chooseMove picks a move's target deployment: the one asked for, or the
// placement policy's choice among the others.
func (s *Store) chooseMove(ctx context.Context, want orgd.Placement, src place) (string, string, error) {
	if want.Tenancy == "" {
		want.Tenancy = orgd.Tenancy(src.Tenancy)
	}
	if want.Deployment != "" {
		return s.choose(ctx, want)
	}
	others := orgd.Placement{Tenancy: want.Tenancy}
	drain, err := s.draining(ctx)
	if err != nil {
		return "", "", err
	}
	for _, name := range s.deps.names {
		if name != src.Deployment && !drain[name] {
			others.Deployment = name
			break
		}
	}
	if others.Deployment == "" {
		return "", "", orgd.Errorf(orgd.ECONFLICT, "No other deployment takes new organizations; name one, or a tenancy model.")
	}
	counts, err := s.countTenants(ctx)
	if err != nil {
		return "", "", err
	}
	for _, name := range s.deps.names {
		if name != src.Deployment && !drain[name] && counts[name] < counts[others.Deployment] {
			others.Deployment = name
		}
	}
	return s.choose(ctx, others)
}

// mustBeEmpty refuses a target that already holds data: it would be
// overwritten, and no organization claims it (an undone move drops it).
func (s *Store) mustBeEmpty(ctx context.Context, p place) error {
	c, err := s.dataIn(ctx, p)
	if err != nil {
		return err
	}
	if c != "" {
		return orgd.Errorf(orgd.ECONFLICT, "The target %s.%s on %s already holds data of unknown origin; run orgd doctor.", p.Database, c, p.Deployment)
	}
	return nil
}
