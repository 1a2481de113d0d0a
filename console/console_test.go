package console

import (
	"regexp"
	"strings"
	"testing"
)

// TestFilesSelfContained checks, without a browser, what the Content-Security-
// Policy and the promise of no sensitive storage rely on: no inline script or
// style, nothing fetched from elsewhere, no storage, no HTML built from strings.
func TestFilesSelfContained(t *testing.T) {
	c := New()
	page := string(c.assets[""].body)
	if page == "" {
		t.Fatal("no index.html")
	}
	for _, name := range []string{"app.js", "app.css", "icon.svg"} {
		if _, ok := c.assets[name]; !ok {
			t.Errorf("%s is not embedded", name)
		}
	}
	rules := []struct {
		file, pattern, why string
	}{
		{"", `<script(?:\s[^>]*)?>[^<]`, "an inline script (the policy refuses it)"},
		{"", `\sstyle=`, "an inline style attribute (the policy refuses it)"},
		{"", `<style`, "an inline style sheet"},
		{"", `\son[a-z]+=`, "an inline event handler"},
		{"", `(?:src|href)="(?:https?:)?//`, "a file from another host"},
		{"app.css", `url\(|@import`, "a file from elsewhere (fonts are the system's)"},
		{"app.js", `localStorage\.|sessionStorage\.|document\.cookie|indexedDB`, "browser storage"},
		{"app.js", `innerHTML|outerHTML|insertAdjacentHTML|document\.write`, "HTML built from strings"},
		{"app.js", `https?://`, "a request to another host"},
	}
	for _, r := range rules {
		body := string(c.assets[r.file].body)
		if m := regexp.MustCompile(r.pattern).FindString(body); m != "" {
			name := r.file
			if name == "" {
				name = "index.html"
			}
			t.Errorf("%s has %s: %q", name, r.why, m)
		}
	}
	for _, tag := range regexp.MustCompile(`<script[^>]*>`).FindAllString(page, -1) {
		if !strings.Contains(tag, ` src="`) {
			t.Errorf("index.html has a script without src: %s", tag)
		}
	}
	if !strings.Contains(page, `<script src="app.js" defer></script>`) {
		t.Error("index.html does not load app.js")
	}
}
