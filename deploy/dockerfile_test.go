package deploy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// dockerfile is what the tests read of a Dockerfile.
type dockerfile struct {
	stages     []stage
	expose     map[int]bool
	entrypoint string
	user       string // of the final stage
}

type stage struct {
	from   string
	name   string
	env    map[string]string
	copies [][]string // sources of COPY without --from
	runs   []string
}

// parseDockerfile reads the instructions this repository's Dockerfiles use;
// continuation lines are joined.
func parseDockerfile(t testing.TB, rel string) *dockerfile {
	t.Helper()
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(readFile(t, rel)))
	cur := ""
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if cur == "" && (l == "" || strings.HasPrefix(l, "#")) {
			continue
		}
		if s, ok := strings.CutSuffix(l, "\\"); ok {
			cur += s + " "
			continue
		}
		lines = append(lines, cur+l)
		cur = ""
	}
	df := &dockerfile{expose: map[int]bool{}}
	for _, l := range lines {
		instr, rest, _ := strings.Cut(l, " ")
		rest = strings.TrimSpace(rest)
		if strings.ToUpper(instr) != "FROM" && len(df.stages) == 0 {
			t.Fatalf("%s: %s before FROM", rel, instr)
		}
		var st *stage
		if len(df.stages) > 0 {
			st = &df.stages[len(df.stages)-1]
		}
		switch strings.ToUpper(instr) {
		case "FROM":
			f := strings.Fields(rest)
			s := stage{from: f[0], env: map[string]string{}}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				s.name = f[2]
			}
			df.stages = append(df.stages, s)
			df.user = ""
		case "ENV":
			for _, kv := range strings.Fields(rest) {
				k, v, _ := strings.Cut(kv, "=")
				st.env[k] = v
			}
		case "COPY":
			f := strings.Fields(rest)
			if strings.HasPrefix(f[0], "--from=") {
				continue
			}
			st.copies = append(st.copies, f[:len(f)-1])
		case "RUN":
			st.runs = append(st.runs, rest)
		case "EXPOSE":
			for _, p := range strings.Fields(rest) {
				n, err := strconv.Atoi(p)
				if err != nil {
					t.Fatalf("%s: EXPOSE %q", rel, p)
				}
				df.expose[n] = true
			}
		case "USER":
			df.user = rest
		case "ENTRYPOINT":
			var args []string
			if err := json.Unmarshal([]byte(rest), &args); err != nil || len(args) == 0 {
				t.Fatalf("%s: ENTRYPOINT must be an exec-form JSON array: %s", rel, rest)
			}
			df.entrypoint = args[0]
		}
	}
	return df
}

// dockerignore matches paths (slash-separated, relative to the context) against
// .dockerignore: * and ? within a segment, ** across segments, ! re-includes, the
// last matching line wins, and a pattern also excludes everything below a match.
type dockerignore []struct {
	re     *regexp.Regexp
	negate bool
}

func loadDockerignore(t testing.TB) dockerignore {
	t.Helper()
	var d dockerignore
	for _, l := range strings.Split(string(readFile(t, ".dockerignore")), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		neg := strings.HasPrefix(l, "!")
		l = path.Clean(strings.TrimPrefix(strings.TrimPrefix(l, "!"), "/"))
		var re strings.Builder
		re.WriteString("^")
		for i := 0; i < len(l); i++ {
			switch {
			case strings.HasPrefix(l[i:], "**/"):
				re.WriteString("(.*/)?")
				i += 2
			case strings.HasPrefix(l[i:], "**"):
				re.WriteString(".*")
				i++
			case l[i] == '*':
				re.WriteString("[^/]*")
			case l[i] == '?':
				re.WriteString("[^/]")
			default:
				re.WriteString(regexp.QuoteMeta(l[i : i+1]))
			}
		}
		re.WriteString("(/.*)?$")
		d = append(d, struct {
			re     *regexp.Regexp
			negate bool
		}{regexp.MustCompile(re.String()), neg})
	}
	return d
}

func (d dockerignore) excluded(p string) bool {
	ex := false
	for _, r := range d {
		if r.re.MatchString(p) {
			ex = !r.negate
		}
	}
	return ex
}

func TestDockerignore(t *testing.T) {
	d := loadDockerignore(t)
	cases := map[string]bool{
		".git/config":                         true,
		".tools/bin/buf":                      true,
		"examples/consumer-ts/node_modules/x": true,
		"gateway/hookmesh-data/log":           true,
		"gateway/ingest.test":                 true,
		"gateway/gateway_test.go":             true,
		".env":                                true,
		"gateway/gateway.go":                  false,
		"gateway/internal/config/demo.yaml":   false,
		"services/email/internal/compose/templates/welcome.txt": false,
		"go.work": false,
	}
	for p, want := range cases {
		if got := d.excluded(p); got != want {
			t.Errorf("excluded(%q) = %v, want %v", p, got, want)
		}
	}
}

var goBuildRE = regexp.MustCompile(`go build .*-o (\S+) \./(\S+)`)

// Each component's Dockerfile: a static (CGO_ENABLED=0) build of the component's
// main package in a Go toolchain at least the workspace's, into a distroless or
// scratch image that runs as non-root; the compose build points at it.
func TestDockerfiles(t *testing.T) {
	c := loadCompose(t)
	root := repoRoot(t)
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(readFile(t, "go.work"))
	if m == nil {
		t.Fatal("go.work has no go directive")
	}
	workGo := string(m[1])
	for _, comp := range components {
		t.Run(comp.service, func(t *testing.T) {
			b := c.Services[comp.service].Build
			if b == nil {
				t.Fatal("compose has no build for it")
			}
			if filepath.Clean(b.Context) != "." || filepath.ToSlash(filepath.Clean(b.Dockerfile)) != comp.dockerfile {
				t.Errorf("build %+v, want context . and dockerfile %s", *b, comp.dockerfile)
			}
			df := parseDockerfile(t, comp.dockerfile)
			if len(df.stages) < 2 {
				t.Fatalf("%d stages, want a build stage and a runtime stage", len(df.stages))
			}
			build, final := df.stages[0], df.stages[len(df.stages)-1]
			if v, ok := strings.CutPrefix(build.from, "golang:"); !ok {
				t.Errorf("build stage FROM %s, want golang:<version>", build.from)
			} else if ver := strings.Split(v, "-")[0]; versionLess(ver, workGo) {
				t.Errorf("build image Go %s is older than go.work's go %s", ver, workGo)
			}
			if build.env["CGO_ENABLED"] != "0" {
				t.Error("build stage does not set CGO_ENABLED=0 (a static binary)")
			}
			if !strings.HasPrefix(final.from, "gcr.io/distroless/static") && final.from != "scratch" {
				t.Errorf("final stage FROM %s, want distroless static or scratch", final.from)
			}
			if u := strings.Split(df.user, ":")[0]; u == "" || u == "root" || u == "0" {
				t.Errorf("final stage USER %q: run as non-root", df.user)
			}
			var out, pkg string
			for _, r := range build.runs {
				if m := goBuildRE.FindStringSubmatch(r); m != nil {
					out, pkg = m[1], m[2]
				}
			}
			if pkg != comp.pkg || path.Base(out) != path.Base(comp.binary) {
				t.Errorf("go build -o %s ./%s, want ./%s built as %s", out, pkg, comp.pkg, path.Base(comp.binary))
			}
			if name, err := packageName(filepath.Join(root, comp.pkg)); err != nil || name != "main" {
				t.Errorf("./%s is not a main package (%s, %v)", comp.pkg, name, err)
			}
		})
	}
}

// The build context each Dockerfile copies from holds everything `go build`
// needs: its COPY sources (minus .dockerignore) are laid out in a temporary
// directory, and `go list -deps` must resolve the component's package there,
// offline, in the workspace the image builds in.
func TestDockerBuildContext(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode: skipping the simulated build context")
	}
	root := repoRoot(t)
	ignore := loadDockerignore(t)
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go toolchain not on PATH: %v", err)
	}
	for _, comp := range components {
		t.Run(comp.service, func(t *testing.T) {
			t.Parallel()
			df := parseDockerfile(t, comp.dockerfile)
			ctxDir := t.TempDir()
			for _, srcs := range df.stages[0].copies {
				for _, src := range srcs {
					matches, err := filepath.Glob(filepath.Join(root, filepath.FromSlash(src)))
					if err != nil {
						t.Fatal(err)
					}
					if len(matches) == 0 && !strings.ContainsAny(src, "*?[") {
						t.Errorf("COPY %s: not in the build context", src)
					}
					for _, m := range matches {
						copyContext(t, root, m, ctxDir, ignore)
					}
				}
			}
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, gobin, "list", "-deps", "-f", "{{if .Error}}{{.ImportPath}}: {{.Error}}{{end}}", "./"+comp.pkg)
			cmd.Dir = ctxDir
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=readonly", "GOPROXY=off", "GOTOOLCHAIN=local", "GOWORK="+filepath.Join(ctxDir, "go.work"))
			out, err := cmd.CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != "" {
				t.Errorf("go list -deps ./%s in the simulated build context: %v\n%s", comp.pkg, err, out)
			}
		})
	}
}

// copyContext copies src (a file or directory under root) into dst at the same
// relative path, skipping what .dockerignore excludes.
func copyContext(t testing.TB, root, src, dst string, ignore dockerignore) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if ignore.excluded(filepath.ToSlash(rel)) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatalf("copy %s: %v", src, err)
	}
}

// versionLess compares dotted numeric versions ("1.26" < "1.26.8").
func versionLess(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(as), len(bs)); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			return x < y
		}
	}
	return false
}

// packageName is the package clause of dir's non-test Go files (the first one's).
func packageName(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, e.Name()), nil, parser.PackageClauseOnly)
		if err != nil {
			return "", err
		}
		return f.Name.Name, nil
	}
	return "", fmt.Errorf("no Go files in %s", dir)
}
