package mongodb

import (
	"context"
	"errors"
	"time"

	"github.com/orgd/orgd"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// orgDoc is an organization record as stored in the master database.
type orgDoc struct {
	ID         string    `bson:"_id"`
	Name       string    `bson:"name"`
	NameKey    string    `bson:"name_key"`
	Database   string    `bson:"database"`
	Collection string    `bson:"collection"`
	AdminID    string    `bson:"admin_id"`
	Status     string    `bson:"status"`          // active, or what the journaled operation is doing
	Version    int64     `bson:"version"`         // incremented when an operation marks it busy
	OpID       string    `bson:"op_id,omitempty"` // the operation that last claimed it: only that one may write it
	OpEpoch    int       `bson:"op_epoch"`        // and the run of it (its epoch) that did: no earlier run may
	CreatedAt  time.Time `bson:"created_at"`
	UpdatedAt  time.Time `bson:"updated_at"`

	// Where the data is, besides Database and Collection: absent on records
	// written before there was a choice, meaning the home deployment and the
	// collection model.
	Deployment string `bson:"deployment,omitempty"`
	Tenancy    string `bson:"tenancy,omitempty"`
}

// opDoc is the journal entry of a lifecycle operation in progress. Its _id is
// the organization's id, so inserting it is the one atomic step that gives an
// operation the organization to itself (FerretDB's updates are not atomic
// compare-and-sets; inserts of an _id are). It holds enough to finish or undo
// the operation, and is deleted when the operation ends.
type opDoc struct {
	OrgID      string    `bson:"_id"`
	ID         string    `bson:"op_id"`
	Epoch      int       `bson:"epoch"` // incremented by each takeover
	Kind       string    `bson:"kind"`  // create, update, delete
	Phase      string    `bson:"phase,omitempty"`
	Planned    bool      `bson:"planned"` // the intent below is recorded
	StartedAt  time.Time `bson:"started_at"`
	LeaseUntil time.Time `bson:"lease_until"`

	// Changes asked for; empty when not.
	NewName       string `bson:"new_name,omitempty"`
	NewNameKey    string `bson:"new_name_key,omitempty"`
	NewCollection string `bson:"new_collection,omitempty"`
	NewDatabase   string `bson:"new_database,omitempty"` // set when the collection moves by copy
	NewEmail      string `bson:"new_email,omitempty"`
	NewEmailKey   string `bson:"new_email_key,omitempty"`
	PasswordHash  string `bson:"password_hash,omitempty"`
	AdminID       string `bson:"admin_id,omitempty"` // a create's new admin
	// Keys to release once the operation has committed.
	OldNameKey  string `bson:"old_name_key,omitempty"`
	OldEmailKey string `bson:"old_email_key,omitempty"`
	// Where the collection was, for a rename; the source of a copy is dropped last.
	OldDatabase   string `bson:"old_database,omitempty"`
	OldCollection string `bson:"old_collection,omitempty"`
	Copied        int64  `bson:"copied,omitempty"` // documents copied so far, in _id order

	// Placement: a create's deployment and model; a rename's or a move's
	// source deployment and model; a move's target.
	Deployment    string `bson:"deployment,omitempty"`
	Tenancy       string `bson:"tenancy,omitempty"`
	NewDeployment string `bson:"new_deployment,omitempty"`
	NewTenancy    string `bson:"new_tenancy,omitempty"`
	// A rename found its target empty before anything moved: what is there
	// on a resumed run is its own.
	TargetChecked bool `bson:"target_checked,omitempty"`
	// Format is 1 for entries that journal TargetChecked, 0 for those of
	// earlier versions.
	Format int `bson:"format,omitempty"`
	// Copy progress across several collections (tenancy "database"): the
	// collection being copied, sorted by name, and how far into it.
	CopyColl   string        `bson:"copy_coll,omitempty"`
	CollCopied int64         `bson:"coll_copied,omitempty"`
	CollLast   bson.RawValue `bson:"coll_last,omitempty"`   // the _id of the last document of CopyColl copied
	CollTarget int64         `bson:"coll_target,omitempty"` // a move's copy stops there; its catch-up copies the rest
	Total      int64         `bson:"total,omitempty"`       // documents to copy, as estimated when the copy began
	// A move's timeline.
	CopyStartedAt time.Time     `bson:"copy_started_at,omitempty"`
	PausedAt      time.Time     `bson:"paused_at,omitempty"`     // the pause now in force, if any
	PausedBefore  time.Duration `bson:"paused_before,omitempty"` // earlier pauses, ended by stopped runs
	SwitchedAt    time.Time     `bson:"switched_at,omitempty"`
	ResumedAt     time.Time     `bson:"resumed_at,omitempty"` // an undone move's writes resumed
	Checksum      string        `bson:"checksum,omitempty"`   // of the documents verified before the switch
	Verified      int64         `bson:"verified,omitempty"`   // how many they were
	Error         string        `bson:"error,omitempty"`      // why the move was undone, for operators
}

// adminDoc is an admin account as stored in the master database.
type adminDoc struct {
	ID           string    `bson:"_id"`
	OrgID        string    `bson:"org_id"`
	Email        string    `bson:"email"`
	PasswordHash string    `bson:"password_hash"`
	CreatedAt    time.Time `bson:"created_at"`
	UpdatedAt    time.Time `bson:"updated_at"`
}

// keyDoc reserves a normalized name or email for its owner.
type keyDoc struct {
	ID        string    `bson:"_id"`
	OrgID     string    `bson:"org_id"`
	AdminID   string    `bson:"admin_id,omitempty"`
	CreatedAt time.Time `bson:"created_at"`
}

func (d *orgDoc) domain(home string) *orgd.Organization {
	o := &orgd.Organization{
		ID:         d.ID,
		Name:       d.Name,
		Database:   d.Database,
		Collection: d.Collection,
		AdminID:    d.AdminID,
		Status:     orgd.Status(d.Status),
		Version:    d.Version,
		CreatedAt:  d.CreatedAt,
		UpdatedAt:  d.UpdatedAt,
		Deployment: d.Deployment,
		Tenancy:    orgd.Tenancy(d.Tenancy),
	}
	if o.Deployment == "" {
		o.Deployment = home
	}
	if o.Tenancy == "" {
		o.Tenancy = orgd.TenancyCollection
	}
	return o
}

func (d *adminDoc) domain() *orgd.Admin {
	return &orgd.Admin{ID: d.ID, OrgID: d.OrgID, Email: d.Email, PasswordHash: d.PasswordHash}
}

func (s *Store) orgs() *mongo.Collection   { return s.masterColl(collOrgs) }
func (s *Store) admins() *mongo.Collection { return s.masterColl(collAdmins) }
func (s *Store) names() *mongo.Collection  { return s.masterColl(collNames) }
func (s *Store) emails() *mongo.Collection { return s.masterColl(collEmails) }
func (s *Store) ops() *mongo.Collection    { return s.masterColl(collOps) }
func (s *Store) takes() *mongo.Collection  { return s.masterColl(collTakes) }
func (s *Store) recent() *mongo.Collection { return s.masterColl(collRecent) }

// findByID decodes the document with _id id into v; found is false when there is none.
func findByID(ctx context.Context, c *mongo.Collection, id string, v any) (found bool, err error) {
	err = c.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(v)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return false, nil
	} else if err != nil {
		return false, translate(err)
	}
	return true, nil
}

func notFound(name string) error {
	return orgd.Errorf(orgd.ENOTFOUND, "Organization %q does not exist.", name)
}

// busy is the error for a request that touches an organization mid-operation.
func busy(d *orgDoc) error {
	return orgd.Errorf(orgd.ECONFLICT, "Organization %q is being %s; retry shortly.", d.Name, busyWhat(d))
}

// busyWhat says what is being done to an organization that is not active.
func busyWhat(d *orgDoc) string {
	if what := map[string]string{"creating": "created", "updating": "updated", "deleting": "deleted", "moving": "moved"}[d.Status]; what != "" {
		return what
	}
	return "changed"
}

// OrganizationByID returns the organization with id in any state, or ENOTFOUND.
func (s *Store) OrganizationByID(ctx context.Context, id string) (*orgd.Organization, error) {
	var d orgDoc
	if ok, err := cachedFind(ctx, s, s.orgs(), id, &d); err != nil {
		return nil, err
	} else if !ok {
		return nil, orgd.Errorf(orgd.ENOTFOUND, "Organization does not exist.")
	}
	return d.domain(s.deps.home), nil
}

// OrganizationByName returns the active organization called name (case-insensitively).
// An organization mid-operation is ECONFLICT; one still being created is ENOTFOUND;
// one whose move is pausing its writes is returned, with its status: it serves reads.
func (s *Store) OrganizationByName(ctx context.Context, name string) (*orgd.Organization, error) {
	if orgd.ValidateName(name) != "" {
		// No organization can have it: asking would only cost a scan and
		// leave an "absent" entry, as long as the name, in the cache.
		return nil, notFound(name)
	}
	var k keyDoc
	if ok, err := cachedFind(ctx, s, s.names(), orgd.NormalizeName(name), &k); err != nil {
		return nil, err
	} else if !ok {
		return nil, notFound(name)
	}
	var d orgDoc
	if ok, err := cachedFind(ctx, s, s.orgs(), k.OrgID, &d); err != nil {
		return nil, err
	} else if !ok || d.Status == string(orgd.StatusCreating) {
		return nil, notFound(name)
	}
	if !orgd.Status(d.Status).Readable() {
		return nil, busy(&d)
	}
	if d.NameKey != k.ID { // a key left over from an earlier name
		return nil, notFound(name)
	}
	return d.domain(s.deps.home), nil
}

// AdminByID returns the admin with id, or ENOTFOUND.
func (s *Store) AdminByID(ctx context.Context, id string) (*orgd.Admin, error) {
	var d adminDoc
	if ok, err := cachedFind(ctx, s, s.admins(), id, &d); err != nil {
		return nil, err
	} else if !ok {
		return nil, orgd.Errorf(orgd.ENOTFOUND, "Admin does not exist.")
	}
	return d.domain(), nil
}

// AdminFromDB is AdminByID read from the database, never from the cache,
// for the checks that must see another instance's change before it reaches
// this one's cache.
func (s *Store) AdminFromDB(ctx context.Context, id string) (*orgd.Admin, error) {
	var d adminDoc
	if ok, err := findByID(ctx, s.admins(), id, &d); err != nil {
		return nil, err
	} else if !ok {
		return nil, orgd.Errorf(orgd.ENOTFOUND, "Admin does not exist.")
	}
	return d.domain(), nil
}

// AdminByEmail returns the admin whose email is email (case-insensitively), or ENOTFOUND.
func (s *Store) AdminByEmail(ctx context.Context, email string) (*orgd.Admin, error) {
	var k keyDoc
	if ok, err := cachedFind(ctx, s, s.emails(), orgd.NormalizeEmail(email), &k); err != nil {
		return nil, err
	} else if !ok {
		return nil, orgd.Errorf(orgd.ENOTFOUND, "Admin does not exist.")
	}
	a, err := s.AdminByID(ctx, k.AdminID)
	if err != nil {
		return nil, err
	}
	if orgd.NormalizeEmail(a.Email) != k.ID { // the key is being released
		return nil, orgd.Errorf(orgd.ENOTFOUND, "Admin does not exist.")
	}
	return a, nil
}
