package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/orgd/orgd"
	"github.com/orgd/orgd/embeddb"
	"github.com/orgd/orgd/mongodb"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// scaleConfig holds where tenants live: their tenancy model, the deployments
// they may be placed on, and who may move them.
type scaleConfig struct {
	Tenancy           string
	TenantDBPrefix    string
	Deployment        string // the name of MONGODB_URI's deployment
	Clusters          string // name=uri entries (secret: URIs may hold credentials)
	ClustersFile      string
	OperatorToken     string // secret
	OperatorTokenFile string
	MoveDrain         time.Duration
}

// operatorTokenMinLen keeps the operator credential out of guessing range.
const operatorTokenMinLen = 32

func scaleSettings() []setting {
	str := func(dst func(*config) *string) func(string, *config) error {
		return func(v string, c *config) error { *dst(c) = v; return nil }
	}
	return []setting{
		{"ORGD_TENANCY", "default-tenancy", "collection", "tenancy model of new organizations: collection (org_<name> in ORGD_TENANT_DB) or database (a database <prefix>org_<name> each)", func(v string, c *config) error {
			if msg := orgd.ValidateTenancy(orgd.Tenancy(v)); msg != "" || v == "" {
				return errors.New(`must be "collection" or "database"`)
			}
			c.Tenancy = v
			return nil
		}},
		{"ORGD_TENANT_DB_PREFIX", "tenant-db-prefix", "", "prefix of per-organization database names (tenancy database): <prefix>org_<name>", func(v string, c *config) error {
			if len(v) > 11 || strings.ContainsAny(v, `/\. "$*<>:|?`) {
				return errors.New("must be at most 11 characters (database names stop at 63), none of /\\. \"$*<>:|?")
			}
			c.TenantDBPrefix = v
			return nil
		}},
		{"ORGD_DEPLOYMENT", "home-deployment", mongodb.DefaultDeployment, "name of the deployment at MONGODB_URI (or the embedded one), which holds the master database and may hold tenants", func(v string, c *config) error {
			if msg := orgd.ValidateDeployment(v); msg != "" {
				return errors.New(msg)
			}
			c.Deployment = v
			return nil
		}},
		{"ORGD_CLUSTERS", "clusters", "", "other deployments tenants may be placed on: name=mongodb://… entries separated by spaces", str(func(c *config) *string { return &c.Clusters })},
		{"ORGD_CLUSTERS_FILE", "clusters-file", "", "file of name=mongodb://… lines (preferred: keeps credentials out of the environment)", str(func(c *config) *string { return &c.ClustersFile })},
		{"ORGD_OPERATOR_TOKEN", "operator-token", "", "operator credential for /operator/* (at least 32 bytes)", str(func(c *config) *string { return &c.OperatorToken })},
		{"ORGD_OPERATOR_TOKEN_FILE", "operator-token-file", "", "file holding the operator credential (preferred)", str(func(c *config) *string { return &c.OperatorTokenFile })},
		{"ORGD_MOVE_DRAIN", "move-drain", "2s", "how long a move lets requests that read the old placement finish before it drops the source; above ORGD_CACHE_SYNC", duration(func(c *config) *time.Duration { return &c.MoveDrain }, 10*time.Millisecond, 10*time.Minute)},
	}
}

// secretSetting reports whether a setting's value must never be shown.
func secretSetting(env string) bool {
	return env == "ORGD_CLUSTERS" || env == "ORGD_OPERATOR_TOKEN"
}

// validate checks what no single setting can.
func (sc *scaleConfig) validate(c *config) error {
	if sc.Clusters != "" && sc.ClustersFile != "" {
		return errors.New("set only one of ORGD_CLUSTERS and ORGD_CLUSTERS_FILE")
	}
	if sc.OperatorToken != "" && sc.OperatorTokenFile != "" {
		return errors.New("set only one of ORGD_OPERATOR_TOKEN and ORGD_OPERATOR_TOKEN_FILE")
	}
	if c.CacheSync > 0 && sc.MoveDrain <= c.CacheSync {
		return fmt.Errorf("ORGD_MOVE_DRAIN (%v) must exceed ORGD_CACHE_SYNC (%v): other instances learn of a move within the cache sync interval", sc.MoveDrain, c.CacheSync)
	}
	return nil
}

// deploymentURIs reads ORGD_CLUSTERS or ORGD_CLUSTERS_FILE. Errors never
// quote a URI: it may hold a password.
func deploymentURIs(cfg config) (map[string]string, error) {
	text, source := cfg.Clusters, "ORGD_CLUSTERS"
	if cfg.ClustersFile != "" {
		b, err := readSecretFile(cfg.ClustersFile, "ORGD_CLUSTERS_FILE")
		if err != nil {
			return nil, err
		}
		text, source = string(b), "ORGD_CLUSTERS_FILE"
	}
	uris, err := mongodb.ParseDeployments(text)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	if _, ok := uris[cfg.Deployment]; ok {
		return nil, fmt.Errorf("%s names deployment %q, which is MONGODB_URI's (ORGD_DEPLOYMENT): give it another name", source, cfg.Deployment)
	}
	return uris, nil
}

// connectDeployments opens one client per configured deployment besides the
// home one; close disconnects them.
func connectDeployments(ctx context.Context, cfg config) (map[string]*mongo.Client, func(), error) {
	uris, err := deploymentURIs(cfg)
	if err != nil {
		return nil, nil, err
	}
	clients, err := mongodb.ConnectDeployments(ctx, uris, cfg.DBTimeout)
	if err != nil {
		return nil, nil, err
	}
	return clients, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, c := range clients {
			_ = c.Disconnect(ctx)
		}
	}, nil
}

// operatorToken returns the operator credential, or "" when none is
// configured (the operator endpoints then refuse every request).
func operatorToken(cfg config) (string, error) {
	// Trimmed: a secret mounted as a variable often ends in a newline, which
	// no Authorization header can carry.
	tok, source := strings.TrimSpace(cfg.OperatorToken), "ORGD_OPERATOR_TOKEN"
	if cfg.OperatorTokenFile != "" {
		b, err := readSecretFile(cfg.OperatorTokenFile, "ORGD_OPERATOR_TOKEN_FILE")
		if err != nil {
			return "", err
		}
		tok, source = strings.TrimSpace(string(b)), "ORGD_OPERATOR_TOKEN_FILE"
		// A file that is set must hold a credential: an empty one would
		// quietly leave the operator API off.
		if tok == "" {
			return "", fmt.Errorf("%s: %s holds no operator credential", source, cfg.OperatorTokenFile)
		}
	}
	if strings.ContainsAny(tok, " \t\r\n") {
		return "", fmt.Errorf("%s: the operator credential must be one word, without spaces or line breaks", source)
	}
	if tok != "" && len(tok) < operatorTokenMinLen {
		return "", fmt.Errorf("%s: the operator credential must be at least %d bytes (e.g. `openssl rand -hex 32`)", source, operatorTokenMinLen)
	}
	return tok, nil
}

// storeConfig is the store's configuration: the master database, the
// deployments and tenancy, leases and the cache.
func storeConfig(cfg config, deps map[string]*mongo.Client, logger *slog.Logger) mongodb.Config {
	return mongodb.Config{MasterDB: cfg.MasterDB, TenantDB: cfg.TenantDB, TenantDBs: cfg.tenantDBs(),
		Tenancy: cfg.Tenancy, TenantDBPrefix: cfg.TenantDBPrefix, Deployment: cfg.Deployment, Deployments: deps,
		MoveDrain: cfg.MoveDrain, Lease: cfg.OpLease, Grace: cfg.DBTimeout,
		CacheSync: cfg.CacheSync, CacheSize: cfg.CacheSize, Logger: logger}
}

// newStore returns a tool's store over the home client and the other
// deployments.
func newStore(client *mongo.Client, deps map[string]*mongo.Client, cfg config, logger *slog.Logger) *mongodb.Store {
	sc := storeConfig(cfg, deps, logger)
	if cfg.MongoURI == "" {
		// The embedded database's own or a running orgd's: the files say which
		// databases it has, where listDatabases reads every one of them (28 s
		// at 10,000 organizations, past ORGD_DB_TIMEOUT).
		sc.ListDatabases = func(context.Context) ([]string, error) { return embeddb.DatabaseNames(cfg.DataDir) }
	}
	return mongodb.NewStore(client, sc)
}

// maskClusters hides the credentials of every URI in ORGD_CLUSTERS.
func maskClusters(v string) string {
	fields := strings.Fields(v)
	for i, f := range fields {
		if name, uri, ok := strings.Cut(f, "="); ok && orgd.ValidateDeployment(name) == "" {
			fields[i] = name + "=" + maskURI(uri)
		} else { // not name=URI: it may be a URI, credentials and all
			fields[i] = "********"
		}
	}
	return strings.Join(fields, " ")
}

// describeDeployments is the startup line naming every deployment, without
// credentials.
func describeDeployments(cfg config, deps map[string]*mongo.Client) string {
	names := []string{cfg.Deployment + " (home)"}
	var others []string
	for n := range deps {
		others = append(others, n)
	}
	slices.Sort(others)
	return strings.Join(append(names, others...), ", ") + "; new organizations: tenancy " + cfg.Tenancy
}
