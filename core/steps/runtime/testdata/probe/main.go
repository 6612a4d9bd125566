// Command probe reports, as JSON on stdout, what a container process sees:
// its ids, environment, capabilities, limits, namespaces and mounts. The
// runc test of package runtime runs it inside a generated bundle.
package main

import (
	"bufio"
	"encoding/json"
	"net"
	"os"
	"strings"
	"syscall"
)

func main() {
	r := map[string]any{}
	r["uid"], r["gid"], r["pid"] = os.Getuid(), os.Getgid(), os.Getpid()
	r["groups"], _ = os.Getgroups()
	r["cwd"], _ = os.Getwd()
	r["env"] = os.Environ()
	r["hostname"], _ = os.Hostname()

	caps := map[string]string{}
	if f, err := os.Open("/proc/self/status"); err == nil {
		s := bufio.NewScanner(f)
		for s.Scan() {
			if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.HasPrefix(k, "Cap") {
				caps[k] = strings.TrimSpace(v)
			}
		}
		f.Close()
	}
	r["caps"] = caps

	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_CORE, &lim); err == nil {
		r["core"] = []uint64{lim.Cur, lim.Max}
	}

	writable := map[string]bool{}
	for _, dir := range []string{"/", "/dev", "/tmp/t"} {
		p := dir + "/probe-write"
		if err := os.WriteFile(p, []byte("x"), 0o600); err == nil {
			writable[dir] = true
			os.Remove(p)
		} else {
			writable[dir] = false
		}
	}
	r["writable"] = writable

	mounts := map[string]string{}
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			pre, post, ok := strings.Cut(line, " - ")
			f, g := strings.Fields(pre), strings.Fields(post)
			if !ok || len(f) < 6 || len(g) < 1 {
				continue
			}
			mounts[f[4]] = g[0] + " " + f[5]
		}
	}
	r["mounts"] = mounts

	if b, err := os.ReadFile("/bound/file"); err == nil {
		r["bound"] = string(b)
	}
	if b, err := os.ReadFile("/proc/sys/kernel/shmmax"); err == nil {
		r["shmmax"] = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/self/oom_score_adj"); err == nil {
		r["oomScoreAdj"] = strings.TrimSpace(string(b))
	}
	if fi, err := os.Stat("/dev/kitzero"); err == nil {
		r["device"] = fi.Mode().String()
	}
	var names []string
	if ifs, err := net.Interfaces(); err == nil {
		for _, i := range ifs {
			names = append(names, i.Name)
		}
	}
	r["interfaces"] = names

	json.NewEncoder(os.Stdout).Encode(r)
}
