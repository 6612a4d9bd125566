package graphbuild

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// Changed lists the files (absolute) that differ between the git revision
// rev and the working tree of the repository holding dir: `git diff
// --name-only REV` (committed, staged and unstaged changes, deletions
// included) and untracked files that are not ignored.
func Changed(ctx context.Context, dir, rev string) ([]string, error) {
	top, err := git(ctx, dir, "rev-parse", "--show-toplevel")
	if err != nil {
		return nil, err
	}
	top = strings.TrimSpace(top)
	if _, err := git(ctx, dir, "rev-parse", "--verify", "--quiet", rev+"^{commit}"); err != nil {
		return nil, fmt.Errorf("--affected-since %s: not a git revision of %s", rev, top)
	}
	diff, err := git(ctx, top, "diff", "--name-only", "--no-renames", "-z", rev, "--")
	if err != nil {
		return nil, err
	}
	untracked, err := git(ctx, top, "ls-files", "--others", "--exclude-standard", "--full-name", "-z")
	if err != nil {
		return nil, err
	}
	var out []string
	seen := map[string]bool{}
	for _, list := range []string{diff, untracked} {
		for _, p := range strings.Split(list, "\x00") {
			if p == "" {
				continue
			}
			a := filepath.Join(top, filepath.FromSlash(p))
			if !seen[a] {
				seen[a] = true
				out = append(out, a)
			}
		}
	}
	return out, nil
}

func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s (in %s): %w: %s", strings.Join(args, " "), dir, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// Affected returns the systems and packages of sel whose inputs hold a
// changed file: for a system its spec files, lock file, local sources,
// the workspace file declaring it, and the directories of the packages it
// uses; for a package its directory.
func (ws *Workspace) Affected(sel *Selection, changed []string) *Selection {
	hit := func(path string, dir bool) bool {
		for _, c := range changed {
			if c == path || dir && strings.HasPrefix(c, path+string(filepath.Separator)) {
				return true
			}
		}
		return false
	}
	out := &Selection{}
	pkgHit := map[string]bool{}
	for _, p := range ws.Packages {
		pkgHit[p.Name] = hit(p.Dir, true)
	}
	for _, p := range sel.Packages {
		if pkgHit[p.Name] {
			out.Packages = append(out.Packages, p)
		}
	}
	for _, s := range sel.Systems {
		affected := false
		for _, in := range s.Inputs() {
			if hit(in, false) {
				affected = true
				break
			}
		}
		for _, name := range s.Packages {
			affected = affected || pkgHit[name]
		}
		if affected {
			out.Systems = append(out.Systems, s)
		}
	}
	return out
}
