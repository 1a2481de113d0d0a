package mongodb

import (
	"cmp"
	"context"
	"time"

	"github.com/orgd/orgd"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Collections of logins, all keyed by _id. Expired entries are pruned; the
// one read on every request, revoked_sessions, only holds revocations younger
// than the longest access-token lifetime in use; and the refresh tokens an
// exchange reads first are only the live ones, one per login (two while an
// exchange runs), however often the logins were refreshed: a backend that
// scans a collection for every lookup would otherwise pay for every exchange
// of the last 30 days.
const (
	collSessions = "sessions"             // _id: session id: a login and the token family rotated from it
	collRefresh  = "refresh_tokens"       // _id: SHA-256 of a live refresh token
	collSpent    = "spent_refresh_tokens" // _id: SHA-256 of a refresh token exchanged already, until its login ends
	collRevoked  = "revoked_sessions"     // _id: session id, while access tokens of the session may be live
)

// legacyUsedPrefix marked, in refresh_tokens, a token that was exchanged,
// before spent tokens had their own collection; the live document stayed.
// Such a token is still a reuse when presented again.
const legacyUsedPrefix = "used/"

type sessionDoc struct {
	ID        string    `bson:"_id"`
	OrgID     string    `bson:"org_id"`
	AdminID   string    `bson:"admin_id"`
	CreatedAt time.Time `bson:"created_at"`
	ExpiresAt time.Time `bson:"expires_at"`
}

type refreshDoc struct {
	ID        string    `bson:"_id"` // the token's hash (legacyUsedPrefix+hash: an old version's mark of a spent one)
	SessionID string    `bson:"session_id"`
	OrgID     string    `bson:"org_id"`
	AdminID   string    `bson:"admin_id"`
	IssuedAt  time.Time `bson:"issued_at"`
	ExpiresAt time.Time `bson:"expires_at"`
	SpentBy   string    `bson:"spent_by,omitempty"` // on a spent token: the exchange that spent it
	// TokensUntil is when the access token issued with this refresh token
	// stops passing at the latest, by the token lifetime and leeway of the
	// instance that issued it, which may be longer than the revoker's.
	TokensUntil time.Time `bson:"tokens_until"`
}

type revokedDoc struct {
	ID        string    `bson:"_id"` // session id
	OrgID     string    `bson:"org_id,omitempty"`
	AdminID   string    `bson:"admin_id,omitempty"`
	Reason    string    `bson:"reason"`
	RevokedAt time.Time `bson:"revoked_at"`
	ExpiresAt time.Time `bson:"expires_at"`
}

func (s *Store) sessions() *mongo.Collection { return s.masterColl(collSessions) }
func (s *Store) refresh() *mongo.Collection  { return s.masterColl(collRefresh) }
func (s *Store) spent() *mongo.Collection    { return s.masterColl(collSpent) }
func (s *Store) revoked() *mongo.Collection  { return s.masterColl(collRevoked) }

// markRevoked tells the cache that session id is revoked, without reading
// the revocation: one is never undone, so knowing it exists is enough.
func (s *Store) markRevoked(id string, at time.Time) {
	if s.cache == nil {
		return
	}
	raw, _ := bson.Marshal(bson.D{{Key: "_id", Value: id}})
	s.cache.set(cacheKey{collRevoked, id}, raw, at)
}

// CreateSession records a new login of admin adminID, valid until expiresAt,
// with its first refresh token's hash.
func (s *Store) CreateSession(ctx context.Context, orgID, adminID string, expiresAt time.Time, refreshHash string) (*orgd.Session, error) {
	now := s.now()
	d := sessionDoc{ID: s.newID(), OrgID: orgID, AdminID: adminID, CreatedAt: now, ExpiresAt: expiresAt}
	if err := s.insert(ctx, s.sessions(), d); err != nil {
		return nil, translate(err)
	}
	rt := orgd.RefreshToken{Hash: refreshHash, SessionID: d.ID, OrgID: orgID, AdminID: adminID, IssuedAt: now, ExpiresAt: expiresAt}
	if err := s.insertRefresh(ctx, rt); err != nil { // a new login: nothing can have revoked it yet
		return nil, err
	}
	return &orgd.Session{ID: d.ID, OrgID: orgID, AdminID: adminID, CreatedAt: now, ExpiresAt: expiresAt}, nil
}

// SessionByID returns a live session, or ENOTFOUND once it has ended or been revoked.
func (s *Store) SessionByID(ctx context.Context, id string) (*orgd.Session, error) {
	var d sessionDoc
	if ok, err := findByID(ctx, s.sessions(), id, &d); err != nil {
		return nil, err
	} else if !ok {
		return nil, orgd.Errorf(orgd.ENOTFOUND, "Session does not exist.")
	}
	return &orgd.Session{ID: d.ID, OrgID: d.OrgID, AdminID: d.AdminID, CreatedAt: d.CreatedAt, ExpiresAt: d.ExpiresAt}, nil
}

// AddRefreshToken stores a refresh token's hash for its session, in place
// of the spent token it replaces. The
// exchange that made it checked the session (through a cache that may not
// have heard of a revocation yet) and issued an access token: should the
// session have been revoked meanwhile, the revocation is kept for as long as
// that token may pass. A revocation reads the session's refresh tokens only
// after it is recorded, so one or the other sees the token.
func (s *Store) AddRefreshToken(ctx context.Context, rt orgd.RefreshToken) error {
	if err := s.insertRefresh(ctx, rt); err != nil {
		return err
	}
	if err := s.keepRevocation(ctx, rt.SessionID, s.tokensUntilWith(rt)); err != nil {
		return err
	}
	if rt.Replaces == "" {
		return nil
	}
	// The spent token's live copy goes only now: rt carries its tokens_until.
	// The exchange has succeeded whatever this does: a copy left behind is
	// still refused as a reuse, and goes when its login ends.
	if err := s.deleteID(ctx, s.refresh(), rt.Replaces); err != nil {
		s.log.Warn("refresh: the exchanged token's copy stays until its login ends", "session_id", rt.SessionID, "err", err)
	}
	return nil
}

func (s *Store) insertRefresh(ctx context.Context, rt orgd.RefreshToken) error {
	return translate(s.insert(ctx, s.refresh(), s.refreshDoc(rt)))
}

// refreshDoc is rt as stored. Its tokens_until also covers the access
// tokens issued earlier in its login (rt.TokensUntil, from the token it was
// exchanged for), which another instance may have issued for longer: the
// live token is the one a revocation reads.
func (s *Store) refreshDoc(rt orgd.RefreshToken) refreshDoc {
	return refreshDoc{ID: rt.Hash, SessionID: rt.SessionID, OrgID: rt.OrgID, AdminID: rt.AdminID, IssuedAt: rt.IssuedAt, ExpiresAt: rt.ExpiresAt,
		TokensUntil: s.tokensUntilWith(rt)}
}

// tokensUntilWith is when the access tokens of rt's login issued up to rt's
// stop passing at the latest, by this instance's token lifetime and leeway.
func (s *Store) tokensUntilWith(rt orgd.RefreshToken) time.Time {
	if own := rt.IssuedAt.Add(s.revocationTTL); own.After(rt.TokensUntil) {
		return own
	}
	return rt.TokensUntil
}

// keepRevocation makes the revocation of session id, if there is one, last
// until tokensUntil and a minute more (a refresh racing it may be a moment
// younger).
func (s *Store) keepRevocation(ctx context.Context, id string, tokensUntil time.Time) error {
	until := tokensUntil.Add(time.Minute)
	filter := bson.D{{Key: "_id", Value: id}, {Key: "expires_at", Value: bson.D{{Key: "$lt", Value: until}}}}
	return translate(retry(ctx, func() error {
		_, err := s.revoked().UpdateOne(ctx, filter, bson.D{{Key: "$set", Value: bson.D{{Key: "expires_at", Value: until}}}})
		return err
	}))
}

// RefreshTokenByHash returns the refresh token stored under hash, spent or
// not, or ENOTFOUND. Live tokens are looked for first: they are what clients
// present, and there are few of them.
func (s *Store) RefreshTokenByHash(ctx context.Context, hash string) (*orgd.RefreshToken, error) {
	// One read finds the live copy and the mark a spend left beside it
	// before spent tokens had their own collection.
	cur, err := s.refresh().Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: bson.A{hash, legacyUsedPrefix + hash}}}}})
	if err != nil {
		return nil, translate(err)
	}
	var docs []refreshDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, translate(err)
	}
	var d *refreshDoc
	for i := range docs {
		if docs[i].ID == hash {
			d = &docs[i]
		}
	}
	switch {
	case d != nil && len(docs) == 2: // spent then: marked spent here, so that it is a reuse
		mark := *d
		mark.SpentBy = legacyUsedPrefix
		if err := s.insert(ctx, s.spent(), mark); err != nil && !mongo.IsDuplicateKeyError(err) {
			return nil, translate(err)
		}
	case d == nil:
		d = new(refreshDoc)
		if ok, err := findByID(ctx, s.spent(), hash, d); err != nil {
			return nil, err
		} else if !ok {
			return nil, orgd.Errorf(orgd.ENOTFOUND, "Refresh token does not exist.")
		}
	}
	return &orgd.RefreshToken{Hash: d.ID, SessionID: d.SessionID, OrgID: d.OrgID, AdminID: d.AdminID, IssuedAt: d.IssuedAt, ExpiresAt: d.ExpiresAt,
		TokensUntil: d.TokensUntil}, nil
}

// UseRefreshToken marks rt as exchanged by the exchange named spender. It
// reports false when rt had been exchanged already: a reuse. Only inserting
// an _id is atomic on every backend orgd supports, so the mark is an insert
// (of rt into the spent tokens), never an update. The live copy stays until
// the token that replaces it is stored (AddRefreshToken): until then, it is
// what tells a revocation how long the login's access tokens pass.
func (s *Store) UseRefreshToken(ctx context.Context, rt orgd.RefreshToken, spender string) (first bool, err error) {
	d := s.refreshDoc(rt)
	d.SpentBy = spender
	err = s.insert(ctx, s.spent(), d)
	if mongo.IsDuplicateKeyError(err) {
		return false, nil
	}
	return err == nil, translate(err)
}

// ReleaseRefreshToken undoes UseRefreshToken when the exchange spender
// could not finish (no new token was stored), so that the client's retry is
// not taken for a reuse. Only spender's own mark is removed: when its insert
// failed, the mark there may be another exchange's, which did get tokens.
func (s *Store) ReleaseRefreshToken(ctx context.Context, rt orgd.RefreshToken, spender string) error {
	return translate(retry(ctx, func() error {
		_, err := s.spent().DeleteOne(ctx, bson.D{{Key: "_id", Value: rt.Hash}, {Key: "spent_by", Value: spender}})
		return err
	}))
}

// SessionRevoked reports whether the session id was revoked; this is the
// check every authenticated request makes, one _id lookup in a small collection.
// The answer comes from the cache: a revocation made by this instance is
// seen at once, one made by another instance at its next cache sync.
func (s *Store) SessionRevoked(ctx context.Context, id string) (bool, error) {
	var d revokedDoc
	return cachedFind(ctx, s, s.revoked(), id, &d)
}

// RevokeSession ends the session id and every token of it. The revocation
// is recorded first, so that from the moment this returns (or fails after
// that step) no access token of the session passes SessionRevoked here; then
// the revocation is published to other instances, and the session and its
// refresh tokens are deleted (should that not happen, the revocation's record
// is kept until it does: see PruneAuth). Revoking twice is harmless, and
// publishes again. A caller that goes away does not stop it halfway.
func (s *Store) RevokeSession(ctx context.Context, id, reason string) error {
	ctx = context.WithoutCancel(ctx)
	var sd sessionDoc
	if _, err := findByID(ctx, s.sessions(), id, &sd); err != nil {
		return err
	}
	// Kept while an access token of the session may be live: one issued by a
	// refresh racing this revocation may be a moment younger, hence the margin.
	// Another instance may have issued the session's tokens for longer than
	// this one would: once the revocation is recorded, their refresh tokens
	// say how long (one stored later makes the revocation last itself: see
	// AddRefreshToken).
	now := s.now()
	d := revokedDoc{ID: id, OrgID: sd.OrgID, AdminID: sd.AdminID, Reason: reason, RevokedAt: now, ExpiresAt: now.Add(s.revocationTTL + time.Minute)}
	if err := s.insert(ctx, s.revoked(), d); err != nil && !mongo.IsDuplicateKeyError(err) {
		return translate(err)
	}
	s.markRevoked(id, now)
	// From here this instance refuses the login's tokens, and the client,
	// whose token it refuses, cannot ask again: whatever fails below, the
	// other instances are still told and the login still ended.
	var err error
	if h := s.hooks.BeforeStep; h != nil {
		err = h("revoke", "tokens")
	}
	until := now.Add(s.revocationTTL)
	if err == nil {
		until, err = s.tokensUntil(ctx, id, until)
	}
	if err == nil && until.After(now.Add(s.revocationTTL)) {
		err = s.keepRevocation(ctx, id, until)
	}
	keys := []changeKey{{collRevoked, id}}
	var perr error
	if h := s.hooks.BeforeStep; h != nil {
		perr = h("revoke", "publish")
	}
	if perr == nil {
		perr = s.publish(ctx, keys)
	}
	if perr != nil {
		// Other instances not told take the session's access tokens until
		// they are, or until they reload their cache whole; the client, whose
		// token this instance now refuses, cannot ask again.
		s.publishLater(keys, until)
	}
	if eerr := s.endSession(ctx, id); eerr != nil {
		return eerr
	}
	return cmp.Or(err, perr)
}

// tokensUntil is when the last access token of session id stops passing,
// and least at the earliest: an instance with a longer token lifetime (another, or
// this one before a restart with a shorter ORGD_TOKEN_TTL) may have issued
// one that outlives this instance's lifetime, and a revocation forgotten
// before it expires would let it pass again.
func (s *Store) tokensUntil(ctx context.Context, id string, least time.Time) (time.Time, error) {
	longer, err := s.tokensOutliving(ctx, []string{id})
	if err != nil {
		return least, err
	}
	if until := longer[id]; until.After(least) {
		return until, nil
	}
	return least, nil
}

// tokensOutliving returns, for the sessions ids whose refresh tokens say an
// access token of theirs passes past now, until when (one read for all).
func (s *Store) tokensOutliving(ctx context.Context, ids []string) (map[string]time.Time, error) {
	filter := bson.D{{Key: "session_id", Value: bson.D{{Key: "$in", Value: ids}}},
		{Key: "tokens_until", Value: bson.D{{Key: "$gt", Value: s.now()}}}}
	cur, err := s.refresh().Find(ctx, filter, options.Find().SetProjection(bson.D{{Key: "session_id", Value: 1}, {Key: "tokens_until", Value: 1}}))
	if err != nil {
		return nil, translate(err)
	}
	var docs []refreshDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, translate(err)
	}
	out := map[string]time.Time{}
	for _, d := range docs {
		if d.TokensUntil.After(out[d.SessionID]) {
			out[d.SessionID] = d.TokensUntil
		}
	}
	return out, nil
}

// publishLater publishes keys in the background, at the pace of
// background.pause, until it lands, the time until has come (a revocation no
// longer matters once the session's access tokens have expired), or the
// store closes.
func (s *Store) publishLater(keys []changeKey, until time.Time) {
	s.bg.run(func() {
		for wait := retryFirst; s.bg.pause(&wait); {
			ctx, cancel := context.WithTimeout(s.bg.ctx, 10*time.Second)
			err := s.publish(ctx, keys)
			cancel()
			if err == nil || !s.now().Before(until) {
				return
			}
		}
		s.log.Error("revocation not published: other instances learn of it at their next cache reload", "keys", len(keys))
	})
}

// endSession deletes the session id and its live refresh tokens. Its spent
// tokens stay until the login would have ended (PruneAuth): finding them
// would read every token ever spent, and presented again they are refused
// as tokens of a login that ended.
func (s *Store) endSession(ctx context.Context, id string) error {
	if err := s.deleteID(ctx, s.sessions(), id); err != nil {
		return err
	}
	return translate(retry(ctx, func() error {
		_, err := s.refresh().DeleteMany(ctx, bson.D{{Key: "session_id", Value: id}})
		return err
	}))
}

// RevokeOrganizationSessions revokes every session of the organization orgID.
func (s *Store) RevokeOrganizationSessions(ctx context.Context, orgID, reason string) error {
	return s.revokeWhere(ctx, bson.D{{Key: "org_id", Value: orgID}}, reason)
}

// revokeAdminSessions revokes every session of the admin adminID; a password
// change calls it once the new hash is stored. A login that read the old hash
// creates its session before checking the hash again, so it is either seen
// here or refuses itself.
func (s *Store) revokeAdminSessions(ctx context.Context, adminID, reason string) error {
	return s.revokeWhere(ctx, bson.D{{Key: "admin_id", Value: adminID}}, reason)
}

func (s *Store) revokeWhere(ctx context.Context, filter bson.D, reason string) error {
	ids, err := findIDs(ctx, s.sessions(), filter, 0)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := s.RevokeSession(ctx, id, reason); err != nil {
			return err
		}
	}
	return nil
}
