package deploy

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"google.golang.org/protobuf/reflect/protoreflect"
	"gopkg.in/yaml.v3"

	demov1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/demo/v1"
	ordersapp "github.com/hookmesh/hookmesh/services/orders/app"
)

const hasuraMeta = "deploy/hasura/metadata"

// The Hasura metadata (config v3 layout) as the cli-migrations image applies it.
type hasuraSource struct {
	Name          string `yaml:"name"`
	Kind          string `yaml:"kind"`
	Configuration struct {
		ConnectionInfo struct {
			DatabaseURL struct {
				FromEnv string `yaml:"from_env"`
			} `yaml:"database_url"`
			IsolationLevel        string         `yaml:"isolation_level"`
			PoolSettings          map[string]int `yaml:"pool_settings"`
			UsePreparedStatements bool           `yaml:"use_prepared_statements"`
		} `yaml:"connection_info"`
	} `yaml:"configuration"`
	Tables string `yaml:"tables"`
}

type hasuraTable struct {
	Table struct {
		Name   string `yaml:"name"`
		Schema string `yaml:"schema"`
	} `yaml:"table"`
	EventTriggers []hasuraTrigger `yaml:"event_triggers"`
}

type hasuraHeader struct {
	Name         string  `yaml:"name"`
	Value        *string `yaml:"value"`
	ValueFromEnv string  `yaml:"value_from_env"`
}

type hasuraTrigger struct {
	Name       string `yaml:"name"`
	Definition struct {
		EnableManual bool           `yaml:"enable_manual"`
		Insert       *triggerColumn `yaml:"insert"`
		Update       *triggerColumn `yaml:"update"`
		Delete       *triggerColumn `yaml:"delete"`
	} `yaml:"definition"`
	RetryConf struct {
		NumRetries  int `yaml:"num_retries"`
		IntervalSec int `yaml:"interval_sec"`
		TimeoutSec  int `yaml:"timeout_sec"`
	} `yaml:"retry_conf"`
	Webhook        string         `yaml:"webhook"`
	WebhookFromEnv string         `yaml:"webhook_from_env"`
	Headers        []hasuraHeader `yaml:"headers"`
}

type triggerColumn struct {
	Columns any `yaml:"columns"`
}

type hasuraCronTrigger struct {
	Name              string         `yaml:"name"`
	Webhook           string         `yaml:"webhook"`
	Schedule          string         `yaml:"schedule"`
	IncludeInMetadata bool           `yaml:"include_in_metadata"`
	Payload           map[string]any `yaml:"payload"`
	RetryConf         struct {
		NumRetries           int `yaml:"num_retries"`
		RetryIntervalSeconds int `yaml:"retry_interval_seconds"`
		TimeoutSeconds       int `yaml:"timeout_seconds"`
		ToleranceSeconds     int `yaml:"tolerance_seconds"`
	} `yaml:"retry_conf"`
	Headers []hasuraHeader `yaml:"headers"`
	Comment string         `yaml:"comment"`
}

// decodeStrict decodes a metadata file, refusing keys the structs above do not know.
func decodeStrict(t testing.TB, rel string, out any) {
	t.Helper()
	dec := yaml.NewDecoder(strings.NewReader(string(readFile(t, rel))))
	dec.KnownFields(true)
	if err := dec.Decode(out); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
}

func include(t testing.TB, s string) string {
	t.Helper()
	f, ok := strings.CutPrefix(s, "!include ")
	if !ok {
		t.Fatalf("%q is not an !include", s)
	}
	return f
}

// loadHasuraTables follows databases.yaml and tables.yaml the way the CLI does.
func loadHasuraTables(t testing.TB) (hasuraSource, map[string]hasuraTable) {
	t.Helper()
	var sources []hasuraSource
	decodeStrict(t, hasuraMeta+"/databases/databases.yaml", &sources)
	if len(sources) != 1 || sources[0].Name != "default" || sources[0].Kind != "postgres" {
		t.Fatalf("databases.yaml: want one postgres source named default, got %+v", sources)
	}
	tablesFile := path.Join(hasuraMeta, "databases", include(t, sources[0].Tables))
	var includes []string
	decodeStrict(t, tablesFile, &includes)
	tables := map[string]hasuraTable{}
	listed := map[string]bool{}
	for _, inc := range includes {
		f := include(t, inc)
		listed[f] = true
		var tb hasuraTable
		decodeStrict(t, path.Join(path.Dir(tablesFile), f), &tb)
		tables[tb.Table.Schema+"."+tb.Table.Name] = tb
	}
	// A table file not in tables.yaml is silently ignored by the CLI.
	entries, err := os.ReadDir(filepath.Join(repoRoot(t), filepath.FromSlash(path.Dir(tablesFile))))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != path.Base(tablesFile) && !listed[e.Name()] {
			t.Errorf("%s is not included from tables.yaml", e.Name())
		}
	}
	return sources[0], tables
}

func TestHasuraMetadataLayout(t *testing.T) {
	var version struct {
		Version int `yaml:"version"`
	}
	decodeStrict(t, hasuraMeta+"/version.yaml", &version)
	if version.Version != 3 {
		t.Errorf("metadata version %d, want 3", version.Version)
	}
	// Every file is valid YAML (the CLI reads them all).
	err := filepath.WalkDir(filepath.Join(repoRoot(t), filepath.FromSlash(hasuraMeta)), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".yaml") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var v any
		if err := yaml.Unmarshal(b, &v); err != nil {
			t.Errorf("%s: %v", p, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	src, _ := loadHasuraTables(t)
	hasura := loadCompose(t).Services["hasura"]
	if v := src.Configuration.ConnectionInfo.DatabaseURL.FromEnv; hasura.Environment[v] == "" {
		t.Errorf("the default source reads its URL from %s, which compose does not set on hasura", v)
	}
	for _, mount := range []string{"./deploy/hasura/metadata:/hasura-metadata", "./deploy/hasura/migrations:/hasura-migrations"} {
		found := false
		for _, v := range hasura.Volumes {
			found = found || strings.HasPrefix(v, mount)
		}
		if !found {
			t.Errorf("hasura does not mount %s (the cli-migrations image applies it at start)", mount)
		}
	}
	if !strings.Contains(hasura.Image, ".cli-migrations-v3") {
		t.Errorf("hasura image %s: use the cli-migrations-v3 variant, which applies metadata and migrations", hasura.Image)
	}
}

// neededOps are the operations of a table that some subscription of
// deploy/hookmesh.yaml selects (hasura.public.<table>.<op>).
func neededOps(h *hookmeshYAML, table string) map[string]bool {
	ops := map[string]bool{}
	for _, op := range []string{"insert", "update", "delete", "manual"} {
		for _, s := range h.Subscriptions {
			for _, e := range s.Events {
				if matchGlob(e, "hasura.public."+table+"."+op) {
					ops[op] = true
				}
			}
		}
	}
	return ops
}

// The event triggers send exactly the changes the demo routes need, to the
// gateway's hasura source, with its secret header from the environment.
func TestHasuraEventTriggers(t *testing.T) {
	h := loadHookmeshYAML(t)
	c := loadCompose(t)
	vars := envFile(t)
	hasuraEnv := resolvedEnv(t, c.Services["hasura"], vars)
	var source *struct {
		Name           string   `yaml:"name"`
		Kind           string   `yaml:"kind"`
		Header         string   `yaml:"header"`
		SecretsFromEnv []string `yaml:"secrets_from_env"`
	}
	for i := range h.Sources {
		if h.Sources[i].Kind == "hasura" {
			source = &h.Sources[i]
		}
	}
	if source == nil {
		t.Fatal("deploy/hookmesh.yaml has no hasura source")
	}
	_, tables := loadHasuraTables(t)
	want := []string{"public.inventory", "public.orders", "public.users"}
	if got := sortedKeys(tables); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("tracked tables %v, want %v", got, want)
	}
	for _, name := range sortedKeys(tables) {
		tb := tables[name]
		t.Run(name, func(t *testing.T) {
			if len(tb.EventTriggers) != 1 {
				t.Fatalf("%d event triggers, want 1", len(tb.EventTriggers))
			}
			tr := tb.EventTriggers[0]
			if !regexp.MustCompile(`^[A-Za-z]+[A-Za-z0-9_\-]*$`).MatchString(tr.Name) {
				t.Errorf("trigger name %q is not a valid Hasura trigger name", tr.Name)
			}
			// Operations: exactly those the subscriptions select.
			got := map[string]bool{"insert": tr.Definition.Insert != nil, "update": tr.Definition.Update != nil, "delete": tr.Definition.Delete != nil, "manual": tr.Definition.EnableManual}
			need := neededOps(h, tb.Table.Name)
			for _, op := range []string{"insert", "update", "delete", "manual"} {
				switch {
				case need[op] && !got[op]:
					t.Errorf("%s: hasura.public.%s.%s is subscribed to, but the trigger does not fire on it", tr.Name, tb.Table.Name, op)
				case !need[op] && got[op]:
					t.Errorf("%s: fires on %s, which no subscription takes (the event would go nowhere)", tr.Name, op)
				}
			}
			for op, col := range map[string]*triggerColumn{"insert": tr.Definition.Insert, "update": tr.Definition.Update, "delete": tr.Definition.Delete} {
				if col != nil && col.Columns != "*" {
					t.Errorf("%s: %s columns %v; the demo filters read old and new rows in full, use \"*\"", tr.Name, op, col.Columns)
				}
			}
			// Retries while the gateway cannot store the event.
			if r := tr.RetryConf; r.NumRetries < 1 || r.IntervalSec < 1 || r.TimeoutSec < 1 {
				t.Errorf("%s: retry_conf %+v: want retries, an interval and a timeout", tr.Name, r)
			}
			checkHasuraWebhook(t, tr.Name, tr.Webhook, tr.WebhookFromEnv, tr.Headers, source.Name, source.Header, source.SecretsFromEnv, hasuraEnv, c, vars)
		})
	}
}

// checkHasuraWebhook: the URL resolves (in Hasura's environment) to the gateway's
// /hooks/<source>, and the one header is the source's, from a secret variable
// that Hasura and the gateway get from the same .env variable.
func checkHasuraWebhook(t *testing.T, what, webhook, fromEnv string, headers []hasuraHeader, srcName, header string, secrets []string, hasuraEnv map[string]string, c *composeFile, vars map[string]string) {
	t.Helper()
	if fromEnv != "" {
		webhook = hasuraEnv[fromEnv]
	}
	resolved := regexp.MustCompile(`\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}`).ReplaceAllStringFunc(webhook, func(m string) string {
		name := strings.Trim(m, "{} ")
		v, ok := hasuraEnv[name]
		if !ok {
			t.Errorf("%s: webhook uses {{%s}}, which compose does not set on hasura", what, name)
		}
		return v
	})
	gwEnv := resolvedEnv(t, c.Services["gateway"], vars)
	_, port := listenPort(t, "HOOKMESH_HTTP_ADDR", gwEnv["HOOKMESH_HTTP_ADDR"])
	want := "http://gateway:" + itoa(port) + "/hooks/" + srcName
	if resolved != want {
		t.Errorf("%s: webhook resolves to %q, want %q", what, resolved, want)
	}
	if len(headers) != 1 {
		t.Fatalf("%s: %d headers, want the one secret header", what, len(headers))
	}
	hd := headers[0]
	if !strings.EqualFold(hd.Name, header) {
		t.Errorf("%s: header %q, but the gateway's %s source reads %q", what, hd.Name, srcName, header)
	}
	if hd.Value != nil {
		t.Errorf("%s: header %s has a literal value: secrets belong in value_from_env", what, hd.Name)
	}
	isSecret := false
	for _, s := range secrets {
		isSecret = isSecret || s == hd.ValueFromEnv
	}
	if !isSecret {
		t.Errorf("%s: value_from_env %s is none of the source's secrets_from_env %v", what, hd.ValueFromEnv, secrets)
	}
	hv, hok := c.Services["hasura"].Environment[hd.ValueFromEnv]
	gv, gok := c.Services["gateway"].Environment[hd.ValueFromEnv]
	if !hok || !gok || hv != gv {
		t.Errorf("%s: %s must come from the same .env variable on hasura (%q) and gateway (%q)", what, hd.ValueFromEnv, hv, gv)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// Hasura's cron triggers or hookmesh's scheduler, never both; the ready-made Hasura
// alternative (deploy/hasura/cron_triggers.yaml) is the same schedules.
func TestSchedulesOneSchedulerOnly(t *testing.T) {
	h := loadHookmeshYAML(t)
	var active []hasuraCronTrigger
	decodeStrict(t, hasuraMeta+"/cron_triggers.yaml", &active)
	switch {
	case len(active) > 0 && len(h.Schedules) > 0:
		t.Errorf("both schedulers are on: metadata/cron_triggers.yaml has %d triggers and deploy/hookmesh.yaml %d schedules; every tick would be handled twice", len(active), len(h.Schedules))
	case len(active) == 0 && len(h.Schedules) == 0:
		t.Error("no scheduler runs the demo schedules")
	}

	var alt []hasuraCronTrigger
	decodeStrict(t, "deploy/hasura/cron_triggers.yaml", &alt)
	byName := map[string]hasuraCronTrigger{}
	for _, ct := range alt {
		byName[ct.Name] = ct
	}
	c := loadCompose(t)
	vars := envFile(t)
	hasuraEnv := resolvedEnv(t, c.Services["hasura"], vars)
	var src struct {
		name, header string
		secrets      []string
	}
	for _, s := range h.Sources {
		if s.Kind == "hasura" {
			src.name, src.header, src.secrets = s.Name, s.Header, s.SecretsFromEnv
		}
	}
	if len(alt) != len(h.Schedules) {
		t.Errorf("deploy/hasura/cron_triggers.yaml has %d triggers for %d schedules", len(alt), len(h.Schedules))
	}
	for _, s := range h.Schedules {
		ct, ok := byName[s.Name]
		if !ok {
			t.Errorf("schedule %s has no Hasura cron trigger", s.Name)
			continue
		}
		if s.Timezone != "" && s.Timezone != "UTC" {
			t.Errorf("schedule %s runs in %s; Hasura's cron triggers run in UTC", s.Name, s.Timezone)
		}
		if ct.Schedule != s.Cron {
			t.Errorf("%s: Hasura schedule %q, hookmesh cron %q", s.Name, ct.Schedule, s.Cron)
		}
		if !reflect.DeepEqual(ct.Payload, s.Payload) && !(len(ct.Payload) == 0 && len(s.Payload) == 0) {
			t.Errorf("%s: Hasura payload %v, hookmesh payload %v", s.Name, ct.Payload, s.Payload)
		}
		tol, err := time.ParseDuration(s.Tolerance)
		if err != nil {
			t.Fatalf("%s: tolerance %q: %v", s.Name, s.Tolerance, err)
		}
		if ct.RetryConf.ToleranceSeconds != int(tol.Seconds()) {
			t.Errorf("%s: tolerance_seconds %d, hookmesh tolerance %s", s.Name, ct.RetryConf.ToleranceSeconds, s.Tolerance)
		}
		if !ct.IncludeInMetadata {
			t.Errorf("%s: include_in_metadata must be true, or metadata apply drops it", s.Name)
		}
		checkHasuraWebhook(t, "cron trigger "+ct.Name, ct.Webhook, "", ct.Headers, src.name, src.header, src.secrets, hasuraEnv, c, vars)
	}
}

var createTableRE = regexp.MustCompile(`(?is)CREATE TABLE\s+public\.(\w+)\s*\((.*?)\n\);`)

// migrationColumns reads the CREATE TABLE statements of the up migration: table ->
// column -> type (lower case, first word).
func migrationColumns(t testing.TB, sql string) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{}
	for _, m := range createTableRE.FindAllStringSubmatch(sql, -1) {
		cols := map[string]string{}
		for _, line := range strings.Split(m[2], "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "--") {
				continue
			}
			f := strings.Fields(strings.TrimSuffix(line, ","))
			switch strings.ToUpper(f[0]) {
			case "PRIMARY", "CONSTRAINT", "UNIQUE", "CHECK", "FOREIGN":
				continue
			}
			if len(f) < 2 {
				t.Fatalf("table %s: cannot read column line %q", m[1], line)
			}
			cols[f[0]] = strings.ToLower(f[1])
		}
		out[m[1]] = cols
	}
	return out
}

func upMigration(t testing.TB) (string, string) {
	t.Helper()
	dir := filepath.Join(repoRoot(t), "deploy", "hasura", "migrations", "default")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("%d migrations, want the one that creates the demo tables", len(entries))
	}
	if !regexp.MustCompile(`^\d{13}_\w+$`).MatchString(entries[0].Name()) {
		t.Errorf("migration directory %s: want <13-digit version>_<name> (the Hasura CLI's layout)", entries[0].Name())
	}
	up, err := os.ReadFile(filepath.Join(dir, entries[0].Name(), "up.sql"))
	if err != nil {
		t.Fatal(err)
	}
	down, err := os.ReadFile(filepath.Join(dir, entries[0].Name(), "down.sql"))
	if err != nil {
		t.Fatal(err)
	}
	return string(up), string(down)
}

// demoColumns are the demo tables of DESIGN.md.
var demoColumns = map[string][]string{
	"users":     {"id", "email", "name", "registration_method", "created_at"},
	"orders":    {"id", "customer_id", "status", "items", "total", "created_at"},
	"inventory": {"sku", "name", "quantity"},
}

func TestHasuraMigrationTables(t *testing.T) {
	up, _ := upMigration(t)
	tables := migrationColumns(t, up)
	if len(tables) != len(demoColumns) {
		t.Errorf("the migration creates %v, want %v", sortedKeys(tables), sortedKeys(demoColumns))
	}
	for table, want := range demoColumns {
		cols := tables[table]
		got := sortedKeys(cols)
		w := append([]string(nil), want...)
		sort.Strings(w)
		if strings.Join(got, ",") != strings.Join(w, ",") {
			t.Errorf("table %s has columns %v, want %v", table, got, w)
		}
	}
	if typ := tables["orders"]["items"]; typ != "jsonb" {
		t.Errorf("orders.items is %s, want jsonb", typ)
	}
	// The inventory rows are the catalogue the orders service seeds itself with
	// (ORDERS_SEED_CATALOGUE=true in compose), so both sides start equal.
	got := inventorySeed(t, up)
	var want []string
	for _, s := range ordersapp.Catalogue {
		want = append(want, s.SKU+"|"+s.Name+"|"+itoa(int(s.Quantity)))
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, ";") != strings.Join(want, ";") {
		t.Errorf("inventory seed %v, want the orders catalogue %v", got, want)
	}
	if v := loadCompose(t).Services["orders"].Environment["ORDERS_SEED_CATALOGUE"]; v != "true" {
		t.Errorf("orders: ORDERS_SEED_CATALOGUE=%q, want true (PostgreSQL defaults to no catalogue)", v)
	}
}

var seedRowRE = regexp.MustCompile(`\('([^']*)',\s*'([^']*)',\s*(\d+)\)`)

func inventorySeed(t testing.TB, up string) []string {
	t.Helper()
	_, ins, ok := strings.Cut(up, "INSERT INTO public.inventory")
	if !ok {
		t.Fatal("the migration seeds no inventory")
	}
	var rows []string
	for _, m := range seedRowRE.FindAllStringSubmatch(ins, -1) {
		rows = append(rows, m[1]+"|"+m[2]+"|"+m[3])
	}
	return rows
}

// The migration runs on a real PostgreSQL (in a schema of its own instead of
// public) and gives the demo tables with the columns, types and constraints the
// demo rows need; the down migration removes them again.
func TestHasuraMigrationOnPostgres(t *testing.T) {
	dsn := os.Getenv("HOOKMESH_TEST_DATABASE_URL")
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("HOOKMESH_TEST_DATABASE_URL is unset under CI=true")
		}
		t.Skip("HOOKMESH_TEST_DATABASE_URL is unset: the migration is checked statically only")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	schema := fmt.Sprintf("deploy_migration_%d", time.Now().UnixNano())
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() { _, _ = db.Exec("DROP SCHEMA " + schema + " CASCADE") })
	up, down := upMigration(t)
	inSchema := func(s string) string { return strings.ReplaceAll(s, "public.", schema+".") }
	if _, err := db.ExecContext(ctx, inSchema(up)); err != nil {
		t.Fatalf("up migration: %v", err)
	}

	rows, err := db.QueryContext(ctx, `SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = $1`, schema)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	types := map[string]string{}
	for rows.Next() {
		var table, col, typ string
		if err := rows.Scan(&table, &col, &typ); err != nil {
			t.Fatal(err)
		}
		got[table] = append(got[table], col)
		types[table+"."+col] = typ
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	for table, want := range demoColumns {
		g := append([]string(nil), got[table]...)
		w := append([]string(nil), want...)
		sort.Strings(g)
		sort.Strings(w)
		if strings.Join(g, ",") != strings.Join(w, ",") {
			t.Errorf("table %s: columns %v, want %v", table, g, w)
		}
	}
	if types["orders.items"] != "jsonb" {
		t.Errorf("orders.items is %q, want jsonb", types["orders.items"])
	}

	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM "+schema+".inventory").Scan(&n); err != nil || n != len(ordersapp.Catalogue) {
		t.Errorf("inventory rows %d (%v), want %d", n, err, len(ordersapp.Catalogue))
	}
	// A demo order as the README's curl examples write it through Hasura.
	if _, err := db.ExecContext(ctx, inSchema(`INSERT INTO public.users (email, name) VALUES ('ada@example.com', 'Ada')`)); err != nil {
		t.Fatalf("insert user: %v", err)
	}
	if _, err := db.ExecContext(ctx, inSchema(`INSERT INTO public.orders (customer_id, items, total) SELECT id, '[{"sku":"MUG-LOGO","quantity":2,"price":12.5}]', 25 FROM public.users`)); err != nil {
		t.Fatalf("insert order: %v", err)
	}
	invalid := []struct{ name, sql string }{
		{"items not an array", `INSERT INTO public.orders (customer_id, items) SELECT id, '{"sku":"MUG-LOGO"}' FROM public.users`},
		{"order of nobody", `INSERT INTO public.orders (customer_id) VALUES (424242)`},
		{"negative stock", `UPDATE public.inventory SET quantity = -1 WHERE sku = 'MUG-LOGO'`},
		{"duplicate email", `INSERT INTO public.users (email, name) VALUES ('ada@example.com', 'Ada again')`},
	}
	for _, c := range invalid {
		if _, err := db.ExecContext(ctx, inSchema(c.sql)); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}

	if _, err := db.ExecContext(ctx, inSchema(down)); err != nil {
		t.Fatalf("down migration: %v", err)
	}
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_schema = $1`, schema).Scan(&n); err != nil || n != 0 {
		t.Errorf("after the down migration: %d tables (%v), want 0", n, err)
	}
}

// Hasura sends every column (columns: "*"), and the demo config maps the tables to
// hookmesh.demo.v1: each migration column needs its field, or rows are refused.
func TestDemoMessagesMatchTheMigration(t *testing.T) {
	up, _ := upMigration(t)
	tables := migrationColumns(t, up)
	for table, msg := range map[string]protoreflect.MessageDescriptor{
		"users":     (&demov1.User{}).ProtoReflect().Descriptor(),
		"orders":    (&demov1.Order{}).ProtoReflect().Descriptor(),
		"inventory": (&demov1.InventoryItem{}).ProtoReflect().Descriptor(),
	} {
		var fields []string
		for i := 0; i < msg.Fields().Len(); i++ {
			fields = append(fields, string(msg.Fields().Get(i).Name()))
		}
		sort.Strings(fields)
		if got := sortedKeys(tables[table]); strings.Join(got, ",") != strings.Join(fields, ",") {
			t.Errorf("%s: migration columns %v, %s fields %v", table, got, msg.FullName(), fields)
		}
	}
}
