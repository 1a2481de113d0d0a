package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/orgd/orgd"
	"github.com/orgd/orgd/mongodb"
)

// openTool opens the store a command-line tool works on: the master
// database as doctor finds it, and every configured deployment.
func openTool(ctx context.Context, cfg config, stdout, stderr io.Writer) (*mongodb.Store, func(), error) {
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	client, closeDB, err := connectTool(ctx, cfg, logger, io.Discard)
	if err != nil {
		return nil, nil, err
	}
	deps, closeDeps, err := connectDeployments(ctx, cfg)
	if err != nil {
		closeDB()
		return nil, nil, err
	}
	cfg.CacheSync = 0 // a tool reads what is there now
	store := newStore(client, deps, cfg, logger)
	return store, func() { store.Close(); closeDeps(); closeDB() }, nil
}

// orgsCmd runs "orgd orgs list": organizations with their placement, page by page.
func orgsCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	const usage = "orgd orgs list [-deployment name] [-status s] [-tenancy t] [-limit n] [-after cursor] [-all]"
	fs := flag.NewFlagSet("orgd orgs list", flag.ContinueOnError)
	dep := fs.String("deployment", "", "only organizations on this deployment")
	status := fs.String("status", "", "only organizations in this state: active, creating, updating, deleting, moving")
	tenancy := fs.String("tenancy", "", "only organizations in this tenancy model: collection or database")
	limit := fs.Int("limit", 100, "organizations per page (1-1000)")
	after := fs.String("after", "", "the next cursor printed by the previous page")
	everything := fs.Bool("all", false, "follow the cursor through every page")
	if len(args) > 1 && args[0] == "list" && helpAsked(args[1:], usage, fs, stderr) || helpAsked(args, usage, fs, stderr) {
		return flag.ErrHelp
	}
	if len(args) == 0 || args[0] != "list" {
		return errors.New("usage: " + usage)
	}
	cfg, err := loadConfig(fs, args[1:], getenv, stderr)
	if err != nil {
		return err
	}
	if *limit < 1 || *limit > 1000 {
		return errors.New("-limit must be from 1 to 1000")
	}
	if msg := orgd.ValidateTenancy(orgd.Tenancy(*tenancy)); msg != "" {
		return fmt.Errorf("-tenancy %s", msg)
	}
	if !slices.Contains([]string{"", "active", "creating", "updating", "deleting", "moving"}, *status) {
		return fmt.Errorf("-status %q: must be active, creating, updating, deleting or moving", *status)
	}
	if *dep != "" {
		if msg := orgd.ValidateDeployment(*dep); msg != "" {
			return fmt.Errorf("-deployment %q %s", *dep, msg)
		}
	}
	if *after != "" && !orgd.ValidID(*after) {
		return fmt.Errorf("-after %q: must be the next cursor a previous page printed", *after)
	}
	store, done, err := openTool(ctx, cfg, stdout, stderr)
	if err != nil {
		return err
	}
	defer done()
	f := orgd.OrgFilter{Deployment: *dep, Status: orgd.Status(*status), Tenancy: orgd.Tenancy(*tenancy)}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATUS\tDEPLOYMENT\tTENANCY\tDATA\tCREATED")
	cursor, n := *after, 0
	for {
		orgs, next, err := store.ListOrganizations(ctx, f, cursor, *limit)
		if err != nil {
			return err
		}
		for _, o := range orgs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s.%s\t%s\n", o.Name, o.Status, o.Deployment, o.Tenancy, o.Database, o.Collection, o.CreatedAt.Format(time.DateTime))
		}
		n += len(orgs)
		cursor = next
		if next == "" || !*everything {
			break
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if cursor != "" {
		// The same command with the cursor: the filters and the page size kept.
		more := "orgd orgs list"
		fs.Visit(func(f *flag.Flag) {
			if f.Name == "deployment" || f.Name == "status" || f.Name == "tenancy" || f.Name == "limit" {
				more += " -" + f.Name + " " + f.Value.String()
			}
		})
		fmt.Fprintf(stdout, "%d shown; more: %s -after %s (or -all)\n", n, more, cursor)
	} else {
		fmt.Fprintf(stdout, "%d organizations\n", n)
	}
	return nil
}

// deploymentsCmd runs "orgd deployments": placement statistics per deployment.
func deploymentsCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(flag.NewFlagSet("orgd deployments", flag.ContinueOnError), args, getenv, stderr)
	if err != nil {
		return err
	}
	store, done, err := openTool(ctx, cfg, stdout, stderr)
	if err != nil {
		return err
	}
	defer done()
	stats, err := store.PlacementStats(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DEPLOYMENT\tTENANTS\tCOLLECTIONS+INDEXES\tDATA\tSTORAGE\tSTATE")
	for _, st := range stats {
		state := "open"
		if st.Draining {
			state = "draining"
		}
		if st.Home {
			state += ", home"
		}
		if st.Error != "" {
			state += ", " + st.Error
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\n", st.Name, st.Tenants, st.Collections+st.Indexes, bytesText(st.DataSize), bytesText(st.StorageSize), state)
	}
	return tw.Flush()
}

// drainCmd runs "orgd drain <deployment> [-undo]".
func drainCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	const usage = "orgd drain <deployment> [-undo]"
	fs := flag.NewFlagSet("orgd drain", flag.ContinueOnError)
	undo := fs.Bool("undo", false, "let the deployment take new organizations again")
	if helpAsked(args, usage, fs, stderr) {
		return flag.ErrHelp
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return errors.New("usage: " + usage)
	}
	name := args[0]
	cfg, err := loadConfig(fs, args[1:], getenv, stderr)
	if err != nil {
		return err
	}
	store, done, err := openTool(ctx, cfg, stdout, stderr)
	if err != nil {
		return err
	}
	defer done()
	if err := store.SetDraining(ctx, name, !*undo); err != nil {
		return userError(err)
	}
	if *undo {
		fmt.Fprintf(stdout, "Deployment %s takes new organizations again.\n", name)
		return nil
	}
	orgs, _, err := store.ListOrganizations(ctx, orgd.OrgFilter{Deployment: name}, "", 1000)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Deployment %s is draining: the placement policy places no new organization there (naming it still does).\n", name)
	if len(orgs) > 0 {
		fmt.Fprintf(stdout, "%d organizations (or more) live there still; move each elsewhere with: orgd move <name>\n", len(orgs))
	}
	return nil
}

// moveCmd runs "orgd move <organization> -to <deployment> [-tenancy model]":
// it moves the organization in this process, or watches a move already
// running, with a progress bar.
func moveCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	const usage = "orgd move <organization> [-to deployment] [-tenancy collection|database]"
	fs := flag.NewFlagSet("orgd move", flag.ContinueOnError)
	to := fs.String("to", "", "target deployment (default: its own if -tenancy is given, else the placement policy's choice of another)")
	tenancy := fs.String("tenancy", "", "target tenancy model: collection or database (default: its current one)")
	if helpAsked(args, usage, fs, stderr) {
		return flag.ErrHelp
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return errors.New("usage: " + usage)
	}
	name := args[0]
	cfg, err := loadConfig(fs, args[1:], getenv, stderr)
	if err != nil {
		return err
	}
	store, done, err := openTool(ctx, cfg, stdout, stderr)
	if err != nil {
		return err
	}
	defer done()
	o, err := store.OrganizationByAnyName(ctx, name)
	if err != nil {
		return userError(err)
	}
	bar := &progressBar{w: stdout, tty: isTerminal(stdout)}
	if p, err := store.MoveStatus(ctx, o.ID); err == nil && !p.Done {
		// Watching a move elsewhere than asked would report it as done. A
		// flag left out means the organization's own, as for a new move.
		asked := *to != "" || *tenancy != ""
		if asked && (cmp.Or(*to, p.From.Deployment) != p.To.Deployment || cmp.Or(*tenancy, string(p.From.Tenancy)) != string(p.To.Tenancy)) {
			return fmt.Errorf("a move of %s to %s (%s model) is already running: wait for it to end (orgd move %s watches it)",
				o.Name, p.To.Deployment, p.To.Tenancy, o.Name)
		}
		fmt.Fprintf(stdout, "A move of %s is already running; watching it.\n", o.Name)
		return bar.watch(ctx, store, o.ID, nil)
	}
	errc := make(chan error, 1)
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		errc <- store.Move(ctx, o.ID, orgd.Placement{Deployment: *to, Tenancy: orgd.Tenancy(*tenancy)})
	}()
	err = bar.watch(ctx, store, o.ID, errc)
	if ctx.Err() != nil {
		// A move stopped while the organization's writes are paused resumes
		// them on its way out: the store must stay open until it has. (Its
		// steps all end with ctx; the resume has its own 5 s limit.)
		select {
		case <-ended:
		case <-time.After(15 * time.Second):
		}
		return errors.New("interrupted: the move stops where it is (the organization's writes go on where its data is), and a running orgd's reconciler finishes it")
	}
	return err
}

// progressBar draws a move's progress: one line redrawn in place on a
// terminal, a line per phase otherwise.
type progressBar struct {
	w     io.Writer
	tty   bool
	phase string
}

// watch polls the move's progress until it is done (or errc, the move run
// here, returns) and prints its outcome.
func (b *progressBar) watch(ctx context.Context, store *mongodb.Store, orgID string, errc <-chan error) error {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		var runErr error
		finished := false
		select {
		case <-ctx.Done():
			return ctx.Err()
		case runErr = <-errc:
			finished = true
		case <-t.C:
		}
		p, err := store.MoveStatus(ctx, orgID)
		if err != nil && !finished {
			continue // not journaled yet
		}
		// A move run here ends when it returns (before, the last recorded
		// outcome may be an earlier move's); one run elsewhere, when done.
		if finished || errc == nil && p != nil && p.Done {
			if b.tty {
				fmt.Fprintln(b.w)
			}
			if runErr != nil {
				return userError(runErr)
			}
			if p == nil {
				return err
			}
			return b.outcome(p)
		}
		if !p.Done {
			b.draw(p)
		}
	}
}

func (b *progressBar) draw(p *orgd.MoveProgress) {
	const width = 30
	pct := 100.0
	if p.Total > 0 && p.Phase == "copying" {
		pct = float64(p.Copied) * 100 / float64(p.Total)
	}
	filled := int(pct / 100 * width)
	line := fmt.Sprintf("%s → %s/%s [%s%s] %3.0f%% %d/%d docs", p.Name, p.To.Deployment, p.To.Tenancy,
		strings.Repeat("#", filled), strings.Repeat("-", width-filled), pct, p.Copied, p.Total)
	switch {
	case p.Phase == "copying" && p.Rate > 0:
		line += fmt.Sprintf(" %.0f docs/s ~%s left", p.Rate, p.Remaining.Round(time.Second))
	case p.Phase == "paused" || p.Phase == "switched":
		line += fmt.Sprintf(" %s, writes paused %s", p.Phase, p.Paused.Round(time.Millisecond))
	default:
		line += " " + p.Phase
	}
	if b.tty {
		fmt.Fprintf(b.w, "\r%-110s", line)
	} else if p.Phase != b.phase {
		fmt.Fprintln(b.w, line)
	}
	b.phase = p.Phase
}

func (b *progressBar) outcome(p *orgd.MoveProgress) error {
	if p.Phase != "moved" {
		return fmt.Errorf("the move of %s was undone (%s); it stays on %s (%s)", p.Name, p.Error, p.From.Deployment, p.From.Tenancy)
	}
	fmt.Fprintf(b.w, "Moved %s to %s (%s model): %d documents copied, writes paused %s, checksum %s, in %s.\n",
		p.Name, p.To.Deployment, p.To.Tenancy, p.Copied, p.Paused.Round(time.Millisecond), p.Checksum,
		p.FinishedAt.Sub(p.StartedAt).Round(time.Millisecond))
	return nil
}

func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// userError is err as the command line shows it: the message a client of
// the API would get, with the fields at fault, which the message alone
// ("The request has invalid fields.") does not name.
func userError(err error) error {
	msg := orgd.ErrorMessage(err)
	for _, f := range orgd.ErrorFields(err) {
		msg += fmt.Sprintf(" %s: %s.", cmp.Or(f.Field, "request"), strings.TrimSuffix(f.Message, "."))
	}
	return errors.New(msg)
}

// helpAsked reports whether args ask for a command's usage (-h), and prints
// it then: the command's own flags; the settings are the server's.
func helpAsked(args []string, usage string, fs *flag.FlagSet, stderr io.Writer) bool {
	if len(args) == 0 || !slices.Contains([]string{"-h", "-help", "--help"}, args[0]) {
		return false
	}
	fmt.Fprintf(stderr, "usage: %s\n", usage)
	fs.SetOutput(stderr)
	fs.PrintDefaults()
	fmt.Fprintln(stderr, "It also takes the server's settings (orgd -h), to find the databases.")
	return true
}
