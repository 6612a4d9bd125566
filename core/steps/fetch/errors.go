package fetch

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Errors returned by this package wrap one of these (test with errors.Is)
// together with the underlying registry error.
var (
	// ErrNotFound: the registry does not have the image, manifest or blob.
	ErrNotFound = errors.New("not found")
	// ErrUnauthorized: the registry refused the credentials (or their
	// absence).
	ErrUnauthorized = errors.New("authentication failed")
	// ErrUnreachable: no connection could be made to the registry.
	ErrUnreachable = errors.New("registry unreachable")
	// ErrDigestMismatch: the registry served content whose digest differs
	// from the one asked for. Nothing is stored.
	ErrDigestMismatch = errors.New("digest mismatch")
	// ErrPlatform: an image index has no manifest for the target platform,
	// or an image is built for another platform.
	ErrPlatform = errors.New("platform not available")
	// ErrNotLocked: a tag is not in the lock file and the resolver is
	// frozen.
	ErrNotLocked = errors.New("not in the lock file")
	// ErrUnsupported: the registry served something kit cannot use (a
	// schema 1 manifest, an unknown media type).
	ErrUnsupported = errors.New("unsupported manifest")
)

// kindOf maps a registry client error to one of the sentinel errors, or nil.
func kindOf(err error) error {
	if errors.Is(err, ErrDigestMismatch) {
		return ErrDigestMismatch
	}
	var te *transport.Error
	if errors.As(err, &te) {
		switch te.StatusCode {
		case http.StatusNotFound:
			return ErrNotFound
		case http.StatusUnauthorized, http.StatusForbidden:
			return ErrUnauthorized
		}
		for _, d := range te.Errors {
			switch d.Code {
			case transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode, transport.BlobUnknownErrorCode:
				return ErrNotFound
			case transport.UnauthorizedErrorCode, transport.DeniedErrorCode:
				return ErrUnauthorized
			}
		}
		return nil
	}
	var dnsErr *net.DNSError
	var opErr *net.OpError
	if errors.As(err, &dnsErr) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) ||
		errors.Is(err, syscall.ENETUNREACH) || (errors.As(err, &opErr) && opErr.Op == "dial") {
		return ErrUnreachable
	}
	// go-containerregistry reports a manifest fetched by digest that does
	// not match with an unexported error; recognise it by its text.
	if strings.Contains(err.Error(), "does not match requested digest") {
		return ErrDigestMismatch
	}
	return nil
}

// remoteError wraps err, from talking to registry about subject (an image
// reference, possibly with a blob named), into a readable error.
func remoteError(subject, registry string, err error) error {
	switch kindOf(err) {
	case ErrNotFound:
		return fmt.Errorf("%s: %w on registry %s: %w", subject, ErrNotFound, registry, err)
	case ErrUnauthorized:
		return fmt.Errorf("%s: %w for registry %s (check `docker login` or the credential helper): %w", subject, ErrUnauthorized, registry, err)
	case ErrUnreachable:
		return fmt.Errorf("%s: %w: %s: %w", subject, ErrUnreachable, registry, err)
	case ErrDigestMismatch:
		if errors.Is(err, ErrDigestMismatch) {
			return fmt.Errorf("%s: %w", subject, err)
		}
		return fmt.Errorf("%s: %w from registry %s: %w", subject, ErrDigestMismatch, registry, err)
	}
	return fmt.Errorf("%s: registry %s: %w", subject, registry, err)
}
