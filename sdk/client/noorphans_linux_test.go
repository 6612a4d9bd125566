package client_test

import (
	"bufio"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestNoOrphans: the plugin does not outlive a SIGKILLed host, both with
// the client's Pdeathsig and, without it, through the plugin's own parent
// watch.
func TestNoOrphans(t *testing.T) {
	for _, mode := range []string{"client", "exec"} {
		t.Run(mode, func(t *testing.T) {
			host := exec.Command(os.Args[0], "-test.run=^$")
			host.Env = append(os.Environ(), "KIT_SDK_TEST_HOST="+mode, "KIT_SDK_TEST_PLUGIN="+pluginBin)
			host.Stderr = os.Stderr
			out, err := host.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := host.Start(); err != nil {
				t.Fatal(err)
			}
			line, err := bufio.NewReader(out).ReadString('\n')
			if err != nil {
				_ = host.Process.Kill()
				t.Fatalf("host: %v", err)
			}
			pid, err := strconv.Atoi(strings.TrimSpace(line))
			if err != nil || pid <= 0 {
				t.Fatalf("host printed %q", line)
			}
			if !alive(pid) {
				t.Fatalf("plugin %d not running", pid)
			}
			if err := host.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = host.Wait()
			deadline := time.Now().Add(10 * time.Second)
			for alive(pid) {
				if time.Now().After(deadline) {
					_ = syscall.Kill(pid, syscall.SIGKILL)
					t.Fatalf("plugin %d survived its host by 10s", pid)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}
