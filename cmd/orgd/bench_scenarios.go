package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/oklog/ulid/v2"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"golang.org/x/crypto/bcrypt"
)

// renameName is the rename scenario's name.
const renameName = "PUT /org/update (rename)"

// benchScenario is an endpoint driven through orgd, and the same database
// work issued directly with the driver, as a hand-written client would.
type benchScenario struct {
	name, baselineName string
	orgd, baseline     func(*mrand.Rand) error
}

func (e *benchEnv) scenarios(bc benchConfig) []benchScenario {
	var scratch atomic.Int64
	raw := e.raw
	return []benchScenario{
		{"GET /org/get", "driver: name key + record by _id", e.getOrg, func(rng *mrand.Rand) error {
			o := e.pick(rng)
			var k struct {
				OrgID string `bson:"org_id"`
			}
			if err := e.master.Collection("org_names").FindOne(context.Background(), bson.D{{Key: "_id", Value: strings.ToLower(o.currentName())}}).Decode(&k); err != nil {
				return err
			}
			return e.master.Collection("organizations").FindOne(context.Background(), bson.D{{Key: "_id", Value: k.OrgID}}).Err()
		}},
		{"GET /org/get (token)", "driver: revocation + organization by _id", e.getOwnOrg, func(rng *mrand.Rand) error {
			o := e.pick(rng)
			if err := e.master.Collection("revoked_sessions").FindOne(context.Background(), bson.D{{Key: "_id", Value: o.session}}).Err(); !errors.Is(err, mongo.ErrNoDocuments) {
				return fmt.Errorf("revocation lookup: %v", err)
			}
			return e.master.Collection("organizations").FindOne(context.Background(), bson.D{{Key: "_id", Value: o.org.ID}}).Err()
		}},
		{"GET /org/records/{id}", "driver: record by _id", e.getRecord, func(rng *mrand.Rand) error {
			o := e.pick(rng)
			return e.db.Database(o.org.Database).Collection(o.collection()).FindOne(context.Background(), bson.D{{Key: "_id", Value: o.records[rng.IntN(len(o.records))]}}).Err()
		}},
		{"POST /org/records", "driver: insertOne", e.createRecord, func(rng *mrand.Rand) error {
			o := e.pick(rng)
			o.written.Store(true)
			doc := bson.D{{Key: "_id", Value: ulid.Make().String()}, {Key: "_org", Value: o.org.ID}, {Key: "name", Value: "new item"}, {Key: "status", Value: "draft"}, {Key: "qty", Value: 1}}
			_, err := e.db.Database(o.org.Database).Collection(o.collection()).InsertOne(context.Background(), doc)
			return err
		}},
		{name: "POST /admin/login", orgd: e.login},
		{"POST /org/create", "driver: bcrypt + record + collection + admin", e.createOrg, func(rng *mrand.Rand) error {
			n := scratch.Add(1)
			h, err := bcrypt.GenerateFromPassword([]byte(benchPassword), bc.bcryptCost)
			if err != nil {
				return err
			}
			if _, err := raw.Collection("orgs").InsertOne(context.Background(), bson.D{{Key: "_id", Value: fmt.Sprint(n)}, {Key: "name", Value: fmt.Sprint("raw", n)}}); err != nil {
				return err
			}
			if err := raw.CreateCollection(context.Background(), fmt.Sprint("org_raw", n)); err != nil {
				return err
			}
			_, err = raw.Collection("admins").InsertOne(context.Background(), bson.D{{Key: "_id", Value: fmt.Sprint(n)}, {Key: "hash", Value: string(h)}})
			return err
		}},
		{renameName, "driver: renameCollection + updateOne", e.rename, func(rng *mrand.Rand) error {
			n := scratch.Add(1)
			if err := raw.CreateCollection(context.Background(), fmt.Sprint("ren_a", n)); err != nil {
				return err
			}
			cmd := bson.D{{Key: "renameCollection", Value: raw.Name() + ".ren_a" + fmt.Sprint(n)}, {Key: "to", Value: raw.Name() + ".ren_b" + fmt.Sprint(n)}}
			if err := e.db.Database("admin").RunCommand(context.Background(), cmd).Err(); err != nil {
				return err
			}
			_, err := raw.Collection("orgs").UpdateOne(context.Background(), bson.D{{Key: "_id", Value: "renamed"}}, bson.D{{Key: "$set", Value: bson.D{{Key: "n", Value: n}}}})
			return err
		}},
	}
}

func (o *benchOrg) collection() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.org.Collection
}

func (e *benchEnv) pick(rng *mrand.Rand) *benchOrg { return e.orgs[rng.IntN(len(e.orgs))] }

// do sends one request and checks its status. Like a well-behaved client,
// it waits as long as a 503's Retry-After says and tries again.
func (e *benchEnv) do(method, path, token, body string, want int) error {
	for {
		wait, err := e.try(method, path, token, body, want)
		if wait == 0 {
			return err
		}
		e.retries.Add(1)
		time.Sleep(wait)
	}
}

// try sends one request; it returns how long to wait before trying again
// when the server said so.
func (e *benchEnv) try(method, path, token, body string, want int) (time.Duration, error) {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.base+path, r)
	if err != nil {
		return 0, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := e.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	// Busy (503) or too many logins under way from this address (429): a
	// client waits as long as it is told, when that is short.
	if res.StatusCode == http.StatusServiceUnavailable || res.StatusCode == http.StatusTooManyRequests {
		if secs, err := strconv.Atoi(res.Header.Get("Retry-After")); err == nil && secs > 0 && secs <= 60 {
			return time.Duration(secs) * time.Second, nil
		}
	}
	if res.StatusCode != want {
		return 0, fmt.Errorf("%s %s: %d", method, path, res.StatusCode)
	}
	return 0, nil
}

func (e *benchEnv) getOrg(rng *mrand.Rand) error {
	return e.do("GET", "/org/get?organization_name="+e.pick(rng).currentName(), "", "", 200)
}

func (e *benchEnv) getOwnOrg(rng *mrand.Rand) error {
	return e.do("GET", "/org/get", e.pick(rng).token, "", 200)
}

func (e *benchEnv) getRecord(rng *mrand.Rand) error {
	o := e.pick(rng)
	return e.do("GET", "/org/records/"+o.records[rng.IntN(len(o.records))], o.token, "", 200)
}

func (e *benchEnv) createRecord(rng *mrand.Rand) error {
	o := e.pick(rng)
	o.written.Store(true)
	return e.do("POST", "/org/records", o.token, `{"name":"new item","status":"draft","qty":1}`, 201)
}

func (e *benchEnv) login(rng *mrand.Rand) error {
	o := e.pick(rng)
	return e.do("POST", "/admin/login", "", fmt.Sprintf(`{"email":"%s@bench.test","password":%q}`, o.org.Name, benchPassword), 200)
}

func (e *benchEnv) createOrg(rng *mrand.Rand) error {
	e.mu.Lock()
	e.created++
	name := fmt.Sprintf("new%06d-%s", e.created, e.tag)
	e.mu.Unlock()
	return e.do("POST", "/org/create", "", fmt.Sprintf(`{"organization_name":%q,"email":"%s@bench.test","password":%q}`, name, name, benchPassword), 201)
}

// rename renames an organization no other worker is renaming, back and forth.
func (e *benchEnv) rename(rng *mrand.Rand) error {
	for {
		o := e.pick(rng)
		if !o.renaming.CompareAndSwap(false, true) {
			continue
		}
		defer o.renaming.Store(false)
		next := o.org.Name + "-r"
		if cur := o.currentName(); strings.HasSuffix(cur, "-r") {
			next = o.org.Name
		}
		err := e.do("PUT", "/org/update", o.token, fmt.Sprintf(`{"organization_name":%q}`, next), 200)
		if err == nil {
			o.renamed(next, "org_"+strings.ToLower(next))
		} else {
			e.renamesFailed.Add(1)
			e.resync(o)
		}
		return err
	}
}

// resync learns an organization's name from the server after a rename that
// failed: it may have been made all the same (a request that gave up, and
// whose operation the server finished), and other scenarios look the
// organization up by name. It waits while the organization is busy.
func (e *benchEnv) resync(o *benchOrg) {
	for end := time.Now().Add(2 * time.Minute); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		req, err := http.NewRequest("GET", e.srv.base+"/org/get", nil)
		if err != nil {
			return
		}
		req.Header.Set("Authorization", "Bearer "+o.token)
		res, err := e.http.Do(req)
		if err != nil {
			continue
		}
		var body struct {
			Name       string `json:"organization_name"`
			Collection string `json:"collection_name"`
		}
		err = json.NewDecoder(res.Body).Decode(&body)
		res.Body.Close()
		if res.StatusCode == http.StatusOK && err == nil {
			o.renamed(body.Name, body.Collection)
			return
		}
	}
}

// quiesce waits until no operation is in progress on any organization (the
// server's journal has been empty twice, 5 s apart: a command the server
// gave up on may still land), then reads every name again: a rename whose
// request failed may have been finished since.
func (e *benchEnv) quiesce(ctx context.Context) error {
	for empty, deadline := 0, time.Now().Add(5*time.Minute); ; {
		n, err := e.master.Collection("operations").CountDocuments(ctx, bson.D{})
		if err != nil {
			return err
		}
		if empty++; n > 0 {
			empty = 0
		}
		if empty == 2 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d operations on organizations still in progress after 5 minutes", n)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Second):
		}
	}
	return e.refreshNames(ctx)
}

// refreshNames takes every organization's name from the database: a rename
// left unfinished by an earlier run ends once the server's reconciler has
// swept, after the names were loaded.
func (e *benchEnv) refreshNames(ctx context.Context) error {
	current, err := e.organizations(ctx)
	if err != nil {
		return err
	}
	for _, o := range e.orgs {
		if c, ok := current[o.org.ID]; ok {
			o.renamed(c.Name, c.Collection)
		}
	}
	return nil
}
