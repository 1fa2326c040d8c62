package deploy

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// programs are the commands that get an image.
var programs = []string{"forklift", "cachesync", "islands"}

// dockerfile is what the test reads of a Dockerfile: its stages and their instructions, with
// line continuations joined.
type stage struct {
	from         string
	instructions []string
}

func readDockerfile(t *testing.T, path string) []stage {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(b), "\\\n", " ")
	var stages []stage
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if strings.HasPrefix(strings.ToUpper(l), "FROM ") {
			stages = append(stages, stage{from: l})
			continue
		}
		if len(stages) > 0 {
			stages[len(stages)-1].instructions = append(stages[len(stages)-1].instructions, l)
		}
	}
	return stages
}

var goBuild = regexp.MustCompile(`CGO_ENABLED=0 .*go build -trimpath (-ldflags="[^"]*" )?-o /out/(\S+) \./cmd/(\S+)`)

// Each program's Dockerfile: two stages; the first builds the program statically and trimmed;
// the image that runs is distroless/static with only the binary, run as a numeric non-root user
// (runAsNonRoot can check a number, not a name); the build context leaves the world's secrets out.
func TestDockerfiles(t *testing.T) {
	for _, p := range programs {
		path := filepath.Join("docker", p+".Dockerfile")
		stages := readDockerfile(t, path)
		if len(stages) != 2 {
			t.Errorf("%s: %d stages, want 2 (build, run)", path, len(stages))
			continue
		}
		build, run := stages[0], stages[1]
		var built bool
		for _, in := range build.instructions {
			if m := goBuild.FindStringSubmatch(in); m != nil && m[2] == p && m[3] == p {
				built = true
			}
		}
		if !built {
			t.Errorf("%s: the build stage has no `CGO_ENABLED=0 … go build -trimpath … -o /out/%s ./cmd/%s`", path, p, p)
		}
		if !strings.Contains(run.from, "gcr.io/distroless/static") {
			t.Errorf("%s: final stage %q: want gcr.io/distroless/static (no shell, no libc)", path, run.from)
		}
		var user, entry string
		for _, in := range run.instructions {
			kw, rest, _ := strings.Cut(in, " ")
			switch strings.ToUpper(kw) {
			case "USER":
				user = rest
			case "ENTRYPOINT":
				entry = rest
			case "COPY":
				if !strings.HasPrefix(rest, "--from=build /out/"+p+" ") {
					t.Errorf("%s: the final stage copies %q: want only the binary", path, rest)
				}
			case "RUN", "ADD":
				t.Errorf("%s: %s in the final stage (it has no shell; keep it the binary only)", path, kw)
			}
		}
		uid, _, _ := strings.Cut(user, ":")
		if n, err := strconv.Atoi(uid); err != nil || n == 0 {
			t.Errorf("%s: USER %q: want a numeric non-root uid", path, user)
		}
		if !strings.HasPrefix(entry, `["/`) {
			t.Errorf("%s: ENTRYPOINT %s: want the exec form with an absolute path (there is no shell)", path, entry)
		}
		ignore, err := os.ReadFile(path + ".dockerignore")
		if err != nil {
			t.Errorf("%s: no %s.dockerignore: the build context would carry the world's state", path, path)
			continue
		}
		for _, must := range []string{".git", ".regions", "**/*.key", "**/*.pem"} {
			if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(must) + `$`).Match(ignore) {
				t.Errorf("%s.dockerignore does not leave out %s", path, must)
			}
		}
	}
}

// The Dockerfiles' build command gives a static binary: no ELF interpreter, no dynamic section,
// so it runs on distroless/static. Builds the three programs (slow the first time): skipped with
// -short.
func TestStaticBinaries(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every program: not with -short")
	}
	dir := t.TempDir()
	for _, p := range programs {
		out := filepath.Join(dir, p)
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, "./cmd/"+p)
		cmd.Dir = ".." // the product's module
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", cmd.Args, err, b)
		}
		f, err := elf.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP {
				t.Errorf("%s: has an ELF interpreter: dynamically linked", p)
			}
		}
		if f.Section(".dynamic") != nil {
			t.Errorf("%s: has a .dynamic section", p)
		}
		f.Close()
	}
}
