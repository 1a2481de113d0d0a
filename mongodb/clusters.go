package mongodb

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/orgd/orgd"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// DefaultDeployment is the name of the deployment holding the master
// database when the configuration gives it none.
const DefaultDeployment = "main"

// deployments is the pool of clients, one per deployment tenants may live on,
// created once at startup and shared by every request. The master database's
// own deployment is one of them.
type deployments struct {
	home    string
	clients map[string]*mongo.Client
	names   []string // sorted
	// missing stands in for a deployment that organizations still name but the
	// configuration no longer lists: it is disconnected, so every use fails
	// with "unavailable" rather than reaching the wrong database.
	missing *mongo.Client
}

func newDeployments(home string, homeClient *mongo.Client, others map[string]*mongo.Client) *deployments {
	if home == "" {
		home = DefaultDeployment
	}
	d := &deployments{home: home, clients: map[string]*mongo.Client{home: homeClient}}
	for name, c := range others {
		if name != home {
			d.clients[name] = c
		}
	}
	for name := range d.clients {
		d.names = append(d.names, name)
	}
	slices.Sort(d.names)
	// Connect does no I/O before the first operation; Disconnect at once.
	if c, err := mongo.Connect(options.Client().ApplyURI("mongodb://deployment-not-configured.invalid")); err == nil {
		_ = c.Disconnect(context.Background())
		d.missing = c
	}
	return d
}

// name returns the deployment name a record means: records written before
// there were several deployments name none, and live on the home one.
func (d *deployments) name(n string) string {
	if n == "" {
		return d.home
	}
	return n
}

// client returns the client of deployment name, or an error naming it when
// the configuration does not list it.
func (d *deployments) client(name string) (*mongo.Client, error) {
	if c := d.clients[d.name(name)]; c != nil {
		return c, nil
	}
	return nil, &orgd.Error{Code: orgd.EUNAVAILABLE, Message: fmt.Sprintf("Deployment %q is not configured; retry once it is.", name)}
}

// Deployments lists the configured deployment names, sorted.
func (s *Store) Deployments() []string { return slices.Clone(s.deps.names) }

// HomeDeployment is the name of the deployment holding the master database.
func (s *Store) HomeDeployment() string { return s.deps.home }

// ParseDeployments reads deployment definitions: "name=uri" entries separated
// by white space or new lines; blank lines and lines starting with # are
// skipped. URIs may hold credentials: errors never quote them.
func ParseDeployments(text string) (map[string]string, error) {
	out := map[string]string{}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		for j, entry := range strings.Fields(line) {
			name, uri, ok := strings.Cut(entry, "=")
			if !ok {
				return nil, fmt.Errorf("line %d, entry %d: want name=mongodb://…", i+1, j+1)
			}
			if msg := orgd.ValidateDeployment(name); msg != "" {
				if strings.Contains(name, ":") || strings.Contains(name, "@") { // a URI without its name: never quoted
					return nil, fmt.Errorf("line %d: an entry without its name: want name=mongodb://…", i+1)
				}
				return nil, fmt.Errorf("deployment name %q %s", name, msg)
			}
			if !strings.HasPrefix(uri, "mongodb://") && !strings.HasPrefix(uri, "mongodb+srv://") {
				return nil, fmt.Errorf("deployment %q: the URI must start with mongodb:// or mongodb+srv://", name)
			}
			if _, dup := out[name]; dup {
				return nil, fmt.Errorf("deployment %q is named twice", name)
			}
			out[name] = uri
		}
	}
	return out, nil
}

// ConnectDeployments opens one client per deployment; on error it closes the
// clients it opened. Connecting does no I/O: an unreachable deployment shows
// when it is first used.
func ConnectDeployments(ctx context.Context, uris map[string]string, timeout time.Duration) (map[string]*mongo.Client, error) {
	out := map[string]*mongo.Client{}
	for name, uri := range uris {
		c, err := Connect(ctx, uri, timeout)
		if err != nil { // the driver's message may quote the URI, credentials included
			for _, c := range out {
				_ = c.Disconnect(ctx)
			}
			return nil, fmt.Errorf("deployment %q: its URI is not usable; check its syntax and options", name)
		}
		out[name] = c
	}
	return out, nil
}
