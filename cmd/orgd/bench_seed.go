package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/orgd/orgd/auth"
	"golang.org/x/crypto/bcrypt"
)

// seed creates the organizations through the store (so that 10,000 of them
// do not cost 10,000 bcrypt hashes: they share one), imports their records
// with known ids, and mints each admin a token as login would.
func (e *benchEnv) seed(ctx context.Context, bc benchConfig, tokens *auth.Tokens, progress func(string, ...any)) error {
	hash, err := bcrypt.GenerateFromPassword([]byte(benchPassword), bc.bcryptCost)
	if err != nil {
		return err
	}
	e.orgs = make([]*benchOrg, bc.orgs)
	work := make(chan int)
	errc := make(chan error, 8)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range work {
				// The store finishes what it began after ctx ends (a create, an
				// import's batch): stopping is the seed's to check.
				err := ctx.Err()
				if err == nil {
					err = e.seedOne(ctx, i, bc.records, string(hash), tokens)
				}
				if err != nil {
					errc <- err
					return
				}
			}
		})
	}
	for i := range bc.orgs {
		select {
		case work <- i:
		case <-ctx.Done():
			close(work)
			wg.Wait()
			return ctx.Err()
		case err := <-errc:
			close(work)
			wg.Wait()
			return err
		}
		if (i+1)%1000 == 0 {
			progress("seeded %d organizations", i+1)
		}
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

func (e *benchEnv) seedOne(ctx context.Context, i, records int, hash string, tokens *auth.Tokens) error {
	name := fmt.Sprintf("bench%05d", i)
	o, err := e.store.CreateOrganization(ctx, name, name+"@bench.test", hash)
	if err != nil {
		return fmt.Errorf("seed %s: %w", name, err)
	}
	bo := &benchOrg{name: name, org: o}
	var lines bytes.Buffer
	for range records {
		id := ulid.Make().String()
		bo.records = append(bo.records, id)
		fmt.Fprintf(&lines, `{"id":%q,"name":"item %s","status":"active","qty":3,"tags":["a","b"]}`+"\n", id, id[20:])
	}
	if _, err := e.store.ImportRecords(ctx, o, &lines); err != nil {
		return fmt.Errorf("seed %s records: %w", name, err)
	}
	if err := bo.mint(tokens); err != nil {
		return err
	}
	e.orgs[i] = bo
	return nil
}

// renameTime creates an organization with n records and returns the median
// time of five renames of it through the API.
func (e *benchEnv) renameTime(ctx context.Context, tokens *auth.Tokens, n int) (float64, error) {
	name := fmt.Sprintf("rename%d-%s", n, e.tag)
	o, err := e.store.CreateOrganization(ctx, name, name+"@bench.test", "x")
	if err != nil {
		return 0, err
	}
	for done := 0; done < n; {
		var lines bytes.Buffer
		for range min(10_000, n-done) {
			fmt.Fprintf(&lines, `{"i":%d,"payload":"some text to make the record of a realistic size"}`+"\n", done)
			done++
		}
		if _, err := e.store.ImportRecords(ctx, o, &lines); err != nil {
			return 0, err
		}
	}
	tok, _, err := tokens.Issue(o.AdminID, o.ID, "bench-"+randomHex(8))
	if err != nil {
		return 0, err
	}
	var times []float64
	for i := range 5 {
		body := fmt.Sprintf(`{"organization_name":"%s-%d"}`, name, i)
		t0 := time.Now()
		if err := e.do("PUT", "/org/update", tok, body, 200); err != nil {
			return 0, err
		}
		times = append(times, float64(time.Since(t0).Microseconds())/1000)
	}
	slices.Sort(times)
	return times[len(times)/2], nil
}

// bcryptRate measures bcrypt hashes per second with every core busy.
func bcryptRate(cost int) float64 {
	workers := runtime.GOMAXPROCS(0)
	per := max(2, 8/workers)
	start := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range per {
				_, _ = bcrypt.GenerateFromPassword([]byte(benchPassword), cost)
			}
		})
	}
	wg.Wait()
	return float64(workers*per) / time.Since(start).Seconds()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
