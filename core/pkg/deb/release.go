package deb

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// ErrSignature is wrapped by errors of an InRelease file whose signature
// does not verify against the source's keyring.
var ErrSignature = errors.New("signature verification failed")

// ErrExpired is wrapped by errors of a Release file past its Valid-Until.
var ErrExpired = errors.New("release file expired")

// FileHash is one entry of a Release file's SHA256 section.
type FileHash struct {
	Path   string // relative to dists/SUITE/, e.g. "main/binary-amd64/Packages.xz"
	SHA256 string // hex
	Size   int64
}

// Release is the verified content of a suite's InRelease file.
type Release struct {
	Origin, Label, Suite, Codename string
	Date, ValidUntil               time.Time // zero when absent
	Architectures, Components      []string
	// Files maps each path of the SHA256 section to its entry.
	Files map[string]FileHash
}

// LoadKeyring reads an OpenPGP keyring file: a binary keyring (.gpg) or an
// ASCII-armored one (.asc), recognised by content.
func LoadKeyring(path string) (openpgp.EntityList, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	el, err := ParseKeyring(b)
	if err != nil {
		return nil, fmt.Errorf("keyring %s: %w", path, err)
	}
	return el, nil
}

// ParseKeyring parses binary or ASCII-armored OpenPGP public keys.
func ParseKeyring(b []byte) (openpgp.EntityList, error) {
	var (
		el  openpgp.EntityList
		err error
	)
	if bytes.Contains(b, []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----")) {
		el, err = openpgp.ReadArmoredKeyRing(bytes.NewReader(b))
	} else {
		el, err = openpgp.ReadKeyRing(bytes.NewReader(b))
	}
	if err != nil {
		return nil, err
	}
	if len(el) == 0 {
		return nil, fmt.Errorf("no keys")
	}
	return el, nil
}

// VerifyInRelease checks the clearsigned InRelease document data against
// keyring at time now and parses the signed part. Content outside the
// signed block is refused. When checkValidUntil is set, a Valid-Until in
// the past is refused with an error wrapping ErrExpired.
func VerifyInRelease(data []byte, keyring openpgp.EntityList, now time.Time, checkValidUntil bool) (*Release, error) {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if !bytes.HasPrefix(trimmed, []byte("-----BEGIN PGP SIGNED MESSAGE-----")) {
		return nil, fmt.Errorf("not a clearsigned document: %w", ErrSignature)
	}
	block, rest := clearsign.Decode(trimmed)
	if block == nil {
		return nil, fmt.Errorf("malformed clearsigned document: %w", ErrSignature)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("unsigned data after the signature: %w", ErrSignature)
	}
	cfg := &packet.Config{Time: func() time.Time { return now }}
	if _, err := block.VerifySignature(keyring, cfg); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSignature, err)
	}
	rel, err := ParseRelease(block.Plaintext)
	if err != nil {
		return nil, err
	}
	if checkValidUntil && !rel.ValidUntil.IsZero() && now.After(rel.ValidUntil) {
		return nil, fmt.Errorf("valid until %s, now %s: %w", rel.ValidUntil.UTC().Format(time.RFC1123), now.UTC().Format(time.RFC1123), ErrExpired)
	}
	return rel, nil
}

// ParseRelease parses the (already verified) text of a Release file.
func ParseRelease(text []byte) (*Release, error) {
	ps, err := ParseParagraphs(bytes.NewReader(text))
	if err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	if len(ps) != 1 {
		return nil, fmt.Errorf("release: want one paragraph, have %d", len(ps))
	}
	p := ps[0]
	rel := &Release{
		Origin:        p.Value("Origin"),
		Label:         p.Value("Label"),
		Suite:         p.Value("Suite"),
		Codename:      p.Value("Codename"),
		Architectures: strings.Fields(p.Value("Architectures")),
		Components:    strings.Fields(p.Value("Components")),
		Files:         map[string]FileHash{},
	}
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"Date", &rel.Date}, {"Valid-Until", &rel.ValidUntil}} {
		v, ok := p.Get(f.name)
		if !ok {
			continue
		}
		t, err := parseReleaseTime(v)
		if err != nil {
			return nil, fmt.Errorf("release: %s: %w", f.name, err)
		}
		*f.dst = t
	}
	sums, ok := p.Get("SHA256")
	if !ok {
		return nil, fmt.Errorf("release: no SHA256 field")
	}
	for _, line := range strings.Split(sums, "\n") {
		fs := strings.Fields(line)
		if len(fs) == 0 {
			continue
		}
		if len(fs) != 3 || !isHex64(fs[0]) {
			return nil, fmt.Errorf("release: SHA256: malformed line %q", clip(line))
		}
		size, err := strconv.ParseInt(fs[1], 10, 64)
		if err != nil || size < 0 {
			return nil, fmt.Errorf("release: SHA256: %s: invalid size %q", fs[2], fs[1])
		}
		rel.Files[fs[2]] = FileHash{Path: fs[2], SHA256: fs[0], Size: size}
	}
	return rel, nil
}

func parseReleaseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC1123, time.RFC1123Z, "Mon, 2 Jan 2006 15:04:05 MST", "Mon, 2 Jan 2006 15:04:05 -0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("invalid date %q", clip(s))
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
