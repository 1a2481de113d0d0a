package api_test

import (
	"encoding/base64"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/orgd/orgd"
	"github.com/orgd/orgd/auth"
)

// TestCreateRejectsBadInput checks that every client mistake on create is a
// problem+json naming what was wrong, and that nothing was stored.
func TestCreateRejectsBadInput(t *testing.T) {
	e := newEnv(t)
	e.create(acme).mustStatus(t, 201)
	valid := `"organization_name":"beta","email":"b@beta.test","password":"correct horse"`
	tests := []struct {
		name, contentType, body string
		status                  int
		field                   string // location expected in errors, if any
	}{
		{"malformed JSON", "application/json", `{"organization_name":`, 400, ""},
		{"not an object", "application/json", `[1,2]`, 422, ""},
		{"unknown field", "application/json", `{` + valid + `,"role":"root"}`, 422, "body.role"},
		{"wrong type", "application/json", `{"organization_name":5,"email":"b@beta.test","password":"correct horse"}`, 422, "body.organization_name"},
		{"missing field", "application/json", `{"organization_name":"beta","email":"b@beta.test"}`, 422, "body"},
		{"name too short", "application/json", `{"organization_name":"ab","email":"b@beta.test","password":"correct horse"}`, 422, "body.organization_name"},
		{"name too long", "application/json", `{"organization_name":"` + strings.Repeat("a", 49) + `","email":"b@beta.test","password":"correct horse"}`, 422, "body.organization_name"},
		{"name bad start", "application/json", `{"organization_name":"_beta","email":"b@beta.test","password":"correct horse"}`, 422, "body.organization_name"},
		{"name bad char", "application/json", `{"organization_name":"be.ta","email":"b@beta.test","password":"correct horse"}`, 422, "body.organization_name"},
		{"name with $", "application/json", `{"organization_name":"be$ta","email":"b@beta.test","password":"correct horse"}`, 422, "body.organization_name"},
		{"bad email", "application/json", `{"organization_name":"beta","email":"not-an-email","password":"correct horse"}`, 422, "body.email"},
		{"email with display name", "application/json", `{"organization_name":"beta","email":"Bob <b@beta.test>","password":"correct horse"}`, 422, "body.email"},
		{"email too long", "application/json", `{"organization_name":"beta","email":"` + strings.Repeat("a", 250) + `@b.test","password":"correct horse"}`, 422, "body.email"},
		{"password too short", "application/json", `{"organization_name":"beta","email":"b@beta.test","password":"short"}`, 422, "body.password"},
		{"password over 72 bytes", "application/json", `{"organization_name":"beta","email":"b@beta.test","password":"` + strings.Repeat("é", 37) + `"}`, 422, "body.password"},
		{"password with NUL", "application/json", `{"organization_name":"beta","email":"b@beta.test","password":"correct\u0000horse"}`, 422, "body.password"},
		{"name taken, other case", "application/json", `{"organization_name":"ACME","email":"b@beta.test","password":"correct horse"}`, 409, ""},
		{"email taken, other case", "application/json", `{"organization_name":"beta","email":"admin@ACME.test","password":"correct horse"}`, 409, ""},
		{"field twice", "application/json", `{` + valid + `,"email":"c@beta.test"}`, 400, "body"},
		{"field twice, in two cases", "application/json", `{` + valid + `,"EMAIL":"c@beta.test"}`, 400, "body"},
		// Read as U+FFFD, any two such passwords would be one.
		{"password not UTF-8", "application/json", "{\"organization_name\":\"beta\",\"email\":\"b@beta.test\",\"password\":\"p\xe4sswort-geheim\"}", 400, "body"},
		{"email not UTF-8", "application/json", "{\"organization_name\":\"beta\",\"email\":\"jos\xe9@beta.test\",\"password\":\"correct horse\"}", 400, "body"},
		{"password with half a surrogate pair", "application/json", `{"organization_name":"beta","email":"b@beta.test","password":"\ud800\ud800\ud800\ud800\ud800\ud800\ud800\ud800"}`, 400, "body"},
		{"not JSON", "text/plain", `{` + valid + `}`, 415, ""},
		{"form", "application/x-www-form-urlencoded", `organization_name=beta`, 415, ""},
		{"body over 1 MiB", "application/json", `{` + valid + `,"pad":"` + strings.Repeat("x", 1<<20) + `"}`, 413, ""},
		// Exactly 1 MiB is within the limit: refused for what it says, not its size.
		{"body of 1 MiB", "application/json", `{` + valid + `,"pad":"` + strings.Repeat("x", 1<<20-len(valid)-11) + `"}`, 422, "body.pad"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", e.srv.URL+"/org/create", strings.NewReader(tt.body))
			req.Header.Set("Content-Type", tt.contentType)
			r := e.do(req)
			r.isProblem(t, tt.status)
			if tt.field != "" && !hasErrorAt(r, tt.field) {
				t.Errorf("errors do not name %s: %s", tt.field, r.Raw)
			}
			if tt.status == 413 && r.JSON["detail"] != "The request body is over 1048640 bytes (1 MiB, and room for a record's id)." {
				t.Errorf("detail %q, want it to state the limit", r.JSON["detail"])
			}
			if strings.Contains(r.Raw, "correct horse") || strings.Contains(r.Raw, "éé") {
				t.Errorf("the problem echoes the password: %s", r.Raw)
			}
		})
	}
	for _, c := range []string{"organizations", "admins", "org_names", "admin_emails"} {
		if n := e.count(e.db.MasterDB, c); n != 1 {
			t.Errorf("%s holds %d documents after rejected creates, want 1", c, n)
		}
	}
}

func hasErrorAt(r response, location string) bool {
	errs, _ := r.JSON["errors"].([]any)
	for _, x := range errs {
		if m, _ := x.(map[string]any); m["location"] == location {
			return true
		}
	}
	return false
}

// TestAuthFailures checks every way a bearer token can be missing or wrong.
func TestAuthFailures(t *testing.T) {
	e := newEnv(t)
	e.create(acme).mustStatus(t, 201)
	e.create(org{"beta", "b@beta.test", "correct horse"}).mustStatus(t, 201)
	good := e.login(acme.email, acme.password)
	betaTok := e.login("b@beta.test", "correct horse")

	past, _ := auth.NewTokens([]byte(testSecret), time.Minute, func() time.Time { return time.Now().Add(-time.Hour) })
	expired, _, _ := past.Issue("x", "y", "z")
	if claims, err := e.tokens.Verify(good); err == nil {
		expired, _, _ = past.Issue(claims.AdminID, claims.OrgID, claims.SessionID)
	}
	other, _ := auth.NewTokens([]byte(strings.Repeat("k", 40)), time.Minute, time.Now)
	forged, _, _ := other.Issue("x", "y", "z")
	none := unsignedToken(t)
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"x","org_id":"y","iss":"orgd","exp":9999999999}`)) + "." + parts[2]

	tests := []struct {
		name, header string
		status       int
	}{
		{"no token", "", 401},
		{"not bearer", "Basic " + good, 401},
		{"bearer without token", "Bearer ", 401},
		{"garbage", "Bearer not.a.token", 401},
		{"expired", "Bearer " + expired, 401},
		{"wrong signature", "Bearer " + forged, 401},
		{"alg none", "Bearer " + none, 401},
		{"tampered claims", "Bearer " + tampered, 401},
		{"another organization's token", "Bearer " + betaTok, 403},
		{"good", "Bearer " + good, 204},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("DELETE", e.srv.URL+"/org/delete?organization_name=acme", nil)
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			r := e.do(req)
			if tt.status == 204 {
				r.mustStatus(t, 204)
				return
			}
			r.isProblem(t, tt.status)
			if tt.status == 401 && !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without WWW-Authenticate: Bearer")
			}
			// RFC 6750 3.1: an error code only when a bearer token was sent.
			sent := strings.HasPrefix(tt.header, "Bearer ") && len(tt.header) > len("Bearer ")
			if tt.status == 401 && strings.Contains(r.Header.Get("WWW-Authenticate"), `error="invalid_token"`) != sent {
				t.Errorf("WWW-Authenticate %q", r.Header.Get("WWW-Authenticate"))
			}
		})
	}
	// Two credentials: which one a proxy checked is not guessed.
	req, _ := http.NewRequest("GET", e.srv.URL+"/org/audit", nil)
	req.Header.Add("Authorization", "Bearer "+betaTok)
	req.Header.Add("Authorization", "Bearer garbage")
	e.do(req).isProblem(t, 401)
	e.call("DELETE", "/org/delete?organization_name=nope", betaTok, nil).isProblem(t, 404)
	e.call("PUT", "/org/update", "", map[string]string{"email": "x@y.test"}).isProblem(t, 401)
	// A token presented to the public endpoint must still be valid.
	e.call("GET", "/org/get?organization_name=beta", "garbage", nil).isProblem(t, 401)
}

// unsignedToken builds an "alg: none" token with otherwise valid claims.
func unsignedToken(t *testing.T) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{
		"sub": "x", "org_id": "y", "iss": auth.Issuer, "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
	})
	s, err := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestLoginFailuresLookAlike checks that an unknown email and a wrong
// password get the same answer.
func TestLoginFailuresLookAlike(t *testing.T) {
	e := newEnv(t)
	e.create(acme).mustStatus(t, 201)
	wrongPw := e.call("POST", "/admin/login", "", map[string]string{"email": acme.email, "password": "wrong password"})
	unknown := e.call("POST", "/admin/login", "", map[string]string{"email": "nobody@acme.test", "password": "wrong password"})
	wrongPw.isProblem(t, 401)
	unknown.isProblem(t, 401)
	delete(wrongPw.JSON, "request_id") // the one field that differs between any two answers
	delete(unknown.JSON, "request_id")
	if !reflect.DeepEqual(wrongPw.JSON, unknown.JSON) {
		t.Errorf("bodies differ:\n%s\n%s", wrongPw.Raw, unknown.Raw)
	}
	e.call("POST", "/admin/login", "", map[string]string{"email": acme.email, "password": strings.Repeat("x", 73)}).isProblem(t, 422)
	e.call("POST", "/admin/login", "", map[string]string{"email": acme.email, "password": "bad\x00password"}).isProblem(t, 422)
	r := e.call("POST", "/admin/login", "", map[string]string{"email": acme.email, "password": acme.password}).mustStatus(t, 200)
	if r.JSON["token_type"] != "bearer" || r.JSON["expires_in"] != float64(900) || r.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("login answer: %v %s", r.Header, r.Raw)
	}
	claims, err := e.tokens.Verify(r.JSON["access_token"].(string))
	if err != nil || claims.AdminID == "" || claims.OrgID == "" {
		t.Errorf("token claims %+v, %v", claims, err)
	}
}

// TestUpdateRules covers the update contract's edges.
func TestUpdateRules(t *testing.T) {
	e := newEnv(t)
	e.create(acme).mustStatus(t, 201)
	e.create(org{"beta", "b@beta.test", "correct horse"}).mustStatus(t, 201)
	tok := e.login(acme.email, acme.password)

	e.call("PUT", "/org/update", tok, map[string]string{}).isProblem(t, 422)
	e.call("PUT", "/org/update", tok, map[string]string{"organization_name": "BETA"}).isProblem(t, 409)
	e.call("PUT", "/org/update", tok, map[string]string{"email": "B@beta.test"}).isProblem(t, 409)
	e.call("PUT", "/org/update", tok, map[string]string{"organization_name": "x"}).isProblem(t, 422)
	e.call("PUT", "/org/update", tok, `{"organization_name":"new","admin":true}`).isProblem(t, 422)
	// A failed rename leaves everything as it was, and the name it tried free.
	if got := e.collections(e.db.TenantDB); strings.Join(got, ",") != "org_acme,org_beta" {
		t.Errorf("tenant collections %v", got)
	}
	e.call("GET", "/org/get?organization_name=acme", "", nil).mustStatus(t, 200)

	// A change of case only keeps the collection.
	r := e.call("PUT", "/org/update", tok, map[string]string{"organization_name": "ACME"}).mustStatus(t, 200)
	if r.JSON["organization_name"] != "ACME" || r.JSON["collection_name"] != "org_acme" {
		t.Errorf("case change: %s", r.Raw)
	}
	// The same name again is a no-op.
	e.call("PUT", "/org/update", tok, map[string]string{"organization_name": "ACME"}).mustStatus(t, 200)
}

// TestRoutingProblems checks that unknown routes and methods are problem+json.
func TestRoutingProblems(t *testing.T) {
	e := newEnv(t)
	e.call("GET", "/nope", "", nil).isProblem(t, 404)
	r := e.call("GET", "/org/create", "", nil)
	r.isProblem(t, 405)
	if r.Header.Get("Allow") == "" {
		t.Error("405 without Allow")
	}
	e.call("PATCH", "/org/update", "", nil).isProblem(t, 405)
	e.call("GET", "/org/get", "", nil).isProblem(t, 422)
	e.call("GET", "/org/get?organization_name=nope", "", nil).isProblem(t, 404)
}

// TestDocsOffline checks the OpenAPI document and that the docs page loads
// nothing from another host.
func TestDocsOffline(t *testing.T) {
	e := newEnv(t)
	r := e.call("GET", "/openapi.json", "", nil).mustStatus(t, 200)
	paths, _ := r.JSON["paths"].(map[string]any)
	for _, p := range []string{"/org/create", "/org/get", "/org/update", "/org/delete", "/admin/login"} {
		if paths[p] == nil {
			t.Errorf("OpenAPI document lacks %s", p)
		}
	}
	if r.JSON["openapi"] != "3.1.0" {
		t.Errorf("openapi = %v", r.JSON["openapi"])
	}
	page := e.call("GET", "/docs/", "", nil).mustStatus(t, 200)
	for _, ref := range []string{`src="http`, `href="http`, "//cdn", "unpkg.com", "jsdelivr"} {
		if strings.Contains(page.Raw, ref) {
			t.Errorf("docs page refers to another host (%s)", ref)
		}
	}
	if !strings.Contains(page.Raw, "/openapi.json") {
		t.Error("docs page does not load /openapi.json")
	}
	refused := 0
	for _, asset := range scriptsAndStyles(page.Raw) {
		e.call("GET", asset, "", nil).mustStatus(t, 200)
		// A condition that fails, where the file server checks it, is a
		// problem, without the file's length or encoding.
		for _, enc := range []string{"identity", "gzip"} {
			req, _ := http.NewRequest("GET", e.srv.URL+asset, nil)
			req.Header.Set("If-Match", `"x"`)
			req.Header.Set("Accept-Encoding", enc)
			if r := e.do(req); r.Status != 200 {
				refused++
				r.isProblem(t, 412)
				if r.Header.Get("Content-Encoding") != "" {
					t.Errorf("%s, Accept-Encoding %s: a 412 problem with Content-Encoding %q", asset, enc, r.Header.Get("Content-Encoding"))
				}
			}
		}
	}
	if refused == 0 {
		t.Error("no docs file refused a failed If-Match: the 412 path went untested")
	}
	e.call("GET", "/docs", "", nil) // redirects to /docs/
}

// scriptsAndStyles returns the local src= and href= paths of an HTML page.
func scriptsAndStyles(html string) []string {
	var out []string
	for _, attr := range []string{`src="`, `href="`} {
		rest := html
		for {
			i := strings.Index(rest, attr)
			if i < 0 {
				break
			}
			rest = rest[i+len(attr):]
			j := strings.IndexByte(rest, '"')
			if v := rest[:j]; strings.HasPrefix(v, "/") {
				out = append(out, v)
			}
		}
	}
	return out
}

// TestProblemWording checks that problems found by schema validation read
// like orgd's own: a detail that says what kind of mistake it was, and the
// email rule rather than net/mail's message, which for a@b..c says "missing '@'".
func TestProblemWording(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name, contentType, body string
		status                  int
		detail, message         string
	}{
		{"two dots in the domain", "application/json", `{"organization_name":"beta","email":"b@beta..test","password":"correct horse"}`,
			422, "The request has invalid fields.", orgd.EmailRule},
		{"no at sign", "application/json", `{"organization_name":"beta","email":"beta.test","password":"correct horse"}`,
			422, "The request has invalid fields.", orgd.EmailRule},
		{"malformed JSON", "application/json", `{"organization_name":`, 400, "The request body is malformed.", ""},
		{"not JSON", "text/plain", `{}`, 415, "The request body's Content-Type is not supported.", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", e.srv.URL+"/org/create", strings.NewReader(tt.body))
			req.Header.Set("Content-Type", tt.contentType)
			r := e.do(req)
			r.isProblem(t, tt.status)
			if r.JSON["detail"] != tt.detail {
				t.Errorf("detail %q, want %q", r.JSON["detail"], tt.detail)
			}
			if tt.message != "" && !strings.Contains(r.Raw, tt.message) {
				t.Errorf("errors do not say %q: %s", tt.message, r.Raw)
			}
			if strings.Contains(r.Raw, "mail:") {
				t.Errorf("the problem quotes net/mail: %s", r.Raw)
			}
		})
	}
}
