package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
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
	name  string
	admin string // host:port of its admin server
	cmd   *exec.Cmd
	done  chan struct{}
	log   *os.File
}

func startStage(bin string, env []string, stage, logDir string) (*stageProc, error) {
	admin, err := freePort()
	if err != nil {
		return nil, err
	}
	log, err := os.Create(filepath.Join(logDir, stage+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "run", "--stages", stage)
	cmd.Env = append(append(os.Environ(), env...), "CONTACTSYNC_ADMIN_ADDR="+admin, "CONTACTSYNC_PPROF=true")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		_ = log.Close()
		return nil, fmt.Errorf("start %s: %w", stage, err)
	}
	p := &stageProc{name: stage, admin: admin, cmd: cmd, done: make(chan struct{}), log: log}
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

// freePort is a loopback address free at the time of asking.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// profile saves the process's profile kind ("profile?seconds=5", "allocs")
// to path.
func (p *stageProc) profile(ctx context.Context, kind, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.admin+"/debug/pprof/"+kind, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("profile %s of %s: %w", kind, p.name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("profile %s of %s: %s", kind, p.name, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// waitReady polls /readyz until it answers 200 (the stage joined its group).
func (p *stageProc) waitReady(ctx context.Context) error {
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.admin+"/readyz", nil)
		if err != nil {
			return err
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if p.exited() {
			return fmt.Errorf("stage %s exited before it was ready", p.name)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stage %s not ready: %w", p.name, ctx.Err())
		case <-time.After(20 * time.Millisecond): // polling pace, not synchronisation
		}
	}
}
