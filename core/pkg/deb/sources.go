package deb

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Source is one apt source entry: a repository (URIs, the first one
// preferred, the others mirrors) with the suites and components to use.
// One-line entries have exactly one URI and suite.
type Source struct {
	Types         []string // "deb", "deb-src"
	URIs          []string
	Suites        []string
	Components    []string
	Architectures []string // restricts the architectures fetched; empty means all
	// SignedBy is the keyring file (binary .gpg or armored .asc) that signs
	// the repository; empty when the source names none (then the default
	// trusted keyrings are used) or when SignedByKey holds an inline key.
	SignedBy string
	// SignedByKey is an armored public key block given inline in a deb822
	// Signed-By field.
	SignedByKey string
	// CheckValidUntil is the source's Check-Valid-Until option; nil when
	// not set (the apt configuration then decides).
	CheckValidUntil *bool
	// Pos is "file:line" of the entry, for errors.
	Pos string
}

// HasType reports whether the source serves the given type ("deb").
func (s Source) HasType(t string) bool {
	for _, x := range s.Types {
		if x == t {
			return true
		}
	}
	return false
}

// Config is the apt configuration kit needs: the sources and the
// Acquire::Check-Valid-Until setting.
type Config struct {
	// Root is the directory the configuration was read under ("/" for the
	// machine); Signed-By paths are resolved under it.
	Root    string
	Sources []Source
	// CheckValidUntil is Acquire::Check-Valid-Until (default true).
	CheckValidUntil bool
	// TrustedKeyrings are the default keyrings (etc/apt/trusted.gpg and
	// trusted.gpg.d/*.gpg|*.asc) used for sources without Signed-By.
	TrustedKeyrings []string
}

// CheckValidUntilFor returns whether Valid-Until must be checked for src.
func (c *Config) CheckValidUntilFor(src Source) bool {
	if src.CheckValidUntil != nil {
		return *src.CheckValidUntil
	}
	return c.CheckValidUntil
}

// LoadConfig reads the apt configuration under root ("/" for the machine):
// etc/apt/sources.list, etc/apt/sources.list.d/*.list and *.sources,
// etc/apt/apt.conf and etc/apt/apt.conf.d/*. Files whose names contain
// ".disabled" are ignored, like apt's Dir::Ignore-Files-Silently.
func LoadConfig(root string) (*Config, error) {
	etc := filepath.Join(root, "etc", "apt")
	cfg := &Config{Root: root, CheckValidUntil: true}

	confFiles := []string{filepath.Join(etc, "apt.conf")}
	parts, err := listDir(filepath.Join(etc, "apt.conf.d"))
	if err != nil {
		return nil, err
	}
	for _, name := range parts {
		if aptConfName(name) {
			confFiles = append(confFiles, filepath.Join(etc, "apt.conf.d", name))
		}
	}
	for _, f := range confFiles {
		b, err := os.ReadFile(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("apt config: %w", err)
		}
		vals, err := ParseAptConf(string(b))
		if err != nil {
			return nil, fmt.Errorf("apt config %s: %w", f, err)
		}
		if v, ok := vals["acquire::check-valid-until"]; ok {
			b, ok := parseBool(v)
			if !ok {
				return nil, fmt.Errorf("apt config %s: Acquire::Check-Valid-Until: invalid boolean %q", f, v)
			}
			cfg.CheckValidUntil = b
		}
	}

	if err := cfg.addSourceFile(filepath.Join(etc, "sources.list")); err != nil {
		return nil, err
	}
	names, err := listDir(filepath.Join(etc, "sources.list.d"))
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		if ignoredName(name) {
			continue
		}
		if err := cfg.addSourceFile(filepath.Join(etc, "sources.list.d", name)); err != nil {
			return nil, err
		}
	}

	if _, err := os.Stat(filepath.Join(etc, "trusted.gpg")); err == nil {
		cfg.TrustedKeyrings = append(cfg.TrustedKeyrings, filepath.Join(etc, "trusted.gpg"))
	}
	keys, err := listDir(filepath.Join(etc, "trusted.gpg.d"))
	if err != nil {
		return nil, err
	}
	for _, name := range keys {
		if !ignoredName(name) && (strings.HasSuffix(name, ".gpg") || strings.HasSuffix(name, ".asc")) {
			cfg.TrustedKeyrings = append(cfg.TrustedKeyrings, filepath.Join(etc, "trusted.gpg.d", name))
		}
	}
	return cfg, nil
}

func (c *Config) addSourceFile(path string) error {
	var (
		srcs []Source
		err  error
	)
	switch {
	case strings.HasSuffix(path, ".sources"):
		f, oerr := os.Open(path)
		if errors.Is(oerr, fs.ErrNotExist) {
			return nil
		}
		if oerr != nil {
			return fmt.Errorf("apt sources: %w", oerr)
		}
		defer f.Close()
		srcs, err = ParseSources(f, path)
	case strings.HasSuffix(path, ".list") || filepath.Base(path) == "sources.list":
		f, oerr := os.Open(path)
		if errors.Is(oerr, fs.ErrNotExist) {
			return nil
		}
		if oerr != nil {
			return fmt.Errorf("apt sources: %w", oerr)
		}
		defer f.Close()
		srcs, err = ParseSourcesList(f, path)
	default:
		return nil // apt ignores other names in sources.list.d
	}
	if err != nil {
		return err
	}
	c.Sources = append(c.Sources, srcs...)
	return nil
}

// listDir returns the sorted names of the regular files in dir; a missing
// directory has none.
func listDir(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("apt config: %w", err)
	}
	var names []string
	for _, e := range ents {
		if e.Type().IsRegular() || e.Type()&fs.ModeSymlink != 0 {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// ignoredName mirrors apt's Dir::Ignore-Files-Silently for the names kit
// meets: backups, dpkg leftovers and anything marked ".disabled".
func ignoredName(name string) bool {
	if strings.Contains(name, ".disabled") || strings.HasPrefix(name, ".") || strings.HasSuffix(name, "~") {
		return true
	}
	for _, s := range []string{".bak", ".dpkg-old", ".dpkg-dist", ".dpkg-new", ".dpkg-tmp", ".ucf-old", ".ucf-dist", ".ucf-new", ".save", ".orig"} {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}

// aptConfName reports whether apt reads a file of apt.conf.d: names of
// letters, digits, '_', '-' and '.', with no extension or ".conf".
func aptConfName(name string) bool {
	if ignoredName(name) {
		return false
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		return name[i:] == ".conf"
	}
	return true
}

// ParseSourcesList parses the one-line format of sources.list:
//
//	deb [signed-by=/k.gpg arch=amd64] http://deb.debian.org/debian bookworm main contrib
//
// name is used in errors.
func ParseSourcesList(r io.Reader, name string) ([]Source, error) {
	var out []Source
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if i := strings.IndexByte(text, '#'); i >= 0 {
			text = text[:i]
		}
		fields := strings.Fields(text)
		if len(fields) == 0 {
			continue
		}
		pos := fmt.Sprintf("%s:%d", name, line)
		src := Source{Types: []string{fields[0]}, Pos: pos}
		if fields[0] != "deb" && fields[0] != "deb-src" {
			return nil, fmt.Errorf("apt sources %s: unknown type %q", pos, fields[0])
		}
		rest := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(text), fields[0]))
		if strings.HasPrefix(rest, "[") {
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return nil, fmt.Errorf("apt sources %s: unterminated [options]", pos)
			}
			for _, opt := range strings.Fields(rest[1:end]) {
				k, v, ok := strings.Cut(opt, "=")
				if !ok {
					return nil, fmt.Errorf("apt sources %s: option %q: want key=value", pos, opt)
				}
				if err := src.setOption(strings.TrimRight(k, "+-"), v, ","); err != nil {
					return nil, fmt.Errorf("apt sources %s: %w", pos, err)
				}
			}
			rest = rest[end+1:]
		}
		fields = strings.Fields(rest)
		if len(fields) < 2 {
			return nil, fmt.Errorf("apt sources %s: want URI and suite", pos)
		}
		src.URIs = []string{fields[0]}
		src.Suites = []string{fields[1]}
		src.Components = fields[2:]
		if err := src.check(); err != nil {
			return nil, fmt.Errorf("apt sources %s: %w", pos, err)
		}
		out = append(out, src)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("apt sources %s: %w", name, err)
	}
	return out, nil
}

// ParseSources parses a deb822 .sources file. Entries with "Enabled: no"
// are skipped. name is used in errors.
func ParseSources(r io.Reader, name string) ([]Source, error) {
	var out []Source
	n := 0
	err := ReadParagraphs(r, func(p Paragraph) error {
		n++
		pos := fmt.Sprintf("%s: entry %d", name, n)
		if v, ok := p.Get("Enabled"); ok {
			b, ok := parseBool(v)
			if !ok {
				return fmt.Errorf("apt sources %s: Enabled: invalid boolean %q", pos, v)
			}
			if !b {
				return nil
			}
		}
		src := Source{
			Types:      strings.Fields(p.Value("Types")),
			URIs:       strings.Fields(p.Value("URIs")),
			Suites:     strings.Fields(p.Value("Suites")),
			Components: strings.Fields(p.Value("Components")),
			Pos:        pos,
		}
		for _, k := range p.Fields() {
			switch strings.ToLower(k) {
			case "types", "uris", "suites", "components", "enabled":
				continue
			}
			if err := src.setOption(strings.ToLower(k), p.Value(k), " "); err != nil {
				return fmt.Errorf("apt sources %s: %w", pos, err)
			}
		}
		for _, t := range src.Types {
			if t != "deb" && t != "deb-src" {
				return fmt.Errorf("apt sources %s: unknown type %q", pos, t)
			}
		}
		if err := src.check(); err != nil {
			return fmt.Errorf("apt sources %s: %w", pos, err)
		}
		out = append(out, src)
		return nil
	})
	if err != nil {
		var pe *ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("apt sources %s:%d: %s", name, pe.Line, pe.Msg)
		}
		return nil, err
	}
	return out, nil
}

// setOption applies one source option; sep separates list values.
func (s *Source) setOption(key, value, sep string) error {
	list := func() []string {
		if sep == " " {
			return strings.Fields(value)
		}
		return strings.Split(value, sep)
	}
	switch strings.ToLower(key) {
	case "arch", "architectures":
		s.Architectures = list()
	case "signed-by":
		v := strings.TrimSpace(value)
		if strings.Contains(v, "-----BEGIN PGP PUBLIC KEY BLOCK-----") {
			s.SignedByKey = v
		} else if len(strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })) > 1 {
			// Several keyrings or fingerprints; kit supports one keyring path.
			return fmt.Errorf("Signed-By %q: only one keyring path or inline key is supported", clip(v))
		} else {
			s.SignedBy = v
		}
	case "check-valid-until":
		b, ok := parseBool(value)
		if !ok {
			return fmt.Errorf("Check-Valid-Until: invalid boolean %q", value)
		}
		s.CheckValidUntil = &b
	}
	// Other options (lang, target, trusted, pdiffs, ...) do not change what
	// kit fetches and are ignored.
	return nil
}

func (s *Source) check() error {
	if len(s.Types) == 0 {
		return fmt.Errorf("no Types")
	}
	if len(s.URIs) == 0 {
		return fmt.Errorf("no URIs")
	}
	if len(s.Suites) == 0 {
		return fmt.Errorf("no Suites")
	}
	for _, suite := range s.Suites {
		if strings.HasSuffix(suite, "/") {
			if len(s.Components) > 0 {
				return fmt.Errorf("suite %q is a flat repository path and takes no components", suite)
			}
		} else if len(s.Components) == 0 {
			return fmt.Errorf("suite %q: no Components", suite)
		}
	}
	return nil
}

// parseBool reads apt's booleans.
func parseBool(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "yes", "true", "1", "on", "enable":
		return true, true
	case "no", "false", "0", "off", "disable":
		return false, true
	}
	return false, false
}
