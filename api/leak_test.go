package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/orgd/orgd/api"
)

// The secrets the tests use are registered with logs as they pass by:
// passwords in request bodies, tokens in requests and answers, and every
// hash computed. TestMain then scans every log line of the run for them.

// recordHashes is the real password hasher, registering each hash it makes.
type recordHashes struct{ api.Passwords }

func (r recordHashes) Hash(ctx context.Context, pw string) (string, error) {
	logs.Secret("password", pw)
	h, err := r.Passwords.Hash(ctx, pw)
	logs.Secret("password hash", h)
	return h, err
}

func (r recordHashes) Check(ctx context.Context, hash, pw string) (bool, error) {
	logs.Secret("password", pw)
	logs.Secret("password hash", hash)
	return r.Passwords.Check(ctx, hash, pw)
}

// registerSecrets registers the password and refresh token of a request body.
func registerSecrets(body any) {
	var fields map[string]any
	switch b := body.(type) {
	case string:
		_ = json.Unmarshal([]byte(b), &fields)
	case map[string]string:
		fields = map[string]any{}
		for k, v := range b {
			fields[k] = v
		}
	case map[string]any:
		fields = b
	}
	for _, k := range []string{"password", "refresh_token"} {
		if v, ok := fields[k].(string); ok {
			logs.Secret(strings.ReplaceAll(k, "_", " "), v)
		}
	}
}

// registerTokens registers the bearer token of req and the tokens of an answer.
func registerTokens(req *http.Request, r response) {
	if tok, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer "); ok {
		logs.Secret("access token", tok)
	}
	for _, k := range []string{"access_token", "refresh_token"} {
		if v, ok := r.JSON[k].(string); ok {
			logs.Secret(strings.ReplaceAll(k, "_", " "), v)
		}
	}
}
