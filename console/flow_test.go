package console_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// TestConsoleInBrowser walks an organization admin through the console in
// headless Chromium: sign up, records, import and export, rename, audit log,
// log out, a failed login, log in, delete.
func TestConsoleInBrowser(t *testing.T) {
	needChromium(t)
	base := startOrgd(t, 15*time.Minute)
	p := openBrowser(t, base)

	p.do("open the console", chromedp.EmulateViewport(1280, 800), chromedp.Navigate(base+"/console"),
		chromedp.WaitVisible(chromedp.CSS("#login-form")), chromedp.WaitVisible(chromedp.CSS("#signup-form")))
	unlabelled := eval[[]string](p, `[...document.querySelectorAll('input:not([hidden]), select, textarea')]
		.filter((e) => e.labels.length === 0).map((e) => e.id || e.name)`)
	if len(unlabelled) > 0 {
		t.Errorf("form controls without a label: %v", unlabelled)
	}
	p.shot("welcome")

	// Sign up with values orgd refuses: each message sits under its field.
	p.do("sign up with bad values",
		fill("#signup-name", "x", "#signup-email", "nope", "#signup-password", "secret"),
		click("#signup-form button[type=submit]"),
		visibleText("#signup-form .form-error", "Some values were not accepted"),
		visibleText("#signup-name ~ .field-error", "at least 3 characters"),
		visibleText("#signup-email ~ .field-error", "email address"))
	if inv := eval[bool](p, `document.getElementById('signup-name').getAttribute('aria-invalid') === 'true'`); !inv {
		t.Error("the refused name is not marked aria-invalid")
	}

	p.do("sign up",
		fill("#signup-name", "Acme", "#signup-email", "admin@acme.test", "#signup-password", "correct horse"),
		click("#signup-form button[type=submit]"),
		visibleText("#notice", "Organization Acme created"),
		visibleText("#session-org", "Acme"),
		visibleText("#org-details", "org_acme"),
		visibleText("#org-details", "admin@acme.test"))
	p.shot("organization")

	// Records: create, a refused edit, a good edit.
	p.do("create a record",
		click(`#tabs a[data-tab="records"]`),
		visibleText("#records-empty", "No records yet"),
		click(`a[href="#/records/new"]`),
		setValue("#record-json", `{"name":"widget","status":"active","qty":3,"big":9007199254740993}`),
		click("#record-save"),
		visibleText("#notice", "created"),
		visibleText("#record-save", "Save"),
		until(`document.getElementById('record-json').value.includes('"name": "widget"')`))
	if v := eval[string](p, `document.getElementById('record-json').value`); !strings.Contains(v, "9007199254740993") {
		t.Errorf("the editor changed a 64-bit integer: %s", v)
	}
	p.do("save a record that breaks a rule",
		setValue("#record-json", "{\n  \"name\": \"widget\",\n  \"status\": \"sold\",\n  \"$where\": \"sleep(1000)\"\n}"),
		click("#record-save"),
		visibleText("#record-json-error", "orgd did not accept this record"),
		visibleText("#record-json-error", "$where"),
		visibleText("#record-json-error", "must not start with '$'"))
	p.shot("record-error")
	p.do("save malformed JSON",
		setValue("#record-json", "{\n  \"name\": \"widget\",\n}"),
		click("#record-save"),
		visibleText("#record-json-error", "Malformed JSON"),
		visibleText("#record-json-error", "line 3"))
	// Chromium's message for an unquoted value gives no position: the
	// console finds it.
	p.do("save a value without quotes",
		setValue("#record-json", "{\n  \"name\": widget,\n  \"status\": \"active\"\n}"),
		click("#record-save"),
		visibleText("#record-json-error", "line 2, column 11"))
	p.do("save the record",
		setValue("#record-json", `{"name":"widget","status":"sold","qty":4}`),
		click("#record-save"),
		visibleText("#notice", "Record saved"),
		until(`!document.querySelector('#record-json-error:not([hidden])')`),
		click(`.crumbs a`),
		rows("#records-table", 1),
		visibleText("#records-table", "sold"))

	// Import 30 lines, two of them bad; the report names them.
	dir := t.TempDir()
	var lines []string
	for i := 1; i <= 30; i++ {
		switch i {
		case 5:
			lines = append(lines, `{"$bad": 1}`)
		case 12:
			lines = append(lines, `not json`)
		default:
			status := []string{"active", "draft", "archived"}[i%3]
			lines = append(lines, fmt.Sprintf(`{"name":"item-%02d","status":%q,"qty":%d,"tags":["demo"]}`, i, status, i*7%50))
		}
	}
	file := filepath.Join(dir, "items.ndjson")
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p.do("import a file",
		click(`#tabs a[data-tab="transfer"]`),
		chromedp.SetUploadFiles(chromedp.CSS("#import-file"), []string{file}),
		click("#import-form button[type=submit]"),
		visibleText("#import-status", "Imported 28 records from items.ndjson; 2 lines were rejected"),
		rows("#import-report", 2),
		visibleText("#import-report", "field names must not start with '$'"),
		visibleText("#import-report tbody tr:last-child", "12"))
	p.shot("import")

	// Export: the download holds every record, one per line.
	downloads := filepath.Join(dir, "downloads")
	if _, err := chromedp.CallBrowser(p.ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads}); err != nil {
		t.Fatal(err)
	}
	p.do("export", click("#export-button"), visibleText("#export-status", "Exported 29 records"))
	if n := waitDownload(t, downloads, 29); n != 29 {
		t.Errorf("the export file has %d lines, want 29", n)
	}

	// Browse: 29 records are two pages of 25; a filter finds one.
	p.do("browse records",
		click(`#tabs a[data-tab="records"]`),
		rows("#records-table", 25),
		visibleText("#records-pos", "records 1–25"))
	p.shot("records")
	p.do("next page", click("#records-next"), rows("#records-table", 4), visibleText("#records-pos", "records 26–29"))
	p.do("previous page", click("#records-prev"), rows("#records-table", 25))
	p.do("filter", fill("#filter-field", "status", "#filter-value", "sold"), click("#filter-form button[type=submit]"),
		rows("#records-table", 1), visibleText("#records-table", "widget"))
	p.do("filter on a field orgd refuses", fill("#filter-field", "$where", "#filter-value", "1"),
		click("#filter-form button[type=submit]"),
		visibleText("#filter-field ~ .field-error", "Must name a top-level field"))
	p.do("clear the filter", click("#filter-clear"), rows("#records-table", 25))
	p.do("open a record", click("#records-table tbody tr:nth-child(2) a"), visibleText("#record-json", "item-01"))
	p.do("ask to delete it, then cancel", click("#record-delete"), chromedp.WaitVisible(chromedp.CSS("#confirm")),
		click("#confirm-cancel"), chromedp.WaitNotVisible(chromedp.CSS("#confirm")))
	p.do("ask again, then press Escape", click("#record-delete"), chromedp.WaitVisible(chromedp.CSS("#confirm")),
		chromedp.KeyEvent(kb.Escape), chromedp.WaitNotVisible(chromedp.CSS("#confirm")))
	p.do("delete it", click("#record-delete"), chromedp.WaitVisible(chromedp.CSS("#confirm")),
		click("#confirm-ok"), visibleText("#notice", "deleted"))
	p.do("28 records are left", rows("#records-table", 25), click("#records-next"), rows("#records-table", 3))

	// Rename: the console follows, and orgd knows the new name.
	p.do("rename",
		click(`#tabs a[data-tab="settings"]`),
		fill("#rename-name", "Wile-E"),
		click("#rename-form button[type=submit]"),
		visibleText("#notice", "Renamed to Wile-E"),
		visibleText("#session-org", "Wile-E"),
		visibleText("#org-details", "org_wile-e"))
	if s := httpStatus(t, base+"/org/get?organization_name=wile-e"); s != 200 {
		t.Errorf("GET /org/get?organization_name=wile-e: %d after the rename", s)
	}
	p.do("a malformed email is refused next to the field",
		fill("#email-new", "not an email"),
		click("#email-form button[type=submit]"),
		visibleText("#email-new ~ .field-error", "email"))

	// The audit log, newest first: the rename, the login, the creation.
	p.do("see the audit log", click(`#tabs a[data-tab="audit"]`),
		visibleText("#audit-table tbody tr:first-child", "Organization renamed"),
		visibleText("#audit-table tbody tr:first-child", "Acme → Wile-E"),
		visibleText("#audit-table tbody tr:first-child", "you"),
		visibleText("#audit-table", "Log in"),
		visibleText("#audit-table tbody tr:last-child", "Organization created"))
	p.shot("audit")
	for range 20 { // 23 events: a page of 20 and one of 3
		login(t, base, "admin@acme.test", "correct horse")
	}
	p.do("page through the audit log", click(`#tabs a[data-tab="records"]`), click(`#tabs a[data-tab="audit"]`),
		rows("#audit-table", 20), click("#audit-next"), rows("#audit-table", 3),
		visibleText("#audit-table tbody tr:last-child", "Organization created"),
		click("#audit-prev"), rows("#audit-table", 20))

	// Log out: nothing of the session stays in the browser.
	p.do("log out", click("#logout"), visibleText("#notice", "You are logged out"), chromedp.WaitVisible(chromedp.CSS("#login-form")))
	if kept := eval[string](p, `localStorage.length + '/' + sessionStorage.length + '/' + document.cookie`); kept != "0/0/" {
		t.Errorf("the browser kept storage or cookies (local/session/cookie): %s", kept)
	}

	// A failed login, typed and submitted with the keyboard.
	p.do("log in with a wrong password",
		fill("#login-email", "admin@acme.test", "#login-password", "wrong horse\n"),
		visibleText("#login-form .form-error", "Wrong email or password."))
	p.shot("login-failed")
	p.do("log in",
		fill("#login-password", "correct horse\n"),
		visibleText("#session-org", "Wile-E"),
		rows("#records-table", 25))
	p.do("the log out and the failed login are in the audit log", click(`#tabs a[data-tab="audit"]`),
		visibleText("#audit-table tbody tr:nth-child(2)", "Log in"),
		visibleText("#audit-table tbody tr:nth-child(2)", "failure"),
		visibleText("#audit-table tbody tr:nth-child(2)", "wrong password"),
		visibleText("#audit-table tbody tr:nth-child(3)", "Log out"))

	// A phone's width: the same screens, stacked.
	p.do("phone width", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile),
		click(`#tabs a[data-tab="records"]`), rows("#records-table", 25))
	if w := eval[int](p, `document.documentElement.scrollWidth`); w > 390 {
		t.Errorf("at a phone's width the page is %d px wide: it scrolls sideways", w)
	}
	p.shotViewport("phone-records")
	p.do("phone organization", click(`#tabs a[data-tab="settings"]`), visibleText("#org-details", "Wile-E"))
	p.shotViewport("phone-organization")
	p.do("laptop width", chromedp.EmulateViewport(1280, 800))

	// Delete: only once the name is typed exactly.
	p.do("type a wrong name", click(`#tabs a[data-tab="settings"]`), fill("#delete-confirm", "wile-e"),
		until(`document.getElementById('delete-button').disabled`))
	p.do("delete",
		fill("#delete-confirm", "Wile-E"),
		until(`!document.getElementById('delete-button').disabled`),
		click("#delete-button"),
		visibleText("#notice", "Organization Wile-E was deleted"),
		chromedp.WaitVisible(chromedp.CSS("#login-form")))
	if s := httpStatus(t, base+"/org/get?organization_name=wile-e"); s != 404 {
		t.Errorf("GET /org/get?organization_name=wile-e: %d after the delete, want 404", s)
	}
	p.do("the deleted admin cannot log in",
		fill("#login-email", "admin@acme.test", "#login-password", "correct horse\n"),
		visibleText("#login-form .form-error", "Wrong email or password."))

	p.checkClean()
}

// waitDownload waits until the one file in dir has want lines (or the step
// times out) and returns how many it has.
func waitDownload(t *testing.T, dir string, want int) int {
	t.Helper()
	n := 0
	for deadline := time.Now().Add(stepTimeout); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		names, _ := filepath.Glob(filepath.Join(dir, "*.ndjson"))
		if len(names) != 1 {
			continue
		}
		b, err := os.ReadFile(names[0])
		if err != nil {
			continue
		}
		if n = bytes.Count(b, []byte("\n")); n == want {
			break
		}
	}
	return n
}
