// Package docs holds the project's documentation; its test keeps the README's Go snippets identical to
// the Example functions the compiler checks, so a snippet a user copies can never drift from the API.
package docs

import (
	"bytes"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the README's marked snippets from the Example functions")

// marker precedes a snippet in README.md: <!-- example: dualwrite.Example_open --> then a ```go block.
var marker = regexp.MustCompile("(?m)^<!-- example: ([a-z]+)\\.(Example\\w*) -->\n```go\n((?s:.*?))```\n")

// TestReadmeSnippetsAreExamples: every Go block of the README and of docs/*.md is marked with the
// Example it shows, and its text is that Example's body (one tab of indentation removed). `go test ./docs -update` rewrites
// the blocks from the examples.
func TestReadmeSnippetsAreExamples(t *testing.T) {
	pages, err := filepath.Glob("*.md")
	if err != nil {
		t.Fatal(err)
	}
	checkSnippets(t, filepath.Join("..", "README.md"), true)
	for _, p := range pages {
		checkSnippets(t, p, true)
	}
}

// checkSnippets checks the marked Go blocks of the page at path (and, with all, that every Go block
// is marked: the README's and docs/'s are all examples; a fragment that is not one is prose).
func checkSnippets(t *testing.T, path string, all bool) {
	readme, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	marked := marker.FindAllSubmatchIndex(readme, -1)
	if got, want := len(marked), bytes.Count(readme, []byte("```go\n")); all && got != want {
		t.Errorf("%s has %d Go blocks but %d are marked with <!-- example: pkg.ExampleName -->: every snippet must be an Example", path, want, got)
	}
	var out bytes.Buffer
	last := 0
	for _, m := range marked {
		pkg, name := string(readme[m[2]:m[3]]), string(readme[m[4]:m[5]])
		body, err := exampleBody(filepath.Join("..", pkg), name)
		if err != nil {
			t.Errorf("%s snippet %s.%s: %v", path, pkg, name, err)
			continue
		}
		if got := string(readme[m[6]:m[7]]); got != body {
			if !*update {
				t.Errorf("%s snippet %s.%s differs from the Example (go test ./docs -update rewrites it):\n--- %s\n%s--- %s/example_test.go\n%s", path, pkg, name, path, got, pkg, body)
			}
		}
		out.Write(readme[last:m[6]])
		out.WriteString(body)
		last = m[7]
	}
	out.Write(readme[last:])
	if *update && !bytes.Equal(out.Bytes(), readme) {
		if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// exampleBody returns the statements of func name in dir's example_test.go files, dedented by one tab,
// without its // Output: comment.
func exampleBody(dir, name string) (string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "example*_test.go"))
	if err != nil || len(files) == 0 {
		return "", fmt.Errorf("no example_test.go in %s", dir)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		file, err := parser.ParseFile(fset, f, src, parser.ParseComments)
		if err != nil {
			return "", err
		}
		for _, d := range file.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Name.Name != name || fn.Body == nil {
				continue
			}
			start := fset.Position(fn.Body.Lbrace).Offset + 1
			end := fset.Position(fn.Body.Rbrace).Offset
			text := strings.TrimLeft(string(src[start:end]), "\n")
			if i := strings.Index(text, "\t// Output:"); i >= 0 {
				text = text[:i]
			}
			var b strings.Builder
			for _, line := range strings.SplitAfter(strings.TrimRight(text, "\n\t ")+"\n", "\n") {
				b.WriteString(strings.TrimPrefix(line, "\t"))
			}
			return b.String(), nil
		}
	}
	return "", fmt.Errorf("no func %s in %s/example*_test.go", name, dir)
}
