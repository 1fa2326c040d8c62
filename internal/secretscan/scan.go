// Package secretscan finds secrets in outputs: every log line, report and error a run produced.
// make test ends with it (integration TestNoSecretsInOutputs) over the go test JSON log, the
// services' logs, the demo's and the campaign's outputs, with the local world's secrets
// (scripts/regions keeps them in $ISLANDS_STATE/secrets).
//
// A secret counts as found in any of the forms a careless print gives it: as it is; hex-encoded in
// either case; base64 or URL-safe base64 at any of the three alignments a longer encoded stream
// gives it (a SASL PLAIN token "\0user\0password", a basic-auth header); and each of these
// wrapped across lines (MIME's 76 columns, PEM's 64, an indented block); the forms Go gives a byte
// slice: spaced hex (fmt's "% x") and hex.Dump's rows (hexdump -C's), decoded back to bytes across
// consecutive rows, and fmt's %v of a []byte (decimal bytes, "[0 105 115 …]"); in a go test -json log,
// also in each test's output reassembled from its events (test2json cuts a long line into several
// events and escapes quotes and backslashes). A finding names the file,
// the line and the secret's name, never its value.
//
// CI also scans the repository's tracked tree (integration TestNoSecretsInTrackedTree, run by
// .ci/run): for the world's secrets, and for any private key (PrivateKeys) committed by mistake.
package secretscan

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Secret is a named secret value.
type Secret struct {
	Name  string
	Value string
}

// MinLen is the shortest value scanned for: a shorter one would match by chance.
const MinLen = 8

// Load reads every regular file of dir as a secret (its content, trailing newline trimmed),
// named by the file's name.
func Load(dir string) ([]Secret, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []Secret
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		v := strings.TrimRight(string(b), "\r\n")
		if len(v) < MinLen {
			return nil, fmt.Errorf("secretscan: %s is shorter than %d bytes: too short to scan for", e.Name(), MinLen)
		}
		out = append(out, Secret{Name: e.Name(), Value: v})
	}
	return out, nil
}

// Finding is a secret seen in a file.
type Finding struct {
	File   string
	Line   int
	Secret string // its name
	Form   string // "plain", "hex", "base64"
}

func (f Finding) String() string {
	return fmt.Sprintf("%s:%d: secret %s (%s)", f.File, f.Line, f.Secret, f.Form)
}

// PrivateKeys reports each file among paths that holds a private key: a PEM block "-----BEGIN …
// PRIVATE KEY-----" (PKCS#1, PKCS#8, EC, OpenSSH, encrypted or not) or a PKCS#12/JKS keystore by
// its name (.p12, .pfx, .jks). Form names which. Missing paths are skipped.
func PrivateKeys(paths ...string) ([]Finding, error) {
	var out []Finding
	for _, p := range paths {
		switch strings.ToLower(filepath.Ext(p)) {
		case ".p12", ".pfx", ".jks":
			if _, err := os.Lstat(p); err == nil {
				out = append(out, Finding{File: p, Line: 1, Secret: "keystore", Form: "file"})
			}
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			if os.IsNotExist(err) {
				continue
			}
			return out, err
		}
		r := bufio.NewReaderSize(f, 1<<20)
		for line := 1; ; line++ {
			b, err := r.ReadBytes('\n')
			if pemPrivateKey.Match(b) {
				out = append(out, Finding{File: p, Line: line, Secret: "private key", Form: "PEM"})
			}
			if err != nil {
				break
			}
		}
		f.Close()
	}
	return out, nil
}

// pemPrivateKey is the first line of a PEM private key block.
var pemPrivateKey = regexp.MustCompile(`-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----`)

// needle is one form of one secret. fold needles are matched against the lowercased text (hex in
// either case).
type needle struct {
	secret, form string
	b            []byte
	fold         bool
}

// needles lists every form a secret is looked for in:
//
//   - plain: the value as it is;
//   - hex: its bytes in hexadecimal, either case (matched against the lowercased text);
//   - base64 and base64url: inside a longer encoded stream (a SASL PLAIN token "\0user\0password",
//     a basic-auth header, a JSON blob), the secret's bytes start at any offset modulo 3, and the
//     characters at either end also carry bits of the neighbouring bytes. So for each of the three
//     offsets the needle is only the characters that depend on the secret's bytes alone.
//
// Wrapped forms (a line break, and the indentation around it, inside the value) are found by
// scanFile, which also matches every needle across line ends.
func needles(secrets []Secret) []needle {
	var out []needle
	seen := map[string]bool{}
	add := func(n needle) {
		k := n.secret + "\x00" + string(n.b)
		if len(n.b) == 0 || seen[k] {
			return
		}
		seen[k] = true
		out = append(out, n)
	}
	for _, s := range secrets {
		v := []byte(s.Value)
		add(needle{secret: s.Name, form: "plain", b: v})
		add(needle{secret: s.Name, form: "hex", b: []byte(hex.EncodeToString(v)), fold: true})
		for _, enc := range []struct {
			form string
			e    *base64.Encoding
		}{{"base64", base64.RawStdEncoding}, {"base64url", base64.RawURLEncoding}} {
			for off := 0; off < 3; off++ {
				add(needle{secret: s.Name, form: enc.form, b: base64Core(enc.e, v, off)})
			}
		}
	}
	return out
}

// withForm is n under another form name.
func (n needle) withForm(form string) needle {
	n.form = form
	return n
}

// spacedHex is a run of hex byte pairs each separated by one or two spaces: fmt's "% x" (one), a
// row of hex.Dump or hexdump -C (two in the middle of the row). An 8-digit offset is no pair.
var spacedHex = regexp.MustCompile(`(?:^|[^0-9A-Za-z])((?:[0-9A-Fa-f]{2}  ?)*[0-9A-Fa-f]{2})(?:$|[^0-9A-Za-z])`)

// spacedHexBytes decodes the longest run of spaced hex in line (a dump row's bytes: its ASCII
// column, shorter, is not taken for them).
func spacedHexBytes(line []byte) []byte {
	var best []byte
	for _, m := range spacedHex.FindAllSubmatch(line, -1) {
		if len(m[1]) > len(best) {
			best = m[1]
		}
	}
	out := make([]byte, 0, (len(best)+1)/3)
	for _, f := range bytes.Fields(best) {
		var c [1]byte
		if _, err := hex.Decode(c[:], f); err == nil {
			out = append(out, c[0])
		}
	}
	return out
}

// decimalRun is fmt's %v of a []byte: decimal bytes separated by single spaces.
var decimalRun = regexp.MustCompile(`[0-9]{1,3}(?: [0-9]{1,3})+`)

// decimalBytes decodes each run of decimal bytes in line (a number over 255 ends the bytes).
func decimalBytes(line []byte) [][]byte {
	var out [][]byte
	for _, m := range decimalRun.FindAll(line, -1) {
		var bs []byte
		for _, f := range bytes.Fields(m) {
			v := 0
			for _, c := range f {
				v = 10*v + int(c-'0')
			}
			if v > 255 {
				out = append(out, bs)
				bs = nil
				continue
			}
			bs = append(bs, byte(v))
		}
		out = append(out, bs)
	}
	return out
}

// base64Core is the part of e's encoding of v, placed off bytes into a stream, that depends on v's
// bytes only: the characters whose six bits all lie within v.
func base64Core(e *base64.Encoding, v []byte, off int) []byte {
	buf := make([]byte, off+len(v))
	copy(buf[off:], v)
	enc := e.EncodeToString(buf)
	from := (8*off + 5) / 6      // the first character starting at or after v's first bit
	to := 8 * (off + len(v)) / 6 // the characters ending at or before v's last bit
	if to <= from {
		return nil
	}
	return []byte(enc[from:to])
}

// Scan walks each path (a file or a directory tree; missing ones are skipped, and skip lists
// directories not to enter) and returns every place a secret shows, and how many files it read.
func Scan(secrets []Secret, skip []string, paths ...string) (found []Finding, files int, err error) {
	ns := needles(secrets)
	for _, root := range paths {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if os.IsNotExist(err) {
					return nil
				}
				return err
			}
			if d.IsDir() {
				for _, s := range skip {
					if p == s {
						return filepath.SkipDir
					}
				}
				return nil
			}
			if !d.Type().IsRegular() {
				return nil
			}
			files++
			f, err := scanFile(p, ns)
			found = append(found, f...)
			return err
		})
		if err != nil {
			return found, files, err
		}
	}
	return found, files, nil
}

// scanFile reports each line where a needle shows, once per secret and form. Two passes over
// the same lines:
//
//   - within a line: every needle, against the line as it is (fold needles: lowercased);
//   - across lines: the lines joined, each without its line end and the spaces and tabs around it
//     (base64 wrapped at 64 or 76 columns, an indented PEM-like block, a hex dump cut in rows), where
//     a match counts only when it spans a line end: the ones within a line the first pass found.
//     The joined text is kept only as long as the longest needle, so memory stays bounded.
//
// test2jsonEvent is the part of a go test -json event the scan reads.
type test2jsonEvent struct {
	Action, Package, Test, Output string
}

// test2jsonOutput decodes b when it is a go test -json "output" event.
func test2jsonOutput(b []byte) (test2jsonEvent, bool) {
	var ev test2jsonEvent
	t := bytes.TrimSpace(b)
	if len(t) == 0 || t[0] != '{' || !bytes.Contains(t, []byte(`"Action"`)) {
		return ev, false
	}
	if json.Unmarshal(t, &ev) != nil || ev.Action != "output" {
		return ev, false
	}
	return ev, true
}

func scanFile(path string, ns []needle) ([]Finding, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	longest := 0
	for _, n := range ns {
		longest = max(longest, len(n.b))
	}
	var (
		out    []Finding
		carry  []byte // the end of the joined text before this line
		dumped []byte // the end of the bytes decoded from consecutive spaced-hex lines
		lineOf []int  // the line each byte of carry came from
	)
	type key struct {
		line         int
		secret, form string
	}
	seen := map[key]bool{}
	report := func(line int, n needle, wrapped bool) {
		form := n.form
		if wrapped {
			form += ", wrapped"
		}
		k := key{line, n.secret, form}
		if !seen[k] {
			seen[k] = true
			out = append(out, Finding{File: path, Line: line, Secret: n.secret, Form: form})
		}
	}
	// Per test (package and test name) of a go test -json log, the end of its output so far: an
	// output line may be cut into several events (test2json splits long lines), so a secret can be
	// split between two JSON lines with the JSON of the next event in between.
	type stream struct {
		carry  []byte
		lineOf []int
	}
	streams := map[[2]string]*stream{}
	r := bufio.NewReaderSize(f, 1<<20)
	for line := 1; ; line++ {
		b, err := r.ReadBytes('\n')
		if ev, ok := test2jsonOutput(b); ok && len(ns) > 0 {
			k := [2]string{ev.Package, ev.Test}
			st := streams[k]
			if st == nil {
				st = &stream{}
				streams[k] = st
			}
			out := []byte(ev.Output)
			window := append(append([]byte(nil), st.carry...), out...)
			lowerWindow := bytes.ToLower(window)
			for _, n := range ns {
				hay := window
				if n.fold {
					hay = lowerWindow
				}
				// Within the decoded event (a secret JSON-escaped in the raw line), or spanning
				// the end of the test's previous output event.
				for from := 0; from < len(hay); {
					i := bytes.Index(hay[from:], n.b)
					if i < 0 {
						break
					}
					at, raw := line, b
					if n.fold {
						raw = bytes.ToLower(b)
					}
					if from+i < len(st.carry) {
						at = st.lineOf[from+i]
					} else if bytes.Contains(raw, n.b) {
						from += i + 1 // the first pass reports it, as it is in the line
						continue
					}
					report(at, n, true)
					from += i + 1
				}
			}
			for range out {
				st.lineOf = append(st.lineOf, line)
			}
			if keep := longest - 1; len(window) > keep {
				st.lineOf = st.lineOf[len(st.lineOf)-keep:]
				window = window[len(window)-keep:]
			}
			st.carry = window
		}
		lower := bytes.ToLower(b)
		for _, n := range ns {
			hay := b
			if n.fold {
				hay = lower
			}
			if bytes.Contains(hay, n.b) {
				report(line, n, false)
			}
		}
		// The byte-slice forms, decoded back to bytes: the text of the line (of the event, in a
		// go test -json log).
		text := b
		if ev, ok := test2jsonOutput(b); ok {
			text = []byte(ev.Output)
		}
		dumped = append(dumped, spacedHexBytes(text)...)
		if len(spacedHex.Find(text)) == 0 {
			dumped = dumped[:0] // the rows of a dump are consecutive lines
		}
		decoded := append([][]byte{dumped}, decimalBytes(text)...)
		for _, n := range ns {
			if n.form != "plain" {
				continue
			}
			for _, d := range decoded {
				if bytes.Contains(d, n.b) {
					report(line, n.withForm("byte slice: spaced hex, hex dump or decimal"), false)
					break
				}
			}
		}
		if keep := longest - 1; len(dumped) > keep {
			dumped = append(dumped[:0], dumped[len(dumped)-keep:]...)
		}
		if len(ns) > 0 && len(b) > 0 {
			norm := bytes.Trim(b, " \t\r\n")
			window := append(append([]byte(nil), carry...), norm...)
			lowerWindow := bytes.ToLower(window)
			for _, n := range ns {
				hay := window
				if n.fold {
					hay = lowerWindow
				}
				// Only a match that starts in carry and ends in this line spans a line end.
				for from := 0; from < len(carry); {
					i := bytes.Index(hay[from:], n.b)
					if i < 0 || from+i >= len(carry) {
						break
					}
					if from+i+len(n.b) > len(carry) {
						report(lineOf[from+i], n, true)
						break
					}
					from += i + 1
				}
			}
			for range norm {
				lineOf = append(lineOf, line)
			}
			if keep := longest - 1; len(window) > keep {
				lineOf = lineOf[len(lineOf)-keep:]
				window = window[len(window)-keep:]
			}
			carry = window
		}
		if err != nil {
			break
		}
	}
	return out, nil
}
