package mongodb

import (
	"github.com/orgd/orgd"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// TenantCollection lets tests reach an organization's data the way the
// records API does.
func (s *Store) TenantCollection(o *orgd.Organization) *mongo.Collection {
	return s.tenantCollection(o)
}
