package formatfs_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kitbuild/kit/core/plugin"
	formatfs "github.com/kitbuild/kit/plugins/format-fs"
	"github.com/kitbuild/kit/plugins/internal/plugtest"
	"github.com/kitbuild/kit/sdk"
	"github.com/kitbuild/kit/sdk/client"
	"github.com/kitbuild/kit/sdk/sdktest"
	"golang.org/x/sys/unix"
)

func TestKernelErofs(t *testing.T) {
	plugtest.Tool(t, "fsck.erofs")
	c := sdktest.Serve(t, formatfs.Plugin())
	in := inputs(t)
	arts := sdktest.RunFormat(t, c, "kernel+erofs", client.BuildRequest{Inputs: in, SourceDateEpoch: testEpoch})
	if got := artifact(t, arts, "-kernel").Digest; got != in[sdk.InputKernel].Digest {
		t.Errorf("-kernel is %s, the kernel input %s", got, in[sdk.InputKernel].Digest)
	}
	if got := artifact(t, arts, "-cmdline").Digest; got != in[sdk.InputCmdline].Digest {
		t.Errorf("-cmdline is %s, the command line input %s", got, in[sdk.InputCmdline].Digest)
	}
	img := artifact(t, arts, "-erofs.img")
	if img.MediaType != formatfs.MediaTypeErofs || img.Size%4096 != 0 {
		t.Errorf("-erofs.img: media type %s, size %d (want %s, whole 4 KiB blocks)", img.MediaType, img.Size, formatfs.MediaTypeErofs)
	}
	plugtest.Run(t, "fsck.erofs", img.Path)
	dir := filepath.Join(t.TempDir(), "x")
	// fsck.erofs extracts owners, modes and times for root only.
	mode := "--no-preserve"
	if os.Geteuid() == 0 {
		mode = "--preserve"
	}
	plugtest.Run(t, "fsck.erofs", "--extract="+dir, mode, img.Path)
	compareExtracted(t, dir, in[sdk.InputRootfs].Path, os.Geteuid() == 0)
}

// compareExtracted checks that dir holds exactly the entries of the tar at
// tarPath outside boot/, with their types, contents, link targets and
// devices, and (owners) their owners, permission bits and file times. A
// hard link is a copy of its target.
func compareExtracted(t *testing.T, dir, tarPath string, owners bool) {
	t.Helper()
	f, err := os.Open(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type file struct {
		h    *tar.Header
		data []byte
	}
	files := map[string]file{}
	var names []string
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(path.Clean(h.Name), "/")
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeLink {
			tgt := files[path.Clean(h.Linkname)]
			h, data = tgt.h, tgt.data
		}
		if name == "boot" || strings.HasPrefix(name, "boot/") {
			continue
		}
		files[name] = file{h, data}
		names = append(names, name)
	}
	for _, name := range names {
		want := files[name]
		p := filepath.Join(dir, name)
		fi, err := os.Lstat(p)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			t.Fatal(err)
		}
		wantType := map[byte]fs.FileMode{tar.TypeReg: 0, tar.TypeDir: fs.ModeDir, tar.TypeSymlink: fs.ModeSymlink,
			tar.TypeChar: fs.ModeDevice | fs.ModeCharDevice, tar.TypeBlock: fs.ModeDevice, tar.TypeFifo: fs.ModeNamedPipe}[want.h.Typeflag]
		if fi.Mode().Type() != wantType {
			t.Errorf("%s: type %v, want %v", name, fi.Mode().Type(), wantType)
			continue
		}
		switch want.h.Typeflag {
		case tar.TypeReg:
			if b, err := os.ReadFile(p); err != nil || !bytes.Equal(b, want.data) {
				t.Errorf("%s: %d bytes (%v), want the tar's %d", name, len(b), err, len(want.data))
			}
		case tar.TypeSymlink:
			if l, err := os.Readlink(p); err != nil || l != want.h.Linkname {
				t.Errorf("%s: links to %q (%v), want %q", name, l, err, want.h.Linkname)
			}
		case tar.TypeChar, tar.TypeBlock:
			if maj, min := unix.Major(st.Rdev), unix.Minor(st.Rdev); maj != uint32(want.h.Devmajor) || min != uint32(want.h.Devminor) {
				t.Errorf("%s: device %d,%d, want %d,%d", name, maj, min, want.h.Devmajor, want.h.Devminor)
			}
		}
		if !owners {
			continue
		}
		if fi.Mode().Perm() != fs.FileMode(want.h.Mode).Perm() && want.h.Typeflag != tar.TypeSymlink {
			t.Errorf("%s: mode %v, want %v", name, fi.Mode().Perm(), fs.FileMode(want.h.Mode).Perm())
		}
		if st.Uid != uint32(want.h.Uid) || st.Gid != uint32(want.h.Gid) {
			t.Errorf("%s: owner %d/%d, want %d/%d", name, st.Uid, st.Gid, want.h.Uid, want.h.Gid)
		}
		if want.h.Typeflag == tar.TypeReg && !fi.ModTime().Equal(want.h.ModTime.Truncate(time.Second)) {
			t.Errorf("%s: modified %v, want %v", name, fi.ModTime(), want.h.ModTime)
		}
	}
	err = filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if _, ok := files[filepath.ToSlash(rel)]; !ok {
			t.Errorf("%s is in the image, not in the tar (outside boot/)", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestKernelErofsErrors(t *testing.T) {
	c := sdktest.Serve(t, formatfs.Plugin())
	desc, err := c.Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	comp, ok := desc.Component(sdk.KindFormat, "kernel+erofs")
	if !ok {
		t.Fatal("no kernel+erofs")
	}
	var got []string
	for _, o := range comp.Outputs {
		got = append(got, o.Suffix)
	}
	if strings.Join(got, " ") != "-kernel -erofs.img -cmdline" {
		t.Errorf("outputs %v", got)
	}
	if len(comp.ConfigSchema) != 0 {
		t.Errorf("kernel+erofs has a config schema: %s", comp.ConfigSchema)
	}
	if _, err := plugin.CompileSchema(comp.ConfigSchema); err != nil {
		t.Error(err)
	}
	build := func(inputs map[string]sdk.Input, config string) error {
		_, err := c.BuildFormat(context.Background(), "kernel+erofs", client.BuildRequest{
			Inputs: inputs, Config: json.RawMessage(config), ScratchDir: t.TempDir(), SourceDateEpoch: testEpoch,
		})
		return err
	}
	in := inputs(t)
	withRootfs := func(tarData []byte) map[string]sdk.Input {
		p := filepath.Join(t.TempDir(), "rootfs.tar")
		if err := os.WriteFile(p, tarData, 0o644); err != nil {
			t.Fatal(err)
		}
		return map[string]sdk.Input{sdk.InputRootfs: sdktest.Input(t, p), sdk.InputKernel: in[sdk.InputKernel]}
	}
	for _, tc := range []struct {
		name   string
		inputs map[string]sdk.Input
		config string
		want   string
	}{
		{"config", in, `{"compression":"lz4"}`, "format kernel+erofs takes no config"},
		{"no kernel", map[string]sdk.Input{sdk.InputRootfs: in[sdk.InputRootfs]}, "", "input kernel is missing"},
		{"not a tar", withRootfs(bytes.Repeat([]byte("not a tar "), 100)), "", "input rootfs.tar: erofs: tar entry 0: archive/tar: invalid tar header"},
		{"hard link into boot/", withRootfs(tarOf(t,
			&tar.Header{Name: "boot/kernel", Typeflag: tar.TypeReg, Mode: 0o644},
			&tar.Header{Name: "vmlinuz", Typeflag: tar.TypeLink, Linkname: "boot/kernel"})),
			"", `tar entry "vmlinuz": a hard link to boot/kernel, which is left out of the image`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := build(tc.inputs, tc.config); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("build: %v, want %q", err, tc.want)
			}
		})
	}
	// Without a command line input, NAME-cmdline is empty.
	arts, err := c.BuildFormat(context.Background(), "kernel+erofs", client.BuildRequest{
		Inputs: map[string]sdk.Input{sdk.InputRootfs: in[sdk.InputRootfs], sdk.InputKernel: in[sdk.InputKernel]}, ScratchDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if a := artifact(t, arts, "-cmdline"); a.Size != 0 {
		t.Errorf("-cmdline without a command line: %d bytes", a.Size)
	}
}

// tarOf returns a tar of headers without data.
func tarOf(t testing.TB, hs ...*tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hs {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
