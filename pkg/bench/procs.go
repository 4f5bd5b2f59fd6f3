package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// BuildBinary builds the all-in-one contactsync binary into dir.
func BuildBinary(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "contactsync")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/contactsync/contactsync/services/contactsync")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build contactsync: %w\n%s", err, out)
	}
	return bin, nil
}

// stageProc is one `contactsync run --stages X` process.
type stageProc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
}

func startStage(bin string, env []string, stage, logDir string) (*stageProc, error) {
	log, err := os.Create(filepath.Join(logDir, stage+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "run", "--stages", stage)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		_ = log.Close()
		return nil, fmt.Errorf("start %s: %w", stage, err)
	}
	p := &stageProc{name: stage, cmd: cmd, done: make(chan struct{}), log: log}
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p, nil
}

// peakRSS is the process's peak resident set (VmHWM) in bytes.
func (p *stageProc) peakRSS() (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", p.cmd.Process.Pid)
}

// stop asks the process to finish (SIGTERM) and kills it after 20 s.
func (p *stageProc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	_ = p.log.Close()
}

func (p *stageProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}
