package fetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/kitbuild/kit/core/graph"
)

// Options configure registry access.
type Options struct {
	// Mirrors maps a registry ("docker.io") to a mirror URL
	// ("http://127.0.0.1:5000", "https://mirror.example.com/prefix"). The
	// mirror is tried first, then the registry itself; references (and the
	// lock file) keep the canonical registry name.
	Mirrors map[string]string
	// Insecure lists registries reached over plain HTTP. Loopback registries
	// always are.
	Insecure []string
	// Platform is the target platform; default linux/amd64.
	Platform v1.Platform
	// Keychain supplies credentials; default authn.DefaultKeychain (the
	// Docker config file and its credential helpers).
	Keychain authn.Keychain
	// Pull re-resolves tags at the registry even when they are locked
	// (--pull, --update-lock).
	Pull bool
	// Frozen makes resolving a tag that is not in the lock an error
	// (ErrNotLocked) instead of a registry lookup.
	Frozen bool
	// Jobs bounds parallel resolves (ResolveAll) and parallel layer
	// downloads per fetch; default 4.
	Jobs int
	// Retry overrides go-containerregistry's retry backoff for transient
	// errors (by default 3 tries, 1s then 3s apart).
	Retry *remote.Backoff
	// Transport overrides the HTTP transport.
	Transport http.RoundTripper
}

// Validate checks the mirror and insecure registry settings.
func (o Options) Validate() error {
	_, err := newClient(o)
	return err
}

// withDefaults fills an unset OS and architecture with linux/amd64.
func withDefaults(p v1.Platform) v1.Platform {
	if p.OS == "" {
		p.OS = "linux"
	}
	if p.Architecture == "" {
		p.Architecture = "amd64"
	}
	return p
}

func (o Options) jobs() int {
	if o.Jobs <= 0 {
		return 4
	}
	return o.Jobs
}

// client talks to registries, mirrors first.
type client struct {
	puller   *remote.Puller
	mirrors  map[string]mirror
	insecure map[string]bool

	// For the blobs that go into the store (see rawBlob): the transport
	// remote.Puller would build, and the authenticated transport of each
	// endpoint repository.
	keychain authn.Keychain
	rt       http.RoundTripper
	mu       sync.Mutex
	blobRTs  map[string]*repoTransport
}

func newClient(o Options) (*client, error) {
	c := &client{mirrors: map[string]mirror{}, insecure: map[string]bool{}, blobRTs: map[string]*repoTransport{}}
	regs := make([]string, 0, len(o.Mirrors))
	for reg := range o.Mirrors {
		regs = append(regs, reg)
	}
	sort.Strings(regs)
	for _, reg := range regs {
		k, err := registryKey(reg)
		if err != nil {
			return nil, fmt.Errorf("mirror for %q: %w", reg, err)
		}
		m, err := parseMirror(o.Mirrors[reg])
		if err != nil {
			return nil, fmt.Errorf("mirror for %s: %w", reg, err)
		}
		c.mirrors[k] = m
	}
	for _, reg := range o.Insecure {
		k, err := registryKey(reg)
		if err != nil {
			return nil, fmt.Errorf("insecure registry %q: %w", reg, err)
		}
		c.insecure[k] = true
	}
	kc := o.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	opts := []remote.Option{remote.WithAuthFromKeychain(kc), remote.WithUserAgent("kit")}
	if o.Retry != nil {
		opts = append(opts, remote.WithRetryBackoff(*o.Retry))
	}
	if o.Transport != nil {
		opts = append(opts, remote.WithTransport(o.Transport))
	}
	p, err := remote.NewPuller(opts...)
	if err != nil {
		return nil, err
	}
	c.puller = p
	c.keychain = kc
	c.rt = baseTransport(o)
	return c, nil
}

// Retries as remote.Puller does them by default: 3 tries, 1s then 3s
// apart, on temporary network errors and these statuses.
var (
	defaultRetry       = remote.Backoff{Duration: time.Second, Factor: 3, Jitter: 0.1, Steps: 3}
	retryStatusCodes   = []int{http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout, 499, 522}
	errRedirectPrivate = errors.New("redirect to a private or link-local address refused")
)

// baseTransport wraps o's transport the way remote.NewPuller does: with
// retries and kit's user agent, unless it is a transport.Wrapper (which
// asks for no wrapping).
func baseTransport(o Options) http.RoundTripper {
	t := o.Transport
	if t == nil {
		t = remote.DefaultTransport
	}
	if _, ok := t.(*transport.Wrapper); ok {
		return t
	}
	backoff := defaultRetry
	if o.Retry != nil {
		backoff = *o.Retry
	}
	t = transport.NewRetry(t, transport.WithRetryBackoff(backoff), transport.WithRetryPredicate(retryable), transport.WithRetryStatusCodes(retryStatusCodes...))
	return transport.NewUserAgent(t, "kit")
}

// retryable reports whether a request that failed with err is worth
// another try: a temporary error or a connection that broke.
func retryable(err error) bool {
	if err == nil || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if t, ok := err.(interface{ Temporary() bool }); ok && t.Temporary() {
		return true
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed)
}

// checkRedirect refuses a redirect from one host to a private, loopback
// or link-local IP address (a cloud metadata service, say), as
// go-containerregistry does.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	from, to := via[0].URL.Hostname(), req.URL.Hostname()
	if to == from {
		return nil
	}
	to, _, _ = strings.Cut(to, "%")
	if a, err := netip.ParseAddr(to); err == nil {
		a = a.Unmap()
		if a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsUnspecified() {
			return fmt.Errorf("%w: %s to %s", errRedirectPrivate, from, to)
		}
	}
	return nil
}

// repoTransport is the authenticated transport of one repository, set up
// (pinged, logged in) on first use.
type repoTransport struct {
	once sync.Once
	rt   http.RoundTripper
	err  error
}

// transport returns the authenticated transport for ep, as remote.Puller
// sets it up: credentials from the keychain, the scheme found by pinging
// the registry, a bearer token for pulling from ep.
func (c *client) transport(ctx context.Context, ep name.Repository) (http.RoundTripper, error) {
	key := ep.Scheme() + "://" + ep.Name()
	c.mu.Lock()
	rt := c.blobRTs[key]
	if rt == nil {
		rt = &repoTransport{}
		c.blobRTs[key] = rt
	}
	c.mu.Unlock()
	rt.once.Do(func() {
		auth, err := authn.Resolve(ctx, c.keychain, ep)
		if err != nil {
			rt.err = err
			return
		}
		rt.rt, rt.err = transport.NewWithContext(ctx, ep.Registry, auth, c.rt, []string{ep.Scope(transport.PullScope)})
	})
	if rt.err != nil {
		c.mu.Lock()
		if c.blobRTs[key] == rt {
			delete(c.blobRTs, key) // try again next time
		}
		c.mu.Unlock()
		return nil, rt.err
	}
	return rt.rt, nil
}

// rawBlob GETs the blob d of ep and returns its body, unverified: the
// caller verifies it (the store does, on Commit).
func (c *client) rawBlob(ctx context.Context, ep name.Repository, d graph.Digest) (io.ReadCloser, error) {
	rt, err := c.transport(ctx, ep)
	if err != nil {
		return nil, err
	}
	u := url.URL{Scheme: ep.Scheme(), Host: ep.RegistryStr(), Path: "/v2/" + ep.RepositoryStr() + "/blobs/" + string(d)}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := (&http.Client{Transport: rt, CheckRedirect: checkRedirect}).Do(req)
	if err != nil {
		return nil, redact(err)
	}
	if err := transport.CheckError(resp, http.StatusOK); err != nil {
		resp.Body.Close()
		return nil, err
	}
	return resp.Body, nil
}

// redact drops the query of the URL in err: a redirect to a blob store
// often carries a signature there.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil && u.RawQuery != "" {
			u.RawQuery = "REDACTED"
			ue.URL = u.String()
		}
	}
	return err
}

// endpoints returns where to look for repo: its mirror, if any, then repo
// itself (with plain HTTP when configured).
func (c *client) endpoints(repo name.Repository) ([]name.Repository, error) {
	var out []name.Repository
	reg := repo.RegistryStr()
	if m, ok := c.mirrors[reg]; ok {
		path := repo.RepositoryStr()
		if m.prefix != "" {
			path = m.prefix + "/" + path
		}
		var opts []name.Option
		if m.insecure || c.insecure[m.host] || isLoopback(m.host) {
			opts = append(opts, name.Insecure)
		}
		r, err := name.NewRepository(m.host+"/"+path, opts...)
		if err != nil {
			return nil, fmt.Errorf("mirror of %s: %w", repo.Name(), err)
		}
		out = append(out, r)
	}
	var opts []name.Option
	if c.insecure[reg] || isLoopback(reg) {
		opts = append(opts, name.Insecure)
	}
	r, err := name.NewRepository(repo.Name(), opts...)
	if err != nil {
		return nil, err
	}
	return append(out, r), nil
}

// try runs f against each endpoint of repo until one succeeds. Errors are
// wrapped with subject; a mirror's error is reported beside the
// registry's.
func (c *client) try(ctx context.Context, repo name.Repository, subject string, f func(ep name.Repository) error) error {
	eps, err := c.endpoints(repo)
	if err != nil {
		return fmt.Errorf("%s: %w", subject, err)
	}
	var mirrorErrs []string
	for i, ep := range eps {
		err := f(ep)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", subject, ctx.Err())
		}
		if i < len(eps)-1 {
			mirrorErrs = append(mirrorErrs, remoteError("mirror", ep.RegistryStr(), err).Error())
			continue
		}
		werr := remoteError(subject, ep.RegistryStr(), err)
		if len(mirrorErrs) > 0 {
			return fmt.Errorf("%w (tried first: %s)", werr, strings.Join(mirrorErrs, "; "))
		}
		return werr
	}
	return nil // not reached: eps is never empty
}

// manifest fetches a manifest or index by tag or digest.
func (c *client) manifest(ctx context.Context, ref name.Reference, subject string) (raw []byte, d graph.Digest, mediaType string, err error) {
	err = c.try(ctx, ref.Context(), subject, func(ep name.Repository) error {
		var r name.Reference = ep.Tag(ref.Identifier())
		if dr, ok := ref.(name.Digest); ok {
			r = ep.Digest(dr.DigestStr())
		}
		desc, err := c.puller.Get(ctx, r)
		if err != nil {
			return err
		}
		got := graph.FromBytes(desc.Manifest)
		if dr, ok := ref.(name.Digest); ok && string(got) != dr.DigestStr() {
			return fmt.Errorf("%w: asked for %s, got %s", ErrDigestMismatch, dr.DigestStr(), got)
		}
		raw, d, mediaType = desc.Manifest, got, string(desc.MediaType)
		return nil
	})
	return raw, d, mediaType, err
}

// blob streams the blob d (of size bytes) of repo into the writer open
// returns. With verified, go-containerregistry checks the digest as it
// reads, and a mismatch gives an error wrapping ErrDigestMismatch; without,
// the bytes are not hashed here at all and the caller must verify them
// (the store does, on Commit: hashing them here too would be a second
// pass over every layer). Either way a wrong size wraps ErrDigestMismatch,
// and the caller must discard what was written after an error. reset is
// called before each new attempt (a mirror's failure falls back to the
// registry).
func (c *client) blob(ctx context.Context, repo name.Repository, d graph.Digest, size int64, verified bool, subject string, open func() (io.Writer, error), reset func()) error {
	if size < 0 {
		return fmt.Errorf("%s: blob %s has a negative size", subject, d)
	}
	first := true
	return c.try(ctx, repo, subject, func(ep name.Repository) error {
		if !first {
			reset()
		}
		first = false
		var rc io.ReadCloser
		if verified {
			l, err := c.puller.Layer(ctx, ep.Digest(string(d)))
			if err != nil {
				return err
			}
			if rc, err = l.Compressed(); err != nil {
				return err
			}
		} else {
			var err error
			if rc, err = c.rawBlob(ctx, ep, d); err != nil {
				return err
			}
		}
		defer rc.Close()
		w, err := open()
		if err != nil {
			return err
		}
		n, err := io.Copy(w, io.LimitReader(rc, size+1))
		if n > size {
			return fmt.Errorf("%w: registry %s served more than the %d bytes of %s", ErrDigestMismatch, ep.RegistryStr(), size, d)
		}
		if isVerifyError(err) {
			return fmt.Errorf("%w: registry %s served %d bytes that are not %s (%v)", ErrDigestMismatch, ep.RegistryStr(), n, d, err)
		}
		if err == nil && n < size {
			return fmt.Errorf("%w: registry %s served %d of the %d bytes of %s", ErrDigestMismatch, ep.RegistryStr(), n, size, d)
		}
		return err
	})
}

// isVerifyError recognises go-containerregistry's own digest verification
// failure (its type is internal).
func isVerifyError(err error) bool {
	return err != nil && strings.Contains(err.Error(), "error verifying")
}

// readBlob fetches a small blob into memory, verified.
func (c *client) readBlob(ctx context.Context, repo name.Repository, d graph.Digest, size, max int64, subject string) ([]byte, error) {
	if size > max {
		return nil, fmt.Errorf("%s: blob %s is %d bytes, more than the %d allowed", subject, d, size, max)
	}
	var buf bytes.Buffer
	err := c.blob(ctx, repo, d, size, true, subject,
		func() (io.Writer, error) { return &buf, nil },
		func() { buf.Reset() })
	if err != nil {
		return nil, err
	}
	if got := graph.FromBytes(buf.Bytes()); got != d {
		return nil, fmt.Errorf("%s: %w: blob %s: got %s (%d bytes)", subject, ErrDigestMismatch, d, got, buf.Len())
	}
	return buf.Bytes(), nil
}
