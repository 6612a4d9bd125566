package registry

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcr "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Registry is an OCI registry served over plain HTTP on a loopback address.
// Every request is counted and logged; faults can be injected at any time.
type Registry struct {
	srv  *httptest.Server
	host string

	requests atomic.Int64

	mu        sync.Mutex
	log       []Request
	corrupt   map[string]bool
	failCode  int
	rate      int64 // bytes per second of each response body; 0: unlimited
	user, pwd string
	closed    bool
}

// Request is one logged request.
type Request struct {
	Method string
	Path   string
	Status int
}

func (r Request) String() string { return fmt.Sprintf("%s %s %d", r.Method, r.Path, r.Status) }

// Option configures a Registry.
type Option func(*Registry)

// WithCorruptBlob makes the registry serve corrupted bytes (same length, one
// byte flipped) for the blob or manifest with digest d, so that a client
// verifying digests sees a mismatch.
func WithCorruptBlob(d v1.Hash) Option {
	return func(r *Registry) { r.corrupt[d.String()] = true }
}

// WithStatus makes every request fail with the HTTP status code (e.g. 500).
func WithStatus(code int) Option {
	return func(r *Registry) { r.failCode = code }
}

// WithBasicAuth requires HTTP basic authentication with these credentials
// on every request; others get 401 with a Basic challenge.
func WithBasicAuth(user, password string) Option {
	return func(r *Registry) { r.user, r.pwd = user, password }
}

// Start serves a registry on 127.0.0.1 with a free port and closes it when
// the test ends.
func Start(t testing.TB, opts ...Option) *Registry {
	t.Helper()
	r, err := Serve("127.0.0.1:0", opts...)
	if err != nil {
		t.Fatalf("testing/registry: %v", err)
	}
	t.Cleanup(r.Close)
	return r
}

// Serve serves a registry on addr ("127.0.0.1:5000", or port 0 for a free
// one) until Close.
func Serve(addr string, opts ...Option) (*Registry, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("registry: listen on %s: %w", addr, err)
	}
	r := &Registry{corrupt: map[string]bool{}}
	for _, o := range opts {
		o(r)
	}
	inner := ggcr.New(ggcr.Logger(log.New(io.Discard, "", 0)))
	r.srv = httptest.NewUnstartedServer(r.handler(inner))
	r.srv.Listener.Close()
	r.srv.Listener = l
	r.srv.Start()
	r.host = l.Addr().String()
	return r, nil
}

// Host returns "127.0.0.1:PORT", the registry part of image references.
func (r *Registry) Host() string { return r.host }

// URL returns "http://127.0.0.1:PORT".
func (r *Registry) URL() string { return "http://" + r.host }

// Ref prefixes a repository reference ("library/redis:7") with the
// registry's host.
func (r *Registry) Ref(repo string) string {
	if strings.HasPrefix(repo, r.host+"/") {
		return repo
	}
	return r.host + "/" + strings.TrimPrefix(repo, "/")
}

// Requests returns the number of requests served since the start or the
// last Reset.
func (r *Registry) Requests() int64 { return r.requests.Load() }

// Log returns the requests served since the start or the last Reset.
func (r *Registry) Log() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.log...)
}

// Count returns how many logged requests used method (any when empty) on a
// path containing sub.
func (r *Registry) Count(method, sub string) int {
	n := 0
	for _, q := range r.Log() {
		if (method == "" || q.Method == method) && strings.Contains(q.Path, sub) {
			n++
		}
	}
	return n
}

// Reset clears the request counter and log.
func (r *Registry) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests.Store(0)
	r.log = nil
}

// CorruptBlob starts serving corrupted bytes for digest d (see
// WithCorruptBlob); ok=false stops it.
func (r *Registry) CorruptBlob(d v1.Hash, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ok {
		r.corrupt[d.String()] = true
	} else {
		delete(r.corrupt, d.String())
	}
}

// Fail makes every request fail with status code; 0 restores service.
func (r *Registry) Fail(code int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failCode = code
}

// Throttle limits every response body to bytesPerSecond from the next
// request on, each response on its own, as a registry across a network
// serves every connection at some rate; 0 lifts the limit.
func (r *Registry) Throttle(bytesPerSecond int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rate = max(bytesPerSecond, 0)
}

// Close stops the server; afterwards the address refuses connections.
func (r *Registry) Close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	r.mu.Unlock()
	r.srv.CloseClientConnections()
	r.srv.Close()
}

func (r *Registry) handler(inner http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.requests.Add(1)
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			r.mu.Lock()
			r.log = append(r.log, Request{Method: req.Method, Path: req.URL.Path, Status: rec.status})
			r.mu.Unlock()
		}()
		r.mu.Lock()
		code, user, pwd := r.failCode, r.user, r.pwd
		last := req.URL.Path[strings.LastIndexByte(req.URL.Path, '/')+1:]
		rec.corrupt = req.Method == http.MethodGet && r.corrupt[last]
		rec.rate = r.rate
		r.mu.Unlock()
		if code != 0 {
			http.Error(rec, fmt.Sprintf(`{"errors":[{"code":"UNKNOWN","message":"injected failure %d"}]}`, code), code)
			return
		}
		if user != "" {
			u, p, ok := req.BasicAuth()
			if !ok || u != user || p != pwd {
				rec.Header().Set("WWW-Authenticate", `Basic realm="kit-testregistry"`)
				rec.Header().Set("Content-Type", "application/json")
				rec.WriteHeader(http.StatusUnauthorized)
				io.WriteString(rec, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
				return
			}
		}
		inner.ServeHTTP(rec, req)
	})
}

// recorder captures the status, flips the first body byte of corrupted
// responses and paces throttled ones.
type recorder struct {
	http.ResponseWriter
	status  int
	corrupt bool
	flipped bool

	rate    int64 // bytes per second, 0: unlimited
	sent    int64
	started time.Time
}

func (w *recorder) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(p []byte) (int, error) {
	if w.rate > 0 {
		return w.paced(p)
	}
	return w.write(p)
}

// paced writes p in pieces, sleeping so that the body goes at w.rate.
func (w *recorder) paced(p []byte) (int, error) {
	if w.started.IsZero() {
		w.started = time.Now()
	}
	n := 0
	for len(p) > 0 {
		k, err := w.write(p[:min(len(p), 32<<10)])
		n += k
		w.sent += int64(k)
		p = p[k:]
		if err != nil {
			return n, err
		}
		due := time.Duration(float64(w.sent) / float64(w.rate) * float64(time.Second))
		if d := due - time.Since(w.started); d > 0 {
			time.Sleep(d)
		}
	}
	return n, nil
}

func (w *recorder) write(p []byte) (int, error) {
	if w.corrupt && !w.flipped && len(p) > 0 && w.status == http.StatusOK {
		q := append([]byte(nil), p...)
		q[0] ^= 0xff
		w.flipped = true
		return w.ResponseWriter.Write(q)
	}
	return w.ResponseWriter.Write(p)
}

// Write pushes img under ref (a full reference or one relative to the
// registry, "library/redis:7") and returns its digest reference.
func (r *Registry) Write(ctx context.Context, ref string, img v1.Image) (name.Digest, error) {
	tag, err := name.ParseReference(r.Ref(ref), name.Insecure)
	if err != nil {
		return name.Digest{}, fmt.Errorf("registry: push %s: %w", ref, err)
	}
	if err := remote.Write(tag, img, remote.WithContext(ctx)); err != nil {
		return name.Digest{}, fmt.Errorf("registry: push %s: %w", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		return name.Digest{}, fmt.Errorf("registry: push %s: %w", ref, err)
	}
	return tag.Context().Digest(d.String()), nil
}

// WriteIndex pushes an image index under ref and returns its digest
// reference.
func (r *Registry) WriteIndex(ctx context.Context, ref string, idx v1.ImageIndex) (name.Digest, error) {
	tag, err := name.ParseReference(r.Ref(ref), name.Insecure)
	if err != nil {
		return name.Digest{}, fmt.Errorf("registry: push %s: %w", ref, err)
	}
	if err := remote.WriteIndex(tag, idx, remote.WithContext(ctx)); err != nil {
		return name.Digest{}, fmt.Errorf("registry: push %s: %w", ref, err)
	}
	d, err := idx.Digest()
	if err != nil {
		return name.Digest{}, fmt.Errorf("registry: push %s: %w", ref, err)
	}
	return tag.Context().Digest(d.String()), nil
}

// Push is Write for tests: it fails the test on error.
func (r *Registry) Push(t testing.TB, ref string, img v1.Image) name.Digest {
	t.Helper()
	d, err := r.Write(context.Background(), ref, img)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// PushIndex is WriteIndex for tests: it fails the test on error.
func (r *Registry) PushIndex(t testing.TB, ref string, idx v1.ImageIndex) name.Digest {
	t.Helper()
	d, err := r.WriteIndex(context.Background(), ref, idx)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
