package registry

import (
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/kitbuild/kit/testing/imagegen"
)

var fast = remote.WithRetryBackoff(remote.Backoff{Duration: time.Millisecond, Steps: 1})

func TestPushPullAndCount(t *testing.T) {
	r := Start(t)
	if !strings.HasPrefix(r.Host(), "127.0.0.1:") {
		t.Fatalf("host %s", r.Host())
	}
	img, err := imagegen.Container("x", imagegen.Config{})
	if err != nil {
		t.Fatal(err)
	}
	d := r.Push(t, "kit/x:1", img)
	want, _ := img.Digest()
	if d.DigestStr() != want.String() || d.Context().Name() != r.Host()+"/kit/x" {
		t.Errorf("push returned %s", d)
	}
	if r.Requests() == 0 {
		t.Error("push counted no requests")
	}
	r.Reset()
	if r.Requests() != 0 || len(r.Log()) != 0 {
		t.Fatal("reset did not clear")
	}
	ref, _ := name.ParseReference(r.Ref("kit/x:1"))
	desc, err := remote.Get(ref)
	if err != nil {
		t.Fatal(err)
	}
	if desc.Digest != want {
		t.Errorf("pulled %s, want %s", desc.Digest, want)
	}
	if got := r.Count(http.MethodGet, "/manifests/1"); got != 1 {
		t.Errorf("manifest GETs = %d, log %v", got, r.Log())
	}
	if int(r.Requests()) != len(r.Log()) {
		t.Errorf("counter %d, log %d", r.Requests(), len(r.Log()))
	}

	idx, _ := imagegen.MultiArch("m", imagegen.Config{})
	di := r.PushIndex(t, "kit/m:1", idx)
	if dg, _ := idx.Digest(); di.DigestStr() != dg.String() {
		t.Errorf("index digest %s", di)
	}
}

func TestCorruptBlob(t *testing.T) {
	img, _ := imagegen.Container("x", imagegen.Config{})
	ls, _ := img.Layers()
	ld, _ := ls[0].Digest()
	r := Start(t, WithCorruptBlob(ld))
	d := r.Push(t, "kit/x:1", img)
	l, err := remote.Layer(d.Context().Digest(ld.String()), fast)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := l.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(rc)
	if err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Fatalf("read corrupted blob: %v", err)
	}
	r.CorruptBlob(ld, false)
	rc, _ = l.Compressed()
	if _, err := io.ReadAll(rc); err != nil {
		t.Fatalf("after repair: %v", err)
	}
}

func TestFaults(t *testing.T) {
	img, _ := imagegen.Container("x", imagegen.Config{})
	tests := []struct {
		name  string
		setup func(r *Registry)
		opts  []remote.Option
		want  string
	}{
		{"500", func(r *Registry) { r.Fail(http.StatusInternalServerError) }, nil, "500"},
		{"auth missing", func(*Registry) {}, nil, "UNAUTHORIZED"},
		{"auth wrong", func(*Registry) {}, []remote.Option{remote.WithAuth(&authn.Basic{Username: "u", Password: "bad"})}, "UNAUTHORIZED"},
		{"closed", func(r *Registry) { r.Close() }, nil, "connection refused"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var opts []Option
			if strings.HasPrefix(tc.name, "auth") {
				opts = append(opts, WithBasicAuth("u", "p"))
			}
			r := Start(t, opts...)
			ref, _ := name.ParseReference(r.Ref("kit/x:1"))
			if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: "u", Password: "p"})); err != nil {
				t.Fatal(err)
			}
			tc.setup(r)
			_, err := remote.Get(ref, append(tc.opts, fast)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want error containing %q", err, tc.want)
			}
		})
	}
}

func TestServe(t *testing.T) {
	r, err := Serve("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	img, _ := imagegen.Init("init")
	if _, err := r.Write(context.Background(), "kit/init:1", img); err != nil {
		t.Fatal(err)
	}
	r.Close()
	r.Close() // idempotent
	if _, err := Serve(r.Host() + "x"); err == nil {
		t.Error("bad address accepted")
	}
}

// TestThrottle checks that a throttled registry takes at least the time
// its rate allows to serve a blob, and serves it whole.
func TestThrottle(t *testing.T) {
	body := make([]byte, 1<<20) // random: it stays 1 MiB compressed
	rnd := rand.New(rand.NewPCG(7, 7))
	for i := range body {
		body[i] = byte(rnd.Uint32())
	}
	img, err := imagegen.Image(imagegen.Config{}, []imagegen.File{imagegen.Reg("blob", string(body))})
	if err != nil {
		t.Fatal(err)
	}
	r := Start(t)
	d := r.Push(t, "kit/slow:1", img)
	ls, _ := img.Layers()
	ld, _ := ls[0].Digest()
	size, _ := ls[0].Size()
	const rate = 4 << 20
	r.Throttle(rate)
	l, err := remote.Layer(d.Context().Digest(ld.String()), fast)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	rc, err := l.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, rc) // verified against ld
	rc.Close()
	if err != nil || n != size {
		t.Fatalf("read %d of %d bytes: %v", n, size, err)
	}
	if min := time.Duration(float64(size-32<<10) / rate * float64(time.Second)); time.Since(start) < min {
		t.Fatalf("%d bytes in %v at %d B/s: not throttled (at least %v)", size, time.Since(start), rate, min)
	}
	r.Throttle(0)
}
