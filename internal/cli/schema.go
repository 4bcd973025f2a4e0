package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/hookmesh/hookmesh/internal/schemagen"
)

func runSchema(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "gen" {
		fmt.Fprint(stderr, "Usage:\n  hookmesh schema gen --database-url URL --table SCHEMA.TABLE ... [--out DIR] [--package P]\n")
		return ExitUsage
	}
	c := newCommand("schema gen", "schema gen --database-url URL --table SCHEMA.TABLE ... [--out DIR] [--package P]", stdout, stderr)
	var (
		dbURL, out, pkg, goPkg string
		tables                 stringList
	)
	c.fs.StringVar(&dbURL, "database-url", "", "PostgreSQL URL (env DATABASE_URL)")
	c.fs.Var(&tables, "table", "a table as schema.table (repeat for more)")
	c.fs.StringVar(&out, "out", "", "directory for <schema>_<table>.proto files; existing ones keep their field numbers (default: stdout)")
	c.fs.StringVar(&pkg, "package", "db.v1", "proto package of the messages")
	c.fs.StringVar(&goPkg, "go-package", "", "option go_package, if any")
	pos, code, ok := c.parse(args[1:])
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return c.fail(usagef("unexpected argument %q", pos[0]))
	}
	if dbURL == "" {
		dbURL = os.Getenv("DATABASE_URL")
	}
	if dbURL == "" || len(tables) == 0 {
		return c.fail(usagef("--database-url and at least one --table are required"))
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return c.fail(fmt.Errorf("connect: %w", err))
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, name := range tables {
		if err := genTable(ctx, conn, name, out, schemagen.Options{Package: pkg, GoPkg: goPkg}, stdout); err != nil {
			return c.fail(err)
		}
	}
	return ExitOK
}

func genTable(ctx context.Context, conn *pgx.Conn, name, out string, opt schemagen.Options, stdout io.Writer) error {
	schema, table, ok := strings.Cut(name, ".")
	if !ok {
		return usagef("--table %q: want schema.table, e.g. public.users", name)
	}
	t, err := schemagen.Read(ctx, conn, schema, table)
	if err != nil {
		return err
	}
	if out == "" {
		_, err := fmt.Fprintf(stdout, "// %s\n%s\n", schemagen.FileName(t), schemagen.Render(t, opt))
		return err
	}
	path := filepath.Join(out, schemagen.FileName(t))
	switch old, err := os.ReadFile(path); {
	case err == nil:
		if opt.Existing, err = schemagen.ParseExisting(path, old, schemagen.MessageName(table)); err != nil {
			return err
		}
	case !errors.Is(err, os.ErrNotExist):
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(path, []byte(schemagen.Render(t, opt)), 0o644); err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, path)
	return err
}
