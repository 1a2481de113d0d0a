package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// configEnv names the configuration file when -config is not given.
const configEnv = "ORGD_CONFIG"

// readConfigFile reads a YAML mapping whose keys are the settings'
// environment variable names (ORGD_ADDR: ":8080"). Values are taken as
// written, so 0600 or 1e3 stay text for the setting to parse. No path, no
// values. An unknown key is an error: it is most likely a typo.
func readConfigFile(path string, ss []setting) (map[string]string, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("configuration file: %w", err)
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("configuration file %s: %w", path, err)
	}
	// A second document ("---") would otherwise be ignored without a word.
	if err := dec.Decode(new(yaml.Node)); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("configuration file %s: must be one YAML document, with no \"---\" between settings", path)
	}
	if len(doc.Content) == 0 { // empty file
		return nil, nil
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("configuration file %s: must be a mapping of settings, e.g. ORGD_ADDR: \":8080\"", path)
	}
	known := map[string]bool{}
	for _, s := range ss {
		known[s.env] = true
	}
	out, seen := map[string]string{}, map[string]bool{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		switch {
		case !known[k.Value]:
			return nil, fmt.Errorf("configuration file %s, line %d: unknown setting %q (keys are the environment variable names, e.g. ORGD_ADDR)", path, k.Line, k.Value)
		case v.Kind != yaml.ScalarNode:
			return nil, fmt.Errorf("configuration file %s, line %d: %s must be a single value", path, v.Line, k.Value)
		}
		if seen[k.Value] {
			return nil, fmt.Errorf("configuration file %s, line %d: %s is set twice", path, k.Line, k.Value)
		}
		seen[k.Value] = true
		if v.Tag != "!!null" && v.Value != "" { // empty is unset, as in the environment
			out[k.Value] = v.Value
		}
	}
	return out, nil
}

// printConfig is orgd config: it prints the effective configuration as a
// configuration file, each value's source in a comment, secrets masked.
func printConfig(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	_, res, err := resolveConfig(flag.NewFlagSet("orgd config", flag.ContinueOnError), args, getenv, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "# orgd's effective configuration. Precedence: flag > environment > file (-config) > default.")
	width := 0
	for _, r := range res {
		width = max(width, len(r.env)+len(strconv.Quote(mask(r.env, r.value)))+2)
	}
	for _, r := range res {
		line := r.env + ": " + strconv.Quote(mask(r.env, r.value))
		fmt.Fprintf(stdout, "%-*s # %s\n", width, line, r.from)
	}
	return nil
}

// mask hides secrets: the JWT secret, and the password and credential
// options of a MongoDB URI.
func mask(env, v string) string {
	switch {
	case v == "":
		return ""
	case env == "ORGD_JWT_SECRET":
		return "********"
	case env == "MONGODB_URI":
		return maskURI(v)
	case env == "ORGD_OPERATOR_TOKEN":
		return "********"
	case env == "ORGD_CLUSTERS":
		return maskClusters(v)
	}
	return v
}

// maskURI hides the password and any credential-bearing option of a MongoDB
// URI, keeping the rest readable. It parses by hand: net/url rejects the
// host lists (h1:27017,h2:27017) of replica set URIs.
func maskURI(uri string) string {
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return "********"
	}
	// The user information ends at the first '@', as the driver reads it
	// (a password may hold '?' or '=', and one holding '@' is refused): an
	// '@' in an option's value is the option's, which may be a secret. With
	// no user information, the driver refuses an '@' there; what is shown
	// then hides more than it must.
	user, optionsBefore := "", false
	if at := strings.Index(rest, "@"); at >= 0 {
		user, rest = rest[:at], rest[at+1:]
		optionsBefore = strings.Contains(user, "?")
		name, _, hasPw := strings.Cut(user, ":")
		switch {
		case strings.ContainsAny(name, "/?=&@"): // not a user name: a path or options, which may hold a password
			user = "****@"
		case hasPw:
			user = name + ":****@"
		default:
			user += "@"
		}
	}
	hosts, query, hasQuery := strings.Cut(rest, "?")
	if optionsBefore && !hasQuery { // that '@' was in an option: what follows it are options too
		hosts, query, hasQuery = "", rest, true
	}
	// Another '@' before the hosts' end: the password held an unescaped
	// '@', which the driver refuses; what precedes it is the password's rest.
	if auth, _, _ := strings.Cut(hosts, "/"); strings.Contains(auth, "@") {
		hosts = hosts[strings.LastIndex(auth, "@")+1:]
	}
	hosts = user + hosts
	if !hasQuery {
		return scheme + "://" + hosts
	}
	// Options are separated by '&' or ';', as the driver reads them.
	var b strings.Builder
	for query != "" {
		end := strings.IndexAny(query, "&;")
		o, sep := query, ""
		if end >= 0 {
			o, sep, query = query[:end], query[end:end+1], query[end+1:]
		} else {
			query = ""
		}
		k, _, _ := strings.Cut(o, "=")
		key := k
		if unescaped, err := url.QueryUnescape(k); err == nil { // as the driver: unescaped, then lower-cased
			key = unescaped
		}
		key = strings.ToLower(key)
		if strings.Contains(key, "password") || strings.Contains(key, "secret") || strings.Contains(key, "token") ||
			key == "authmechanismproperties" {
			o = k + "=****"
		}
		b.WriteString(o + sep)
	}
	return scheme + "://" + hosts + "?" + b.String()
}
