package tarfmt

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/kitbuild/kit/core/format"
	ft "github.com/kitbuild/kit/core/format/formattest"
	"github.com/kitbuild/kit/core/steps/tarutil"
)

var system = ft.System{
	Kernel:  []byte("KERNEL"),
	Cmdline: []byte("console=ttyS0"),
	Entries: []ft.Entry{
		ft.Dir("bin", 0o755),
		ft.File("bin/init", "#!/bin/sh\n", 0o755),
		ft.Hardlink("bin/init2", "bin/init"),
		ft.Symlink("bin/sh", "busybox"),
		ft.File("CAPS", "upper case sorts before Dockerfile", 0o644),
	},
}

func TestRegistered(t *testing.T) {
	for _, n := range []string{"tar", "docker"} {
		if _, ok := format.Lookup(n); !ok {
			t.Errorf("format %s is not registered", n)
		}
	}
}

func TestTar(t *testing.T) {
	x := ft.NewExec(t)
	in := ft.Assembled(t, x, system)
	outs := ft.Check(t, Tar{}, x, in, format.Options{})
	if outs[0].Digest != in.Rootfs.Digest || outs[0].Size != in.Rootfs.Size || outs[0].MediaType != format.MediaTypeTar {
		t.Errorf("tar output %+v, want the rootfs %+v renamed", outs[0], in.Rootfs)
	}
}

type member struct {
	hdr  *tar.Header
	data string
}

func members(t *testing.T, b []byte) []member {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(b))
	var ms []member
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return ms
		}
		if err != nil {
			t.Fatal(err)
		}
		d, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, member{h, string(d)})
	}
}

func TestDocker(t *testing.T) {
	const epoch = 1_600_000_000
	withOwn := system
	withOwn.Entries = append(slices.Clone(system.Entries), ft.File("Dockerfile", "FROM alpine\n", 0o600))
	tests := []struct {
		name     string
		sys      ft.System
		wantLogs int
	}{
		{"rootfs", system, 0},
		{"rootfs with a Dockerfile", withOwn, 2}, // Check runs the format twice
		{"empty rootfs", ft.System{}, 0},
		{"only names before", ft.System{Entries: []ft.Entry{ft.File("A", "a", 0o644)}}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := ft.NewExec(t)
			in := ft.Assembled(t, x, tc.sys)
			outs := ft.Check(t, Docker{}, x, in, format.Options{SourceDateEpoch: epoch})
			out := x.Read(t, outs[0])
			// A normalized rootfs gives a normalized docker tar.
			if _, err := tarutil.Verify(bytes.NewReader(x.Read(t, in.Rootfs)), epoch); err != nil {
				t.Fatalf("test rootfs: %v", err)
			}
			if _, err := tarutil.Verify(bytes.NewReader(out), epoch); err != nil {
				t.Errorf("docker output: %v", err)
			}
			src := members(t, x.Read(t, in.Rootfs))
			got := members(t, out)

			// Every member of the rootfs but its Dockerfile, unchanged, and
			// ours in sorted position.
			var want []member
			for _, m := range src {
				if m.hdr.Name != "Dockerfile" {
					want = append(want, m)
				}
			}
			i, _ := slices.BinarySearchFunc(want, "Dockerfile", func(m member, n string) int { return strings.Compare(m.hdr.Name, n) })
			want = slices.Insert(want, i, member{nil, Dockerfile})
			if len(got) != len(want) {
				t.Fatalf("%d members, want %d", len(got), len(want))
			}
			for i := range want {
				if want[i].hdr == nil {
					h := got[i].hdr
					if h.Name != "Dockerfile" || got[i].data != Dockerfile || h.Mode != 0o644 || h.Uid != 0 || h.Gid != 0 ||
						h.Uname != "" || h.ModTime.Unix() != epoch || h.Typeflag != tar.TypeReg {
						t.Errorf("Dockerfile member %+v %q", h, got[i].data)
					}
					continue
				}
				if got[i].hdr.Name != want[i].hdr.Name || got[i].data != want[i].data || got[i].hdr.Linkname != want[i].hdr.Linkname {
					t.Errorf("member %d: %s %q, want %s %q", i, got[i].hdr.Name, got[i].data, want[i].hdr.Name, want[i].data)
				}
			}
			if n := len(x.Logs()); n != tc.wantLogs {
				t.Errorf("logs %q", x.Logs())
			}
			// The members before the Dockerfile are copied byte for byte.
			rootfs := x.Read(t, in.Rootfs)
			if i > 0 {
				var n int
				for _, m := range src[:i] {
					n += 512 + int(m.hdr.Size+511)&^511
				}
				if !bytes.Equal(out[:n], rootfs[:n]) {
					t.Error("members before the Dockerfile were rewritten")
				}
			}
			if bin, err := exec.LookPath("tar"); err == nil {
				cmd := exec.Command(bin, "-tf", "-")
				cmd.Stdin = bytes.NewReader(out)
				list, err := cmd.Output()
				if err != nil {
					t.Fatalf("tar -t: %v", err)
				}
				var names []string
				for _, m := range want {
					if m.hdr == nil {
						names = append(names, "Dockerfile")
					} else {
						names = append(names, m.hdr.Name)
					}
				}
				if got := strings.Fields(string(list)); !slices.Equal(got, names) {
					t.Errorf("tar -t lists %q, want %q", got, names)
				}
			}
		})
	}
}

func TestDockerfileDirectory(t *testing.T) {
	x := ft.NewExec(t)
	in := ft.Assembled(t, x, ft.System{Entries: []ft.Entry{ft.Dir("Dockerfile", 0o755)}})
	_, err := Docker{}.Write(context.Background(), x, in, format.Options{})
	if err == nil || !strings.Contains(err.Error(), "Dockerfile is a directory") {
		t.Fatalf("error %v", err)
	}
}

// FuzzAddDockerfile: for any input, addDockerfile fails cleanly or writes
// a tar that reads back with exactly one Dockerfile, ours.
func FuzzAddDockerfile(f *testing.F) {
	f.Add(ft.Tar(f, system.Entries...))
	f.Add(ft.Tar(f, ft.File("Dockerfile", "x", 0o644), ft.File("z", "z", 0o644), ft.File("Dockerfile", "y", 0o644)))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, src []byte) {
		var out bytes.Buffer
		_, err := addDockerfile(context.Background(), &out, bytes.NewReader(src), int64(len(src)), 0, func(int64, int64) {})
		if err != nil {
			return
		}
		tr := tar.NewReader(&out)
		n := 0
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("output does not read back: %v", err)
			}
			if h.Name == "Dockerfile" {
				n++
				if d, _ := io.ReadAll(tr); string(d) != Dockerfile {
					t.Fatalf("Dockerfile %q", d)
				}
			}
		}
		if n != 1 {
			t.Fatalf("%d Dockerfiles", n)
		}
	})
}
