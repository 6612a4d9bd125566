package graph

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"strings"
)

// Digest is a content digest in OCI form, "sha256:<64 hex digits>".
type Digest string

// ParseDigest checks that s is a well-formed sha256 digest.
func ParseDigest(s string) (Digest, error) {
	hexpart, ok := strings.CutPrefix(s, "sha256:")
	if !ok {
		return "", fmt.Errorf("digest %q: only sha256 digests are supported", s)
	}
	if len(hexpart) != 64 {
		return "", fmt.Errorf("digest %q: want 64 hex digits, have %d", s, len(hexpart))
	}
	for _, c := range hexpart {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return "", fmt.Errorf("digest %q: invalid character %q", s, c)
		}
	}
	return Digest(s), nil
}

// Hex returns the hex part of the digest.
func (d Digest) Hex() string { return strings.TrimPrefix(string(d), "sha256:") }

// Short returns the first 12 hex digits, for humans.
func (d Digest) Short() string {
	h := d.Hex()
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func (d Digest) String() string { return string(d) }

// Validate reports whether d is well formed.
func (d Digest) Validate() error {
	_, err := ParseDigest(string(d))
	return err
}

// FromBytes returns the digest of b.
func FromBytes(b []byte) Digest {
	sum := sha256.Sum256(b)
	return Digest("sha256:" + hex.EncodeToString(sum[:]))
}

// Digester computes a Digest while data is written to it.
type Digester struct{ h hash.Hash }

// NewDigester returns a Digester ready for writes.
func NewDigester() *Digester { return &Digester{h: sha256.New()} }

// Write adds p to the digest; it never fails.
func (d *Digester) Write(p []byte) (int, error) { return d.h.Write(p) }

// Digest returns the digest of everything written so far.
func (d *Digester) Digest() Digest {
	return Digest("sha256:" + hex.EncodeToString(d.h.Sum(nil)))
}
