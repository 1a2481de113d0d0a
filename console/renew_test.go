package console_test

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestConsoleRidesOutARefreshOutage checks that a refresh orgd could not
// answer (503) leaves the session open, to be renewed once orgd answers
// again; that an admin whose email has a non-ASCII domain logs in (an email
// input would send the domain as punycode, another address to orgd); that
// a new login starts with the records unfiltered; and that the records list
// shows fields in orgd's order, with 64-bit integers whole.
func TestConsoleRidesOutARefreshOutage(t *testing.T) {
	var down atomic.Bool
	outage := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if down.Load() && r.URL.Path == "/admin/refresh" {
				w.Header().Set("Content-Type", "application/problem+json")
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte(`{"title":"Service Unavailable","status":503,"detail":"The database is unavailable; retry shortly."}`))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	needChromium(t)
	base := startOrgd(t, 2*time.Second, outage)
	if s := post(t, base+"/org/create", "", `{"organization_name":"Buch","email":"admin@bücher.test","password":"correct horse"}`); s != 201 {
		t.Fatalf("create: %d", s)
	}
	p := openBrowser(t, base)
	p.do("log in", chromedp.Navigate(base+"/console/"),
		fill("#login-email", "admin@bücher.test", "#login-password", "correct horse\n"),
		visibleText("#session-org", "Buch"),
		visibleText("#records-empty", "No records yet"))

	down.Store(true)
	p.do("the token expires while orgd cannot refresh it", chromedp.Sleep(3*time.Second),
		click(`#tabs a[data-tab="settings"]`),
		visibleText("#notice", "could not be renewed just now"))
	if open := eval[bool](p, `!document.getElementById('tabs').hidden`); !open {
		t.Fatal("the console ended the session over a refresh orgd could not answer")
	}
	down.Store(false)
	p.do("orgd answers again", click(`#tabs a[data-tab="records"]`),
		visibleText("#records-empty", "No records yet"),
		click(`#tabs a[data-tab="audit"]`),
		visibleText("#audit-table", "Session refreshed"))

	p.do("filter, then log out and in", click(`#tabs a[data-tab="records"]`),
		fill("#filter-field", "status", "#filter-value", "sold"), click("#filter-form button[type=submit]"),
		visibleText("#records-empty", "No records where status"),
		click("#logout"), visibleText("#notice", "You are logged out"),
		fill("#login-email", "admin@bücher.test", "#login-password", "correct horse\n"),
		visibleText("#records-empty", "No records yet"))

	tok := login(t, base, "admin@bücher.test", "correct horse")
	if s := post(t, base+"/org/records", tok, `{"b":1,"10":2,"2":3,"big":9007199254740993}`); s != 201 {
		t.Fatalf("create a record: %d", s)
	}
	p.do("the list shows the record as stored", click(`#tabs a[data-tab="settings"]`), click(`#tabs a[data-tab="records"]`),
		visibleText("#records-table", "9007199254740993"))
	if names := eval[string](p, `[...document.querySelectorAll('#records-table .k')].map((e) => e.textContent).join(',')`); names != "b,10,2,big" {
		t.Errorf("the list shows the fields as %s, want b,10,2,big", names)
	}
	p.checkClean()
}
