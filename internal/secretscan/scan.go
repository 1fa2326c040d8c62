// Package secretscan finds secrets in outputs: every log line, report and error a run produced.
// make test ends with it (integration TestNoSecretsInOutputs) over the go test JSON log, the
// services' logs, the demo's and the campaign's outputs, with the local world's secrets
// (scripts/regions keeps them in $ISLANDS_STATE/secrets).
//
// A secret counts as found in any of the forms a careless print gives it: as it is, hex-encoded,
// base64-encoded. A finding names the file, the line and the secret's name, never its value.
package secretscan

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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

type needle struct {
	secret, form string
	b            []byte
}

func needles(secrets []Secret) []needle {
	var out []needle
	for _, s := range secrets {
		out = append(out,
			needle{s.Name, "plain", []byte(s.Value)},
			needle{s.Name, "hex", []byte(hex.EncodeToString([]byte(s.Value)))},
			needle{s.Name, "base64", []byte(strings.TrimRight(base64.StdEncoding.EncodeToString([]byte(s.Value)), "="))})
	}
	return out
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

func scanFile(path string, ns []needle) ([]Finding, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Finding
	r := bufio.NewReaderSize(f, 1<<20)
	for line := 1; ; line++ {
		b, err := r.ReadBytes('\n')
		for _, n := range ns {
			if bytes.Contains(b, n.b) {
				out = append(out, Finding{File: path, Line: line, Secret: n.secret, Form: n.form})
			}
		}
		if err != nil {
			break
		}
	}
	return out, nil
}
