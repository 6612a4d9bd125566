package cache_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kitbuild/kit/core/cache"
	"github.com/kitbuild/kit/core/graph"
)

// The tests below re-execute the test binary as a helper process: with
// KIT_CACHE_HELPER set, TestMain runs the named helper instead of the tests.
const helperEnv = "KIT_CACHE_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		if err := runHelper(mode, os.Getenv("KIT_CACHE_DIR"), os.Getenv("KIT_CACHE_ARG")); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// bigContent is the same 4 MiB in every process.
func bigContent() []byte {
	b := make([]byte, 4<<20)
	for i := range b {
		b[i] = byte(i*7 + i>>9)
	}
	return b
}

var lockKey = graph.FromBytes([]byte("shared key"))

func runHelper(mode, dir, arg string) error {
	s, err := cache.Open(dir)
	if err != nil {
		return err
	}
	ctx := context.Background()
	switch mode {
	case "write":
		content := bigContent()
		w, err := s.Create(ctx)
		if err != nil {
			return err
		}
		defer w.Close()
		for off := 0; off < len(content); off += 64 << 10 {
			if _, err := w.Write(content[off : off+64<<10]); err != nil {
				return err
			}
		}
		o, err := w.Commit("big", "", graph.FromBytes(content))
		if err != nil {
			return err
		}
		fmt.Println(o.Digest)
		return nil
	case "hang-write":
		w, err := s.Create(ctx)
		if err != nil {
			return err
		}
		content := bigContent()
		if _, err := w.Write(content[:len(content)/2]); err != nil {
			return err
		}
		// Large blobs are written behind the producer: wait until the
		// bytes are in the temp file, so the parent sees a definite size.
		if err := waitTempSize(s, int64(len(content)/2)); err != nil {
			return err
		}
		fmt.Println("ready")
		time.Sleep(time.Minute)
		return errors.New("not killed")
	case "hang-tempdir":
		d, err := s.TempDir("step-")
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(d, "scratch"), make([]byte, 1000), 0o644); err != nil {
			return err
		}
		fmt.Println("ready")
		time.Sleep(time.Minute)
		return errors.New("not killed")
	case "count":
		n, _ := strconv.Atoi(arg)
		for range n {
			if err := increment(ctx, s, filepath.Join(dir, "counter")); err != nil {
				return err
			}
		}
		return nil
	case "hold-lock", "hold-shared":
		var unlock func()
		if mode == "hold-lock" {
			unlock, err = s.Lock(ctx, lockKey)
		} else {
			unlock, err = s.LockShared(ctx)
		}
		if err != nil {
			return err
		}
		defer unlock()
		fmt.Println("locked")
		time.Sleep(time.Minute)
		return errors.New("not killed")
	}
	return fmt.Errorf("unknown helper %q", mode)
}

// increment does a non-atomic read-modify-write of a counter file under the
// per-key lock; lost updates mean the lock did not exclude.
func increment(ctx context.Context, s *cache.Store, file string) error {
	unlock, err := s.Lock(ctx, lockKey)
	if err != nil {
		return err
	}
	defer unlock()
	b, err := os.ReadFile(file)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	time.Sleep(200 * time.Microsecond)
	return os.WriteFile(file, []byte(strconv.Itoa(n+1)), 0o644)
}

func helper(t *testing.T, mode, dir, arg string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, "KIT_CACHE_DIR="+dir, "KIT_CACHE_ARG="+arg)
	cmd.Stderr = os.Stderr
	return cmd
}

// startAndWait starts a helper and waits for it to print want.
func startAndWait(t *testing.T, cmd *exec.Cmd, want string) {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != want {
		t.Fatalf("helper printed %q, %v; want %q", line, err, want)
	}
}

func kill(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
}

func TestConcurrentWritersOfOneBlob(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	content := bigContent()
	want := graph.FromBytes(content)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := helper(t, "write", dir, "").Output()
			if err == nil && strings.TrimSpace(string(out)) != string(want) {
				err = fmt.Errorf("helper committed %q", out)
			}
			errs <- err
		}()
	}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o, err := s.Put(context.Background(), bytes.NewReader(content), "", -1)
			if err == nil && o.Digest != want {
				err = fmt.Errorf("goroutine committed %s", o.Digest)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := listDir(t, s, "blobs/sha256"); len(got) != 1 || got[0] != want.Hex() {
		t.Fatalf("blobs: %v, want exactly %s", got, want.Hex())
	}
	p, _ := s.Path(want)
	b, err := os.ReadFile(p)
	if err != nil || graph.FromBytes(b) != want {
		t.Fatalf("blob content does not match its digest (%v)", err)
	}
	if got := listDir(t, s, "tmp"); len(got) != 0 {
		t.Fatalf("tmp/ after the writers: %v", got)
	}
}

func TestLockExcludesAcrossProcesses(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	const procs, perProc, goroutines = 3, 15, 2
	var wg sync.WaitGroup
	errs := make(chan error, procs+goroutines)
	for range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- helper(t, "count", dir, strconv.Itoa(perProc)).Run()
		}()
	}
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perProc {
				if err := increment(context.Background(), s, filepath.Join(dir, "counter")); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(filepath.Join(dir, "counter"))
	if got, want := strings.TrimSpace(string(b)), strconv.Itoa((procs+goroutines)*perProc); got != want {
		t.Fatalf("counter = %s, want %s: the key lock let two holders in", got, want)
	}
}

func TestLockOfKilledHolderIsReleased(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	cmd := helper(t, "hold-lock", dir, "")
	startAndWait(t, cmd, "locked")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := s.Lock(ctx, lockKey); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock while another process holds it: %v, want a deadline error", err)
	}
	kill(t, cmd)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	unlock, err := s.Lock(ctx2, lockKey)
	if err != nil {
		t.Fatalf("Lock after the holder was killed: %v", err)
	}
	unlock()
}

func TestKilledWriterLeavesNothing(t *testing.T) {
	for _, cleanup := range []string{"open", "prune"} {
		t.Run(cleanup, func(t *testing.T) {
			dir := t.TempDir()
			s := open(t, dir)
			cmd := helper(t, "hang-write", dir, "")
			startAndWait(t, cmd, "ready")
			if got := listDir(t, s, "tmp"); len(got) != 1 {
				t.Fatalf("tmp/ during the write: %v", got)
			}
			// A live writer's temp file survives an open and a prune.
			open(t, dir)
			if _, err := s.Prune(context.Background(), 1<<40); err != nil {
				t.Fatal(err)
			}
			if got := listDir(t, s, "tmp"); len(got) != 1 {
				t.Fatalf("tmp/ of a live writer after open and prune: %v", got)
			}
			kill(t, cmd)
			content := bigContent()
			for _, d := range []graph.Digest{graph.FromBytes(content), graph.FromBytes(content[:len(content)/2])} {
				if s.Has(d) {
					t.Fatalf("a killed write is visible as %s", d)
				}
			}
			if got := listDir(t, s, "blobs/sha256"); len(got) != 0 {
				t.Fatalf("blobs after a killed write: %v", got)
			}
			if got := listDir(t, s, "tmp"); len(got) != 1 {
				t.Fatalf("tmp/ after the kill: %v, want the leftover", got)
			}
			switch cleanup {
			case "open":
				open(t, dir)
			case "prune":
				rep, err := s.Prune(context.Background(), 1<<40)
				if err != nil {
					t.Fatal(err)
				}
				if rep.TempRemoved != 1 || rep.FreedBytes != int64(len(content)/2) {
					t.Fatalf("prune report %+v, want one temp file of %d bytes", rep, len(content)/2)
				}
			}
			if got := listDir(t, s, "tmp"); len(got) != 0 {
				t.Fatalf("tmp/ after %s: %v", cleanup, got)
			}
		})
	}
}

// A scratch directory of a killed process is removed by the next Open, not
// an hour later by Prune; a live process's directory is kept.
func TestKilledProcessTempDirIsRemoved(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	mine, err := s.TempDir("mine-")
	if err != nil {
		t.Fatal(err)
	}
	cmd := helper(t, "hang-tempdir", dir, "")
	startAndWait(t, cmd, "ready")
	owners := func() (n int) {
		for _, l := range listDir(t, s, "locks") {
			if strings.HasPrefix(l, "owner-") {
				n++
			}
		}
		return n
	}
	if got := listDir(t, s, "tmp"); len(got) != 2 || owners() != 2 {
		t.Fatalf("tmp/ with two live scratch dirs: %v, %d owner locks", got, owners())
	}
	open(t, dir)
	if _, err := s.Prune(context.Background(), 1<<40); err != nil {
		t.Fatal(err)
	}
	if got := listDir(t, s, "tmp"); len(got) != 2 {
		t.Fatalf("tmp/ of live processes after open and prune: %v", got)
	}
	kill(t, cmd)
	open(t, dir)
	if got := listDir(t, s, "tmp"); len(got) != 1 || filepath.Join(dir, "tmp", got[0]) != mine {
		t.Fatalf("tmp/ after the helper was killed and the cache opened: %v, want only %s", got, mine)
	}
	if n := owners(); n != 1 {
		t.Fatalf("%d owner locks after the helper was killed, want 1", n)
	}
}

func TestPruneWaitsForBuilds(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	cmd := helper(t, "hold-shared", dir, "")
	startAndWait(t, cmd, "locked")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := s.Prune(ctx, 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Prune while a build holds the shared lock: %v, want a deadline error", err)
	}
	// Shared holders do not exclude each other.
	unlock, err := s.LockShared(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Prune(context.Background(), 0); err == nil {
		t.Fatal("Prune succeeded while this Store holds the shared lock")
	}
	unlock()
	kill(t, cmd)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	if _, err := s.Prune(ctx2, 0); err != nil {
		t.Fatalf("Prune after the build ended: %v", err)
	}
}

// waitTempSize waits until the store's only temp file holds size bytes.
func waitTempSize(s *cache.Store, size int64) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		entries, _ := os.ReadDir(filepath.Join(s.Dir(), "tmp"))
		for _, e := range entries {
			if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() && fi.Size() == size {
				return nil
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("temp file did not reach %d bytes", size)
}
