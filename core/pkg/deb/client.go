package deb

import (
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"golang.org/x/sync/errgroup"

	"github.com/kitbuild/kit/core/graph"
)

// Media types of the blobs the client stores.
const (
	MediaTypeInRelease = "application/vnd.debian.inrelease"
	MediaTypePackages  = "application/vnd.debian.packages"
	MediaTypeDeb       = "application/vnd.debian.binary-package"
)

// ErrChecksum is wrapped by errors of downloads whose size or SHA256 does
// not match the signed index.
var ErrChecksum = errors.New("checksum mismatch")

// ErrNotFound is wrapped when a mirror does not (or no longer) serve a file.
var ErrNotFound = errors.New("not served by the mirror")

// Store is the part of kit's content-addressed cache the client needs;
// *cache.Store implements it.
type Store interface {
	Has(d graph.Digest) bool
	Open(ctx context.Context, d graph.Digest) (io.ReadCloser, error)
	Create(ctx context.Context) (graph.BlobWriter, error)
}

// Client fetches signed indexes and packages from apt repositories into a
// Store, verifying everything it stores. Its methods may be called
// concurrently.
type Client struct {
	store    Store
	http     *http.Client
	now      func() time.Time
	arch     string
	logf     func(format string, args ...any)
	fetchLog string
	logMu    sync.Mutex // serialises fetch log updates
}

// Option sets an optional Client setting.
type Option func(*Client)

// WithHTTPClient sets the HTTP client (default http.DefaultClient).
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// WithClock sets the clock used for signature and Valid-Until checks.
func WithClock(now func() time.Time) Option { return func(c *Client) { c.now = now } }

// WithArch sets the Debian architecture to fetch (default "amd64").
func WithArch(arch string) Option { return func(c *Client) { c.arch = arch } }

// WithLogf receives one line per fetched file.
func WithLogf(logf func(format string, args ...any)) Option {
	return func(c *Client) { c.logf = logf }
}

// WithFetchLog records every fetched index (URL, digest, size, time) in the
// JSON file at path, and lets the client fall back to the last verified
// InRelease of a suite when its mirrors cannot be reached.
func WithFetchLog(path string) Option { return func(c *Client) { c.fetchLog = path } }

// NewClient returns a client storing into store.
func NewClient(store Store, opts ...Option) *Client {
	c := &Client{store: store, http: http.DefaultClient, now: time.Now, arch: "amd64", logf: func(string, ...any) {}}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Arch returns the architecture the client fetches.
func (c *Client) Arch() string { return c.arch }

// Keyring returns the keys that may sign src: its Signed-By keyring (a path
// under cfg.Root) or inline key, else the trusted keyrings of cfg.
func (c *Client) Keyring(cfg *Config, src Source) (openpgp.EntityList, error) {
	switch {
	case src.SignedByKey != "":
		el, err := ParseKeyring([]byte(src.SignedByKey))
		if err != nil {
			return nil, fmt.Errorf("source %s: inline Signed-By key: %w", src.Pos, err)
		}
		return el, nil
	case src.SignedBy != "":
		el, err := LoadKeyring(filepath.Join(cfg.Root, src.SignedBy))
		if err != nil {
			return nil, fmt.Errorf("source %s: %w", src.Pos, err)
		}
		return el, nil
	}
	var all openpgp.EntityList
	for _, k := range cfg.TrustedKeyrings {
		el, err := LoadKeyring(k)
		if err != nil {
			return nil, fmt.Errorf("source %s: %w", src.Pos, err)
		}
		all = append(all, el...)
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("source %s: no Signed-By and no trusted keyrings", src.Pos)
	}
	return all, nil
}

// Suite is one verified suite of a source.
type Suite struct {
	URI     string // the repository URI that served it
	Name    string
	Release *Release
}

// FetchRelease fetches dists/SUITE/InRelease from the source's URIs in
// order and verifies it against keyring (and its Valid-Until when
// checkValidUntil). The verified document is kept in the store.
func (c *Client) FetchRelease(ctx context.Context, src Source, suite string, keyring openpgp.EntityList, checkValidUntil bool) (*Suite, error) {
	if strings.HasSuffix(suite, "/") {
		return nil, fmt.Errorf("source %s: flat repository %q is not supported", src.Pos, suite)
	}
	var errs []error
	for _, uri := range src.URIs {
		base := strings.TrimRight(uri, "/")
		url := base + "/dists/" + suite + "/InRelease"
		data, err := c.get(ctx, url)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		return c.verifyRelease(ctx, data, base, url, suite, keyring, checkValidUntil, true)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("source %s: suite %s: %w", src.Pos, suite, err)
	}
	// No mirror answered: fall back to the last verified copy, verified
	// again (signature and Valid-Until) at the current time.
	for _, uri := range src.URIs {
		base := strings.TrimRight(uri, "/")
		url := base + "/dists/" + suite + "/InRelease"
		if prev, ok := c.lastFetched(ctx, url); ok {
			c.logf("deb: %s: %v; using the copy fetched %s", url, errors.Join(errs...), prev.Fetched.Format(time.RFC3339))
			return c.verifyRelease(ctx, prev.data, base, url, suite, keyring, checkValidUntil, false)
		}
	}
	return nil, fmt.Errorf("source %s: suite %s: %w", src.Pos, suite, errors.Join(errs...))
}

func (c *Client) verifyRelease(ctx context.Context, data []byte, base, url, suite string, keyring openpgp.EntityList, checkValidUntil, fresh bool) (*Suite, error) {
	rel, err := VerifyInRelease(data, keyring, c.now(), checkValidUntil)
	if err != nil {
		// A bad signature or an expired file is not a mirror hiccup: do
		// not try the next mirror silently.
		return nil, fmt.Errorf("InRelease %s: %w", url, err)
	}
	if fresh {
		out, err := c.putBytes(ctx, data, "InRelease")
		if err != nil {
			return nil, err
		}
		c.record(url, out)
	}
	return &Suite{URI: base, Name: suite, Release: rel}, nil
}

// indexNames are the Packages files tried, best compression first.
var indexNames = []string{"Packages.xz", "Packages.gz", "Packages"}

// FetchPackages fetches the Packages index of component in s (the first of
// .xz, .gz, plain listed in the Release file), verified against the Release
// file's SHA256 and size, and calls fn for every package of the client's
// architecture or "all".
func (c *Client) FetchPackages(ctx context.Context, s *Suite, component string, fn func(*Package) error) error {
	var (
		fh    FileHash
		found bool
	)
	for _, n := range indexNames {
		if fh, found = s.Release.Files[component+"/binary-"+c.arch+"/"+n]; found {
			break
		}
	}
	if !found {
		return fmt.Errorf("suite %s %s: no %s/binary-%s/Packages index in the Release file", s.URI, s.Name, component, c.arch)
	}
	url := s.URI + "/dists/" + s.Name + "/" + fh.Path
	d := graph.Digest("sha256:" + fh.SHA256)
	if !c.store.Has(d) {
		out, err := c.fetchVerified(ctx, url, "index "+url, fh.SHA256, fh.Size, MediaTypePackages)
		if err != nil {
			return err
		}
		c.record(url, out)
	}
	rc, err := c.store.Open(ctx, d)
	if err != nil {
		return fmt.Errorf("index %s: %w", url, err)
	}
	defer rc.Close()
	var r io.Reader = rc
	switch {
	case strings.HasSuffix(fh.Path, ".xz"):
		zr, err := newXZReader(rc)
		if err != nil {
			return fmt.Errorf("index %s: %w", url, err)
		}
		r = zr
	case strings.HasSuffix(fh.Path, ".gz"):
		zr, err := gzip.NewReader(rc)
		if err != nil {
			return fmt.Errorf("index %s: %w", url, err)
		}
		defer zr.Close()
		r = zr
	}
	if err := ReadPackages(r, s.URI, c.arch, fn); err != nil {
		return fmt.Errorf("index %s: %w", url, err)
	}
	return nil
}

// LoadIndex fetches and verifies the Release and Packages files of every
// "deb" source of cfg and indexes their packages, in source order.
func (c *Client) LoadIndex(ctx context.Context, cfg *Config) (*Index, error) {
	var pkgs []*Package
	for _, src := range cfg.Sources {
		if !src.HasType("deb") || !archListed(src.Architectures, c.arch) {
			continue
		}
		keyring, err := c.Keyring(cfg, src)
		if err != nil {
			return nil, err
		}
		for _, suite := range src.Suites {
			s, err := c.FetchRelease(ctx, src, suite, keyring, cfg.CheckValidUntilFor(src))
			if err != nil {
				return nil, err
			}
			for _, comp := range src.Components {
				err := c.FetchPackages(ctx, s, comp, func(p *Package) error {
					pkgs = append(pkgs, p)
					return nil
				})
				if err != nil {
					return nil, fmt.Errorf("source %s: %w", src.Pos, err)
				}
			}
		}
	}
	return NewIndex(c.arch, pkgs), nil
}

func archListed(list []string, arch string) bool {
	if len(list) == 0 {
		return true
	}
	for _, a := range list {
		if a == arch {
			return true
		}
	}
	return false
}

// Download fetches the package l describes into the store (unless it is
// already there) and returns its blob. The bytes are verified against
// l.SHA256 and l.Size while they stream; a mismatch is refused with an
// error wrapping ErrChecksum, a file the mirror no longer serves with one
// wrapping ErrNotFound.
func (c *Client) Download(ctx context.Context, l Locked) (graph.Output, error) {
	what := "package " + l.Name + " " + l.Version
	if err := l.validate(); err != nil {
		return graph.Output{}, fmt.Errorf("%s: %w", what, err)
	}
	d := graph.Digest("sha256:" + l.SHA256)
	name := l.Name + "_" + l.Version + "_" + l.Arch + ".deb"
	if c.store.Has(d) {
		return graph.Output{Name: name, Digest: d, Size: l.Size, MediaType: MediaTypeDeb}, nil
	}
	url := strings.TrimRight(l.Source, "/") + "/" + l.Filename
	out, err := c.fetchVerified(ctx, url, what, l.SHA256, l.Size, MediaTypeDeb)
	if err != nil {
		return graph.Output{}, err
	}
	out.Name = name
	return out, nil
}

// FetchLock downloads every package of l (a few at a time) and returns
// their blobs in the lock's order. The first failure cancels the rest.
func (c *Client) FetchLock(ctx context.Context, l Lock) ([]graph.Output, error) {
	outs := make([]graph.Output, len(l.Packages))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for i, p := range l.Packages {
		g.Go(func() error {
			out, err := c.Download(ctx, p)
			outs[i] = out
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return outs, nil
}

// fetchVerified streams url into the store, checking size and SHA256 as
// the bytes arrive; what names the file in errors.
func (c *Client) fetchVerified(ctx context.Context, url, what, wantSHA string, wantSize int64, mediaType string) (graph.Output, error) {
	body, err := c.open(ctx, url)
	if err != nil {
		return graph.Output{}, fmt.Errorf("%s: %w", what, err)
	}
	defer body.Close()
	bw, err := c.store.Create(ctx)
	if err != nil {
		return graph.Output{}, fmt.Errorf("%s: %w", what, err)
	}
	defer bw.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(bw, h), io.LimitReader(body, wantSize+1))
	if err != nil {
		return graph.Output{}, fmt.Errorf("%s: GET %s: %w", what, url, err)
	}
	if n != wantSize {
		if n > wantSize {
			return graph.Output{}, fmt.Errorf("%s: size mismatch: index says %d bytes, %s serves more: %w", what, wantSize, url, ErrChecksum)
		}
		return graph.Output{}, fmt.Errorf("%s: size mismatch: index says %d bytes, got %d from %s: %w", what, wantSize, n, url, ErrChecksum)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != wantSHA {
		return graph.Output{}, fmt.Errorf("%s: sha256 mismatch: index says %s, got %s (from %s): %w", what, wantSHA, got, url, ErrChecksum)
	}
	out, err := bw.Commit(filepath.Base(url), mediaType, graph.Digest("sha256:"+wantSHA))
	if err != nil {
		return graph.Output{}, fmt.Errorf("%s: %w", what, err)
	}
	c.logf("deb: fetched %s (%d bytes)", url, n)
	return out, nil
}

// maxInRelease bounds an InRelease file held in memory.
const maxInRelease = 64 << 20

func (c *Client) get(ctx context.Context, url string) ([]byte, error) {
	body, err := c.open(ctx, url)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	b, err := io.ReadAll(io.LimitReader(body, maxInRelease+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if len(b) > maxInRelease {
		return nil, fmt.Errorf("GET %s: larger than %d bytes", url, maxInRelease)
	}
	return b, nil
}

func (c *Client) open(ctx context.Context, url string) (io.ReadCloser, error) {
	if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
		return nil, fmt.Errorf("GET %s: only http and https URIs are supported", url)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		return resp.Body, nil
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: %s: %w", url, resp.Status, ErrNotFound)
	default:
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
}

func (c *Client) putBytes(ctx context.Context, b []byte, name string) (graph.Output, error) {
	bw, err := c.store.Create(ctx)
	if err != nil {
		return graph.Output{}, fmt.Errorf("%s: %w", name, err)
	}
	defer bw.Close()
	if _, err := bw.Write(b); err != nil {
		return graph.Output{}, fmt.Errorf("%s: %w", name, err)
	}
	out, err := bw.Commit(name, MediaTypeInRelease, "")
	if err != nil {
		return graph.Output{}, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}
