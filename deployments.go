package orgd

import "time"

// OrgFilter narrows an operator's listing of organizations; empty fields
// match all.
type OrgFilter struct {
	Deployment string
	Status     Status
	Tenancy    Tenancy
}

// DeploymentStats describes one deployment for operators.
type DeploymentStats struct {
	Name     string
	Home     bool // holds the master database
	Draining bool // the placement policy places no new organizations there
	Tenants  int64
	// What the deployment holds in all its databases: each collection and
	// each index is a storage-engine file, the resource that runs out first.
	Databases   int64
	Collections int64
	Indexes     int64
	DataSize    int64 // bytes, uncompressed
	StorageSize int64 // bytes on disk
	Error       string
}

// MoveProgress is what an operator sees of a move of an organization to
// another deployment or tenancy model.
type MoveProgress struct {
	OrgID string
	Name  string
	From  Placement
	To    Placement
	// Phase is copying, catching up, paused (writes wait), switched (the copy
	// serves reads; late writes are copied and the source dropped), undoing,
	// and once over, moved or undone.
	Phase     string
	Copied    int64 // documents copied by the bulk copy
	Total     int64 // documents to copy, as estimated when it began
	Rate      float64
	Remaining time.Duration // estimated time left of the bulk copy
	StartedAt time.Time
	// Paused is how long the organization's writes have been, or were, paused.
	Paused     time.Duration
	FinishedAt time.Time
	Checksum   string
	Error      string
	Done       bool
}
