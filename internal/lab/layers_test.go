package lab_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/globalcloud/islands"

// product lists the product's packages: the libraries, their foundations, the examples and the
// programs that ship. Nothing here may link the lab.
var product = []string{
	module + "/dualwrite/...", module + "/forklift/...", module + "/merge/...", module + "/cachesync/...",
	module + "/cqlconn/...", module + "/examples/...", module + "/cmd/...",
	module + "/internal/recordlog/...", module + "/internal/hlc/...", module + "/internal/codec/...",
	module + "/internal/cql/...", module + "/internal/private/...", module + "/internal/metrics/...",
	module + "/internal/loghash/...",
}

// pkg is the part of `go list -json` these tests read.
type pkg struct {
	ImportPath   string
	Deps         []string
	TestImports  []string
	XTestImports []string
}

// list runs go list -deps=false -json over patterns (with the tests' imports).
func list(t *testing.T, patterns ...string) []pkg {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command: the layers are checked with go list")
	}
	var stderr bytes.Buffer
	cmd := exec.Command("go", append([]string{"list", "-json=ImportPath,Deps,TestImports,XTestImports"}, patterns...)...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", strings.Join(patterns, " "), err, stderr.String())
	}
	var pkgs []pkg
	for dec := json.NewDecoder(bytes.NewReader(out)); ; {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		t.Fatalf("go list %s: no packages", strings.Join(patterns, " "))
	}
	return pkgs
}

// under reports whether import path p is prefix or a package below it.
func under(p, prefix string) bool { return p == prefix || strings.HasPrefix(p, prefix+"/") }

// TestProductNeverImportsTheLab: no package of the product, nor its tests, links internal/lab.
func TestProductNeverImportsTheLab(t *testing.T) {
	for _, p := range list(t, product...) {
		if under(p.ImportPath, module+"/internal/lab") {
			t.Fatalf("%s is listed as product but lives in the lab", p.ImportPath)
		}
		for _, deps := range [][]string{p.Deps, p.TestImports, p.XTestImports} {
			for _, d := range deps {
				if under(d, module+"/internal/lab") {
					t.Errorf("%s links the lab package %s", p.ImportPath, d)
				}
			}
		}
	}
}

// TestProgramsLinkOnlyTheirJob: each product program's dependencies leave out what its job does not
// need (go list -deps).
func TestProgramsLinkOnlyTheirJob(t *testing.T) {
	browser, aws, memcache := "github.com/chromedp", "github.com/aws", "github.com/bradfitz/gomemcache"
	lab := module + "/internal/lab"
	for _, c := range []struct {
		program string
		never   []string
	}{
		{"cmd/forklift", []string{lab, browser, aws, memcache, module + "/dualwrite", module + "/cachesync"}},
		{"cmd/islands", []string{lab, browser, aws, memcache, module + "/cachesync", module + "/forklift"}},
		{"cmd/cachesync", []string{lab, browser, module + "/dualwrite", module + "/forklift", "github.com/gocql"}},
	} {
		pkgs := list(t, module+"/"+c.program)
		deps := pkgs[0].Deps
		for _, never := range c.never {
			if i := slices.IndexFunc(deps, func(d string) bool { return under(d, never) }); i >= 0 {
				t.Errorf("%s links %s (%s): not its job", c.program, never, deps[i])
			}
		}
		t.Logf("%s: %d packages", c.program, len(deps))
	}
}
