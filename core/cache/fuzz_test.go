package cache

import (
	"bytes"
	"errors"
	"io/fs"
	"strconv"
	"testing"

	"github.com/kitbuild/kit/core/graph"
)

func FuzzChildren(f *testing.F) {
	d := graph.FromBytes([]byte("x"))
	f.Add([]byte(`{"schemaVersion":2,"config":{"digest":"` + string(d) + `","size":1},"layers":[{"digest":"` + string(d) + `","size":1}]}`))
	f.Add([]byte(`{"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + string(d) + `","size":3}]}`))
	f.Add([]byte(`{"layers":[{"digest":"sha512:00","size":-1}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		kids, err := children(b)
		if err != nil {
			return
		}
		for _, k := range kids {
			if k.Digest.Validate() != nil || k.Size < 0 {
				t.Fatalf("children returned an invalid reference %+v", k)
			}
		}
		// closure over the fuzzed manifest, its children absent or present
		// as the same bytes, terminates and lists each blob once.
		root := blobRef{Digest: graph.FromBytes(b), Size: int64(len(b)), MediaType: "application/vnd.oci.image.index.v1+json"}
		read := func(dg graph.Digest) ([]byte, error) {
			if dg == root.Digest {
				return b, nil
			}
			return nil, fs.ErrNotExist
		}
		refs, err := closure(root, read)
		if err != nil {
			return
		}
		seen := map[graph.Digest]bool{}
		for _, r := range refs {
			if seen[r.Digest] {
				t.Fatalf("closure listed %s twice", r.Digest)
			}
			seen[r.Digest] = true
		}
		if len(refs) == 0 || refs[0].Digest != root.Digest {
			t.Fatalf("closure does not start with the root: %+v", refs)
		}
	})
}

func FuzzDecodeAction(f *testing.F) {
	a := &graph.Action{
		Key:        graph.FromBytes([]byte("k")),
		Name:       "unpack x",
		Components: graph.KeyComponents{Kind: "unpack", Params: []byte(`{"mode":"container"}`)},
		Outputs:    []graph.Output{{Name: "rootfs.tar", Digest: graph.FromBytes([]byte("o")), Size: 1}},
	}
	b, _ := encodeAction(a)
	f.Add(b)
	a.Components.Params = []byte("\xff not json")
	b, _ = encodeAction(a)
	f.Add(b)
	f.Add([]byte(`{"key":"sha256:00"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := decodeAction(b)
		if err != nil {
			return
		}
		enc, err := encodeAction(a)
		if err != nil {
			t.Fatalf("re-encoding a decoded action: %v", err)
		}
		back, err := decodeAction(enc)
		if err != nil {
			t.Fatalf("decoding a re-encoded action: %v\n%s", err, enc)
		}
		if back.Key != a.Key || back.Name != a.Name || len(back.Outputs) != len(a.Outputs) ||
			!bytes.Equal(back.Components.Params, a.Components.Params) || back.Components.Sum() != a.Components.Sum() {
			t.Fatalf("round trip changed the action:\n%+v\n%+v", a, back)
		}
	})
}

func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{"1\n", "1", "42", "", "0", "01", "-1", "1\n\n", "99999999999"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := parseVersion(b)
		if err != nil {
			return
		}
		if v < 1 {
			t.Fatalf("parseVersion(%q) = %d", b, v)
		}
		if w, err := parseVersion([]byte(strconv.Itoa(v) + "\n")); err != nil || w != v {
			t.Fatalf("version %d does not round-trip: %d, %v", v, w, err)
		}
	})
}

func TestClosureIndexChildrenOptional(t *testing.T) {
	layer := graph.FromBytes([]byte("layer"))
	man := []byte(`{"config":{"digest":"` + string(layer) + `","size":5},"layers":[{"digest":"` + string(layer) + `","size":5}]}`)
	missing := graph.FromBytes([]byte("missing manifest"))
	idx := []byte(`{"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + string(graph.FromBytes(man)) + `","size":1},` +
		`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + string(missing) + `","size":1}]}`)
	blobs := map[graph.Digest][]byte{graph.FromBytes(man): man, graph.FromBytes(idx): idx}
	read := func(d graph.Digest) ([]byte, error) {
		if b, ok := blobs[d]; ok {
			return b, nil
		}
		return nil, fs.ErrNotExist
	}
	tests := []struct {
		name    string
		root    blobRef
		want    int
		wantErr error
	}{
		{"index with a missing child", blobRef{Digest: graph.FromBytes(idx), MediaType: "application/vnd.oci.image.index.v1+json"}, 3, nil},
		{"manifest", blobRef{Digest: graph.FromBytes(man), MediaType: "application/vnd.docker.distribution.manifest.v2+json"}, 2, nil},
		{"missing root", blobRef{Digest: missing, MediaType: "application/vnd.oci.image.manifest.v1+json"}, 0, fs.ErrNotExist},
		{"manifest listed as an index", blobRef{Digest: graph.FromBytes(man), MediaType: "application/vnd.oci.image.index.v1+json"}, 2, nil},
	}
	blobs[graph.FromBytes([]byte("liar"))] = man
	tests = append(tests, struct {
		name    string
		root    blobRef
		want    int
		wantErr error
	}{"wrong bytes", blobRef{Digest: graph.FromBytes([]byte("liar")), MediaType: "application/vnd.oci.image.manifest.v1+json"}, 0, ErrDigestMismatch})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			refs, err := closure(tt.root, read)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("closure: %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || len(refs) != tt.want {
				t.Fatalf("closure = %+v, %v; want %d blobs", refs, err, tt.want)
			}
		})
	}
}
