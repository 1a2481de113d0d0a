package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/orgd/orgd/mongodb"
	"github.com/orgd/orgd/mongotest"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// buildOrgd builds this command into a temporary directory. With -race the
// packages are already compiled for the test binary, so this only links.
func buildOrgd(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "orgd")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// proc is orgd running as a child process.
type proc struct {
	cmd  *exec.Cmd
	base string
	done chan error
}

func startProc(t *testing.T, bin string, env map[string]string) *proc {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stderr = logs.Tee(os.Stderr)
	if testing.Verbose() {
		cmd.Stderr = logs
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan error, 1)}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if api, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "API:"); ok {
			p.base = strings.TrimSpace(api)
			break
		}
	}
	go func() {
		for sc.Scan() {
		}
		p.done <- cmd.Wait()
	}()
	if p.base == "" {
		_ = cmd.Process.Kill()
		t.Fatalf("orgd did not start: %v", <-p.done)
	}
	waitHealthy(t, p.base)
	return p
}

func (p *proc) kill(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// TestSIGTERMExitsZero checks a graceful shutdown of the real process, on
// SIGTERM and on SIGHUP (a closed terminal).
func TestSIGTERMExitsZero(t *testing.T) {
	bin := buildOrgd(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGHUP} {
		p := startProc(t, bin, map[string]string{"ORGD_ADDR": "127.0.0.1:0", "ORGD_EMBEDDED_ADDR": "127.0.0.1:0", "ORGD_DATA_DIR": t.TempDir()})
		if err := p.cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-p.done:
			if err != nil {
				t.Fatalf("orgd exited with %v after %v, want 0", err, sig)
			}
		case <-time.After(30 * time.Second):
			_ = p.cmd.Process.Kill()
			t.Fatalf("orgd did not exit within 30 s of %v", sig)
		}
	}
}

// TestSecondSignalStops checks that a second SIGTERM during a graceful
// shutdown ends the process at once, rather than after the requests it is
// waiting for (here, one whose body never comes: up to its read timeout).
func TestSecondSignalStops(t *testing.T) {
	bin := buildOrgd(t)
	p := startProc(t, bin, map[string]string{"ORGD_ADDR": "127.0.0.1:0", "ORGD_EMBEDDED_ADDR": "127.0.0.1:0", "ORGD_DATA_DIR": t.TempDir()})
	conn, err := net.Dial("tcp", strings.TrimPrefix(p.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "POST /org/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
	time.Sleep(200 * time.Millisecond) // the request is in flight
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	time.Sleep(500 * time.Millisecond) // shutting down, waiting for it
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
			t.Fatalf("orgd exited with %v, want killed by the second SIGTERM", err)
		}
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		t.Fatal("orgd did not exit within 30 s of a second SIGTERM")
	}
}

// TestSIGKILLDuringLifecycleTraffic kills the real process at random moments
// during a stream of creates, renames and deletes, restarts it on the same
// database, and checks once its reconciler has run that every invariant
// holds and that every document of every surviving organization is there.
// The database runs in this test's process, so that writes the dead process
// had sent can still land after it died.
func TestSIGKILLDuringLifecycleTraffic(t *testing.T) {
	bin := buildOrgd(t)
	db := mongotest.New(t)
	ctx := context.Background()
	env := map[string]string{
		"ORGD_ADDR": "127.0.0.1:0", "MONGODB_URI": db.URI, "ORGD_MASTER_DB": db.MasterDB, "ORGD_TENANT_DB": db.TenantDB,
		"ORGD_JWT_SECRET": strings.Repeat("k", 32), "ORGD_BCRYPT_COST": "4",
		"ORGD_OP_LEASE": "1s", "ORGD_DB_TIMEOUT": "2s", "ORGD_RECONCILE_INTERVAL": "200ms", "ORGD_LOG_LEVEL": "error",
	}
	const orgs, docsPerOrg = 8, 20
	// Seed organizations holding data; the storm renames and deletes them.
	p := startProc(t, bin, env)
	tenants := db.Client.Database(db.TenantDB)
	for i := range orgs {
		name := fmt.Sprintf("seed%d", i)
		if s := post(t, p.base+"/org/create", fmt.Sprintf(`{"organization_name":%q,"email":"%s@x.test","password":"correct horse"}`, name, name)); s != 201 {
			t.Fatalf("seed create: %d", s)
		}
		docs := make([]any, docsPerOrg)
		for j := range docs {
			docs[j] = bson.M{"seed": name, "n": j}
		}
		if _, err := tenants.Collection("org_"+name).InsertMany(ctx, docs); err != nil {
			t.Fatal(err)
		}
	}

	rng := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
	var mu sync.Mutex
	deleteSent := map[string]bool{} // seeds a delete was sent for
	for round := range 6 {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() { storm(p.base, w, round, stop, &mu, deleteSent) })
		}
		time.Sleep(time.Duration(100+rng.IntN(600)) * time.Millisecond)
		p.kill(t)
		close(stop)
		wg.Wait()
		p = startProc(t, bin, env)
	}
	defer p.kill(t)

	// The restarted process's reconciler takes the interrupted operations
	// over once their lease and grace have passed; wait for the journal to empty.
	journal := db.Client.Database(db.MasterDB).Collection("operations")
	interrupted, err := journal.CountDocuments(ctx, bson.M{})
	if err != nil {
		t.Fatal(err)
	}
	store := mongodb.NewStore(db.Client, mongodb.Config{MasterDB: db.MasterDB, TenantDB: db.TenantDB, Lease: time.Second, Grace: 2 * time.Second})
	var probs []mongodb.Problem
	deadline := time.Now().Add(60 * time.Second)
	for {
		n, err := journal.CountDocuments(ctx, bson.M{})
		if err != nil {
			t.Fatal(err)
		}
		if probs, err = store.Check(ctx); err != nil {
			t.Fatal(err)
		}
		if n == 0 && len(probs) == 0 || time.Now().After(deadline) {
			if n > 0 {
				t.Errorf("%d operations still journaled a minute after restart", n)
			}
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, pr := range probs {
		t.Errorf("invariant still broken a minute after restart: %s", pr.Text)
	}

	// Every seed organization that still exists holds exactly its documents;
	// a seed may be gone only if a delete was sent for it.
	var recs []struct {
		Name       string `bson:"name"`
		Database   string `bson:"database"`
		Collection string `bson:"collection"`
		AdminID    string `bson:"admin_id"`
	}
	cur, err := db.Client.Database(db.MasterDB).Collection("organizations").Find(ctx, bson.M{})
	if err != nil {
		t.Fatal(err)
	}
	if err := cur.All(ctx, &recs); err != nil {
		t.Fatal(err)
	}
	alive := map[string]bool{}
	for _, r := range recs {
		var docs []bson.M
		cur, err := db.Client.Database(r.Database).Collection(r.Collection).Find(ctx, bson.M{})
		if err != nil {
			t.Fatal(err)
		}
		if err := cur.All(ctx, &docs); err != nil {
			t.Fatal(err)
		}
		seeds := map[string]int{}
		for _, d := range docs {
			seeds[fmt.Sprint(d["seed"])]++
		}
		for seed, n := range seeds {
			if n != docsPerOrg {
				t.Errorf("organization %q holds %d documents of %s, want %d", r.Name, n, seed, docsPerOrg)
			}
			if alive[seed] {
				t.Errorf("the documents of %s are in two organizations", seed)
			}
			alive[seed] = true
		}
		if len(seeds) > 1 {
			t.Errorf("organization %q holds documents of %d seeds: %v", r.Name, len(seeds), seeds)
		}
	}
	for i := range orgs {
		seed := fmt.Sprintf("seed%d", i)
		if !alive[seed] && !deleteSent[seed] {
			t.Errorf("%s lost its documents, and no delete was sent for it", seed)
		}
	}
	t.Logf("after 6 kills: %d operations were interrupted by the last one; %d organizations, %d of %d seeds alive",
		interrupted, len(recs), len(alive), orgs)
}

// storm sends random lifecycle requests until stop is closed: creates of new
// organizations, renames of seeds (whose admins log in by their seed email)
// and deletes.
func storm(base string, worker, round int, stop chan struct{}, mu *sync.Mutex, deleteSent map[string]bool) {
	client := &http.Client{Timeout: 5 * time.Second}
	rng := rand.New(rand.NewPCG(uint64(worker), uint64(round)))
	send := func(method, path, token, body string) (int, string) {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
			logs.Secret("access token", token)
		}
		res, err := client.Do(req)
		if err != nil {
			return 0, ""
		}
		defer res.Body.Close()
		var b strings.Builder
		_, _ = bufio.NewReader(res.Body).WriteTo(&b)
		return res.StatusCode, b.String()
	}
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		seed := fmt.Sprintf("seed%d", rng.IntN(8))
		switch rng.IntN(4) {
		case 0: // a new organization, sometimes deleted right away
			name := fmt.Sprintf("w%dr%di%d", worker, round, i)
			send("POST", "/org/create", "", fmt.Sprintf(`{"organization_name":%q,"email":"%s@y.test","password":"correct horse"}`, name, name))
		case 1, 2: // rename a seed to a random name of a small pool (names collide)
			_, body := send("POST", "/admin/login", "", fmt.Sprintf(`{"email":"%s@x.test","password":"correct horse"}`, seed))
			tok, _, _ := strings.Cut(strings.TrimPrefix(body, `{"access_token":"`), `"`)
			send("PUT", "/org/update", tok, fmt.Sprintf(`{"organization_name":"pool%d"}`, rng.IntN(12)))
		case 3:
			if rng.IntN(4) > 0 { // deletes of seeds are rarer, so some survive
				continue
			}
			_, body := send("POST", "/admin/login", "", fmt.Sprintf(`{"email":"%s@x.test","password":"correct horse"}`, seed))
			tok, _, _ := strings.Cut(strings.TrimPrefix(body, `{"access_token":"`), `"`)
			// The seed's current name is unknown here: delete it by every pool name
			// and by its seed name; only its own name can succeed (403 otherwise).
			mu.Lock()
			deleteSent[seed] = true
			mu.Unlock()
			for _, n := range append([]string{seed}, poolNames()...) {
				if s, _ := send("DELETE", "/org/delete?organization_name="+n, tok, ""); s == 204 {
					break
				}
			}
		}
	}
}

func poolNames() []string {
	out := make([]string, 12)
	for i := range out {
		out[i] = fmt.Sprintf("pool%d", i)
	}
	return out
}
