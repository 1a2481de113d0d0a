package main

import (
	"errors"
	"flag"
	"fmt"
	"github.com/orgd/orgd/auth"
	"github.com/orgd/orgd/embeddb"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// config is orgd's effective configuration.
type config struct {
	Addr          string
	MongoURI      string
	DataDir       string
	EmbeddedAddr  string
	MasterDB      string
	TenantDB      string
	JWTSecret     string
	JWTSecretFile string
	TokenTTL      time.Duration
	BcryptCost    int
	LogLevel      slog.Level
	LogFormat     string // auto, json or text
	AdminAddr     string // "" serves metrics and docs on Addr
	DBTimeout     time.Duration
	OpLease       time.Duration
	Reconcile     time.Duration
	CacheSync     time.Duration
	CacheSize     int
	TenantDBs     int // 0: embeddedTenantDBs on the embedded database, else 1
	HeapFloorMiB  int
	EmbedCacheKiB int

	// Tokens, logins and the audit log (see security.go).
	JWTAlg            string
	JWTKeys           []string
	JWTIssuer         string
	JWTAudience       string
	JWTLeeway         time.Duration
	RefreshTTL        time.Duration
	LoginWindow       time.Duration
	LoginAccountLimit int
	LoginAddrLimit    int
	HashConcurrency   int
	HashQueue         int
	TrustedProxies    []netip.Prefix
	TrustUnixPeers    bool
	CORSOrigins       []string
	AuditRetention    time.Duration
	PruneInterval     time.Duration
	scaleConfig
}

// setting is one configuration key: its variable, flag, default and parser.
type setting struct {
	env, flag, def, usage string
	parse                 func(string, *config) error
}

func settings() []setting {
	return append(baseSettings(), scaleSettings()...)
}

// maxBcryptCost is the highest bcrypt cost orgd takes. Each step doubles a
// hash's time: at 16 a login takes seconds of CPU, and startup hashes once.
const maxBcryptCost = 16

func baseSettings() []setting {
	str := func(dst func(*config) *string) func(string, *config) error {
		return func(v string, c *config) error { *dst(c) = v; return nil }
	}
	return append([]setting{
		{"ORGD_ADDR", "addr", ":8080", "HTTP listen address: host:port, or unix:/path for a Unix socket", func(v string, c *config) error {
			if err := checkListenAddr(v, ":8080"); err != nil {
				return err
			}
			c.Addr = v
			return nil
		}},
		{"MONGODB_URI", "mongodb-uri", "", "MongoDB deployment to use; unset starts the embedded database", func(v string, c *config) error {
			if v != "" && !strings.HasPrefix(v, "mongodb://") && !strings.HasPrefix(v, "mongodb+srv://") {
				return errors.New("must start with mongodb:// or mongodb+srv://")
			}
			c.MongoURI = v
			return nil
		}},
		{"ORGD_DATA_DIR", "data-dir", "./data", "embedded database directory", func(v string, c *config) error {
			// An empty variable means the default; an empty flag value (an
			// unset shell variable in -data-dir "$DIR") would mean the working
			// directory, which orgd would fill and restrict to its owner.
			if v == "" {
				return errors.New("must not be empty: name a directory, or leave it out for ./data")
			}
			c.DataDir = v
			return nil
		}},
		{"ORGD_EMBEDDED_ADDR", "embedded-addr", "", "embedded database listen address (loopback); unset: a Unix socket in the data directory, which only its owner can use", func(v string, c *config) error {
			if v == "" {
				c.EmbeddedAddr = ""
				return nil
			}
			host, port, err := net.SplitHostPort(v)
			if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 0 || n > 65535 {
				return errors.New("must be host:port with a port from 0 to 65535, e.g. 127.0.0.1:27017")
			}
			if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
				return errors.New("must be a loopback address such as 127.0.0.1:27017")
			}
			c.EmbeddedAddr = v
			return nil
		}},
		{"ORGD_EMBEDDED_CACHE_KIB", "embedded-cache-kib", strconv.Itoa(embeddb.DefaultCacheKiB), "page cache in KiB of each of the embedded database's connections (it keeps many open per database file)", integer(func(c *config) *int { return &c.EmbedCacheKiB }, 16, 1<<20)},
		{"ORGD_MASTER_DB", "master-db", "orgd_master", "database holding orgd's metadata", dbName(func(c *config) *string { return &c.MasterDB })},
		{"ORGD_TENANT_DB", "tenant-db", "orgd_tenants", "database holding the org_<name> collections (the name its databases start with, with ORGD_TENANT_DBS above 1)", dbName(func(c *config) *string { return &c.TenantDB })},
		{"ORGD_TENANT_DBS", "tenant-dbs", "auto", "how many databases new organizations' collections are spread over, as <tenant-db>_00, _01, ...; auto: 256 on the embedded database, 1 with MONGODB_URI", func(v string, c *config) error {
			if v == "auto" {
				c.TenantDBs = 0
				return nil
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > maxTenantDBs {
				return fmt.Errorf("must be auto or an integer from 1 to %d", maxTenantDBs)
			}
			c.TenantDBs = n
			return nil
		}},
		{"ORGD_JWT_SECRET", "jwt-secret", "", "HS256 signing secret, at least 32 bytes", func(v string, c *config) error {
			if v != "" && len(v) < auth.MinSecretLen { // here, so that the error names a config file it came from
				return fmt.Errorf("the JWT secret must be at least %d bytes", auth.MinSecretLen)
			}
			c.JWTSecret = v
			return nil
		}},
		{"ORGD_JWT_SECRET_FILE", "jwt-secret-file", "", "file holding the HS256 signing secret", str(func(c *config) *string { return &c.JWTSecretFile })},
		{"ORGD_TOKEN_TTL", "token-ttl", "15m", "access token lifetime", func(v string, c *config) error {
			d, err := time.ParseDuration(v)
			if err != nil || d < time.Second || d > 24*time.Hour {
				return errors.New("must be a duration between 1s and 24h, e.g. 15m")
			}
			c.TokenTTL = d
			return nil
		}},
		{"ORGD_BCRYPT_COST", "bcrypt-cost", "12", fmt.Sprintf("bcrypt cost (4-%d)", maxBcryptCost), func(v string, c *config) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 4 || n > maxBcryptCost {
				return fmt.Errorf("must be an integer from 4 to %d (each step doubles a login's CPU time; 12, the default, takes about 0.2 s)", maxBcryptCost)
			}
			c.BcryptCost = n
			return nil
		}},
		{"ORGD_DB_TIMEOUT", "db-timeout", "10s", "longest wait for any one database operation", duration(func(c *config) *time.Duration { return &c.DBTimeout }, 100*time.Millisecond, 5*time.Minute)},
		{"ORGD_OP_LEASE", "op-lease", "30s", "lease of a running create/rename/delete; another instance may take it over once it has expired for ORGD_DB_TIMEOUT", duration(func(c *config) *time.Duration { return &c.OpLease }, 100*time.Millisecond, time.Hour)},
		{"ORGD_RECONCILE_INTERVAL", "reconcile-interval", "30s", "how often interrupted operations are looked for and repaired", duration(func(c *config) *time.Duration { return &c.Reconcile }, 100*time.Millisecond, 24*time.Hour)},
		{"ORGD_CACHE_SYNC", "cache-sync", "1s", "how often the cache learns other instances' changes: about the longest they go unseen here (three intervals at most, when syncs fail); 0 disables the cache", func(v string, c *config) error {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 || d > time.Minute || d > 0 && d < 100*time.Millisecond {
				return errors.New("must be 0 (no cache) or a duration from 100ms to 1m, e.g. 1s")
			}
			c.CacheSync = d
			return nil
		}},
		{"ORGD_CACHE_SIZE", "cache-size", "100000", "most cache entries", func(v string, c *config) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 100 || n > 10_000_000 {
				return errors.New("must be an integer from 100 to 10000000")
			}
			c.CacheSize = n
			return nil
		}},
		{"ORGD_HEAP_FLOOR_MIB", "heap-floor-mib", "64", "heap size in MiB below which the garbage collector does not run (a small heap is otherwise collected many times a second); 0, or any GOGC variable, leaves Go's own pacing", integer(func(c *config) *int { return &c.HeapFloorMiB }, 0, 4096)},
		{"ORGD_LOG_LEVEL", "log-level", "info", "debug, info, warn or error", func(v string, c *config) error {
			if err := c.LogLevel.UnmarshalText([]byte(v)); err != nil {
				return errors.New("must be debug, info, warn or error")
			}
			return nil
		}},
		{"ORGD_LOG_FORMAT", "log-format", "auto", "json, text, or auto: text on a terminal, else json", func(v string, c *config) error {
			if v != "auto" && v != "json" && v != "text" {
				return errors.New("must be auto, json or text")
			}
			c.LogFormat = v
			return nil
		}},
		{"ORGD_ADMIN_ADDR", "admin-addr", "", "listen address for /metrics and the docs (host:port or unix:/path); unset serves them on ORGD_ADDR", func(v string, c *config) error {
			if v != "" {
				if err := checkListenAddr(v, "127.0.0.1:9090"); err != nil {
					return err
				}
			}
			c.AdminAddr = v
			return nil
		}},
	}, securitySettings()...)
}

func duration(dst func(*config) *time.Duration, min, max time.Duration) func(string, *config) error {
	return func(v string, c *config) error {
		d, err := time.ParseDuration(v)
		if err != nil || d < min || d > max {
			return fmt.Errorf("must be a duration from %v to %v, written as a number and a unit (90s, 15m, 24h)", min, max)
		}
		*dst(c) = d
		return nil
	}
}

func dbName(dst func(*config) *string) func(string, *config) error {
	return func(v string, c *config) error {
		if v == "" || len(v) > 63 || strings.ContainsAny(v, `/\. "$*<>:|?`) {
			return errors.New("must be a MongoDB database name (1-63 characters, none of /\\. \"$*<>:|?)")
		}
		*dst(c) = v
		return nil
	}
}

// loadConfig reads the configuration from flags, then the environment, then
// the configuration file (-config), then defaults; fs may already hold a
// command's own flags.
func loadConfig(fs *flag.FlagSet, args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	c, _, err := resolveConfig(fs, args, getenv, stderr)
	return c, err
}

// resolveConfig is loadConfig that also says where each setting's value
// came from, in the order of settings().
func resolveConfig(fs *flag.FlagSet, args []string, getenv func(string) string, stderr io.Writer) (config, []resolved, error) {
	fs.SetOutput(stderr)
	ss := settings()
	file := fs.String("config", getenv(configEnv), "YAML file of settings keyed by their environment variable names ("+configEnv+")")
	vals := make([]*string, len(ss))
	for i, s := range ss {
		vals[i] = fs.String(s.flag, s.def, s.usage+" ("+s.env+")")
	}
	if err := fs.Parse(args); err != nil {
		return config{}, nil, err
	}
	if fs.NArg() > 0 {
		return config{}, nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	fromFile, err := readConfigFile(*file, ss)
	if err != nil {
		return config{}, nil, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var c config
	res := make([]resolved, len(ss))
	for i, s := range ss {
		r := resolved{setting: s, value: s.def, from: "default"}
		if v, ok := fromFile[s.env]; ok {
			r.value, r.from = v, "file "+*file
		}
		if v, ok := lookup(getenv, s.env); ok {
			r.value, r.from = v, "environment"
		}
		if set[s.flag] {
			r.value, r.from = *vals[i], "flag"
		}
		if err := s.parse(r.value, &c); err != nil {
			where := ""
			if _, ok := fromFile[s.env]; ok && r.from != "environment" && r.from != "flag" {
				where = " in " + *file
			}
			return config{}, nil, fmt.Errorf("invalid %s (-%s) %q%s: %w", s.env, s.flag, redact(s.env, r.value), where, err)
		}
		res[i] = r
	}
	if c.JWTSecret != "" && c.JWTSecretFile != "" {
		return config{}, nil, errors.New("set only one of ORGD_JWT_SECRET and ORGD_JWT_SECRET_FILE")
	}
	if c.AdminAddr != "" && sameListenAddr(c.AdminAddr, c.Addr) {
		return config{}, nil, errors.New("ORGD_ADMIN_ADDR is ORGD_ADDR's socket: give it a path of its own, or leave it unset to serve /metrics and the docs on ORGD_ADDR")
	}
	if err := c.scaleConfig.validate(&c); err != nil {
		return config{}, nil, err
	}
	if err := c.checkDBNames(); err != nil {
		return config{}, nil, err
	}
	if c.JWTAlg == "EdDSA" && len(c.JWTKeys) == 0 {
		return config{}, nil, errors.New("ORGD_JWT_ALG (-jwt-alg) is EdDSA but ORGD_JWT_KEYS (-jwt-keys) names no key file")
	}
	return c, res, nil
}

// resolved is one setting's effective value and where it came from: flag,
// environment, file <path> or default.
type resolved struct {
	setting
	value, from string
}

func lookup(getenv func(string) string, key string) (string, bool) {
	v := getenv(key)
	return v, v != ""
}

// redact hides secret values in error messages.
func redact(env, v string) string {
	if env == "ORGD_JWT_SECRET" || env == "MONGODB_URI" || secretSetting(env) {
		return "(hidden)"
	}
	return v
}

// checkDBNames checks the database names against what the database will
// take: spread tenant databases get a suffix, and the embedded database
// takes only letters, digits, '_' and '-'. Found later, each would fail every
// create with a 500.
func (c config) checkDBNames() error {
	if n := c.tenantDBs(); n > 1 {
		if suffix := fmt.Sprintf("_%02d", n-1); len(c.TenantDB)+len(suffix) > 63 {
			return fmt.Errorf("invalid ORGD_TENANT_DB (-tenant-db) %q: at most %d characters when ORGD_TENANT_DBS spreads organizations over %d databases (%s_00, _01, ... %s)",
				c.TenantDB, 63-len(suffix), n, c.TenantDB, suffix)
		}
	}
	if c.MongoURI != "" {
		return nil
	}
	for _, n := range []struct{ env, flag, v string }{
		{"ORGD_MASTER_DB", "master-db", c.MasterDB}, {"ORGD_TENANT_DB", "tenant-db", c.TenantDB}, {"ORGD_TENANT_DB_PREFIX", "tenant-db-prefix", c.TenantDBPrefix},
	} {
		if strings.Trim(n.v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != "" {
			return fmt.Errorf("invalid %s (-%s) %q: the embedded database takes only letters, digits, '_' and '-' in database names", n.env, n.flag, n.v)
		}
	}
	return nil
}

// embeddedTenantDBs is how many databases the collection model spreads
// over on the embedded database, whose queries pay for every collection of
// their database (FerretDB lists them, SQLite looks the table up among them):
// 256 keep 10,000 organizations to about 40 per database, for three file
// descriptors and a few hundred KiB of memory per database in use.
const embeddedTenantDBs = 256

// maxTenantDBs bounds ORGD_TENANT_DBS: each database is a file of its own
// on the embedded database, three descriptors when open.
const maxTenantDBs = 1000

// tenantDBs resolves ORGD_TENANT_DBS=auto.
func (c config) tenantDBs() int {
	switch {
	case c.TenantDBs > 0:
		return c.TenantDBs
	case c.MongoURI == "":
		return embeddedTenantDBs
	}
	return 1
}
