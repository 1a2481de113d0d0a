package console_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestConsoleSession checks the session in the browser with access tokens
// that live two seconds: the console refreshes them unseen, logs in again
// after its own password change, and says so when orgd ends the session.
func TestConsoleSession(t *testing.T) {
	needChromium(t)
	base := startOrgd(t, 2*time.Second)
	if s := post(t, base+"/org/create", "", `{"organization_name":"Calm","email":"admin@calm.test","password":"correct horse"}`); s != 201 {
		t.Fatalf("create: %d", s)
	}
	p := openBrowser(t, base)
	// From a mangled link to a record (a bad percent-escape): the console
	// says so and shows the records, before and after logging in.
	p.do("log in", chromedp.Navigate(base+"/console/#/records/%E0%A4%A"),
		fill("#login-email", "admin@calm.test", "#login-password", "correct horse\n"),
		visibleText("#session-org", "Calm"),
		visibleText("#notice", "does not name a record"),
		visibleText("#records-empty", "No records yet"))
	p.do("follow a mangled link", chromedp.Navigate(base+"/console/#/records/%zz"),
		visibleText("#notice", "does not name a record"),
		visibleText("#records-empty", "No records yet"))

	// Several access tokens expire meanwhile; the admin never notices.
	p.do("wait for the first token to expire", chromedp.Sleep(3*time.Second))
	p.do("work on", click(`a[href="#/records/new"]`),
		setValue("#record-json", `{"name":"kept"}`),
		click("#record-save"),
		visibleText("#notice", "created"),
		click(`#tabs a[data-tab="audit"]`),
		visibleText("#audit-table", "Session refreshed"))

	// A password change revokes every login, this one too: the console logs
	// in again with the new password.
	p.do("change the password",
		click(`#tabs a[data-tab="settings"]`),
		fill("#password-new", "battery staple", "#password-repeat", "battery stable"),
		click("#password-form button[type=submit]"),
		visibleText("#password-repeat ~ .field-error", "not the same"),
		fill("#password-repeat", "battery staple"),
		click("#password-form button[type=submit]"),
		visibleText("#notice", "Password changed"),
		click(`#tabs a[data-tab="records"]`),
		rows("#records-table", 1),
		click(`#tabs a[data-tab="audit"]`),
		visibleText("#audit-table", "Password changed"))

	// The password changed elsewhere: orgd refuses this login's tokens, and
	// the console says the session ended instead of failing quietly.
	tok := login(t, base, "admin@calm.test", "battery staple")
	req, _ := http.NewRequest("PUT", base+"/org/update", strings.NewReader(`{"password":"horse battery"}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("change the password elsewhere: %d", res.StatusCode)
	}
	p.do("the session ends",
		click(`#tabs a[data-tab="records"]`),
		visibleText("#notice", "Your session has ended"),
		visibleText("#notice", "in again"),
		chromedp.WaitVisible(chromedp.CSS("#login-form")))
	if open := eval[bool](p, `!document.getElementById('tabs').hidden`); open {
		t.Error("the console still shows the signed-in navigation")
	}
	p.checkClean()
}

func post(t *testing.T, url, token, body string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

func login(t *testing.T, base, email, password string) string {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"email": email, "password": password})
	res, err := http.Post(base+"/admin/login", "application/json", strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != 200 {
		t.Fatalf("login: %d %v", res.StatusCode, err)
	}
	return out.AccessToken
}

// TestConsoleWithoutSessionEndpoints runs the console against an orgd
// without refresh tokens, logout or audit log (all three answer 404): it
// keeps working on the access token, says that there is no audit log, and
// asks to log in again when the token expires.
func TestConsoleWithoutSessionEndpoints(t *testing.T) {
	without := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/admin/refresh", "/admin/logout", "/org/audit":
				w.Header().Set("Content-Type", "application/problem+json")
				w.WriteHeader(http.StatusNotFound)
				_, _ = w.Write([]byte(`{"title":"Not Found","status":404,"detail":"No route for ` + r.Method + " " + r.URL.Path + `."}`))
			default:
				next.ServeHTTP(w, r)
			}
		})
	}
	needChromium(t)
	base := startOrgd(t, 3*time.Second, without)
	if s := post(t, base+"/org/create", "", `{"organization_name":"Plain","email":"admin@plain.test","password":"correct horse"}`); s != 201 {
		t.Fatalf("create: %d", s)
	}
	p := openBrowser(t, base)
	p.do("log in", chromedp.Navigate(base+"/console/"),
		fill("#login-email", "admin@plain.test", "#login-password", "correct horse\n"),
		visibleText("#session-org", "Plain"),
		click(`#tabs a[data-tab="audit"]`),
		visibleText("#audit-unavailable", "keeps no audit log"))
	p.do("log out", click("#logout"), visibleText("#notice", "You are logged out"))
	p.do("log in again", fill("#login-email", "admin@plain.test", "#login-password", "correct horse\n"),
		visibleText("#session-org", "Plain"), visibleText("#records-empty", "No records yet"))
	p.do("the token expires", chromedp.Sleep(4*time.Second), click(`#tabs a[data-tab="settings"]`),
		visibleText("#notice", "Your session has ended"),
		chromedp.WaitVisible(chromedp.CSS("#login-form")))
	p.checkClean()
}
