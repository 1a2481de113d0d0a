package api_test

import (
	"context"
	"net/http"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// The same address written two ways: "é" as one character (form C), and as
// "e" followed by a combining acute accent (form D), as some systems send it.
const (
	emailNFC = "jos\u00e9@caf\u00e9.test"
	emailNFD = "jose\u0301@cafe\u0301.test"
)

// TestEmailUnicodeForms checks that an address is one address however its
// accented letters are encoded: stored in form C, one admin, and a login
// with either form.
func TestEmailUnicodeForms(t *testing.T) {
	e, _ := newOperatorEnv(t, operatorToken)
	r := e.create(org{"Cafe", emailNFD, "correct horse"}).mustStatus(t, http.StatusCreated)
	if r.JSON["admin_email"] != emailNFC {
		t.Errorf("admin_email %q, want %q (form C)", r.JSON["admin_email"], emailNFC)
	}
	e.create(org{"Cafe-Two", emailNFC, "correct horse"}).isProblem(t, http.StatusConflict)
	e.create(org{"Cafe-Three", "JOSE\u0301@CAFE\u0301.TEST", "correct horse"}).isProblem(t, http.StatusConflict)
	e.op("POST", "/operator/organizations", map[string]string{"organization_name": "Cafe-Four", "email": emailNFD,
		"password": "correct horse"}).isProblem(t, http.StatusConflict)
	for _, email := range []string{emailNFC, emailNFD} {
		if e.login(email, "correct horse") == "" {
			t.Errorf("login as %q: no token", email)
		}
	}

	// An email change in form D is stored in form C too.
	tok := e.login(emailNFC, "correct horse")
	changed := "ren\u0065\u0301@caf\u00e9.test"
	r = e.call("PUT", "/org/update", tok, map[string]string{"email": changed}).mustStatus(t, http.StatusOK)
	if want := "ren\u00e9@caf\u00e9.test"; r.JSON["admin_email"] != want {
		t.Errorf("changed admin_email %q, want %q", r.JSON["admin_email"], want)
	}
	if e.login("ren\u00e9@caf\u00e9.test", "correct horse") == "" {
		t.Error("login with the changed email in form C: no token")
	}
}

// TestEmailStoredInFormD checks that an admin whose email was stored as it
// was sent, before addresses were put in form C, still logs in with it.
func TestEmailStoredInFormD(t *testing.T) {
	e := newEnv(t)
	hash, err := bcrypt.GenerateFromPassword([]byte("correct horse"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.CreateOrganization(context.Background(), "Older", emailNFD, string(hash)); err != nil {
		t.Fatal(err)
	}
	if e.login(emailNFD, "correct horse") == "" {
		t.Error("login in the form stored: no token")
	}
}
