package fetch

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

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
}

func newClient(o Options) (*client, error) {
	c := &client{mirrors: map[string]mirror{}, insecure: map[string]bool{}}
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
	return c, nil
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
// returns. On a mismatch of size or digest it returns an error wrapping
// ErrDigestMismatch, and the caller must discard what was written. The
// digest is checked by go-containerregistry as it reads (hashing it again
// here would cost a third pass over every layer: the store hashes it too,
// and verifies it on Commit). reset is called before each new attempt (a
// mirror's failure falls back to the registry).
func (c *client) blob(ctx context.Context, repo name.Repository, d graph.Digest, size int64, subject string, open func() (io.Writer, error), reset func()) error {
	if size < 0 {
		return fmt.Errorf("%s: blob %s has a negative size", subject, d)
	}
	first := true
	return c.try(ctx, repo, subject, func(ep name.Repository) error {
		if !first {
			reset()
		}
		first = false
		l, err := c.puller.Layer(ctx, ep.Digest(string(d)))
		if err != nil {
			return err
		}
		rc, err := l.Compressed()
		if err != nil {
			return err
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
	err := c.blob(ctx, repo, d, size, subject,
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
