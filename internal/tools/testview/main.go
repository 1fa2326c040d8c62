// Command testview reads `go test -json` on stdin and prints what `go test` without -v prints:
// the package results, and the whole output of each test that failed. scripts/test keeps the
// JSON itself (every line every test logged) for the secret scan that ends make test.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
)

type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

func main() {
	held := map[string][]string{} // package/test → its output so far
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	for in.Scan() {
		line := in.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			fmt.Println(string(line))
			continue
		}
		key := e.Package + "/" + e.Test
		switch {
		case e.Action == "build-output":
			fmt.Print(e.Output)
		case e.Test == "" && e.Action == "output":
			if e.Output != "PASS\n" { // go test without -v leaves it out too
				fmt.Print(e.Output)
			}
		case e.Action == "output":
			held[key] = append(held[key], e.Output)
		case e.Action == "fail":
			for _, o := range held[key] {
				fmt.Print(o)
			}
			delete(held, key)
		case e.Action == "pass" || e.Action == "skip":
			delete(held, key)
		}
	}
	// A test binary that died (timeout, panic) leaves its tests without an end: show them.
	for _, out := range held {
		for _, o := range out {
			fmt.Print(o)
		}
	}
}
