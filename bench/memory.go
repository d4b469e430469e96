package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// RSS is a process's resident memory, in bytes.
type RSS struct {
	Total int64 // VmRSS
	Anon  int64 // RssAnon: the process's own memory, without mapped files
}

// ReadRSS reads a process's resident memory from /proc.
func ReadRSS(pid int) (RSS, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return RSS{}, err
	}
	defer f.Close()
	var r RSS
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) < 1 {
			continue
		}
		kb, _ := strconv.ParseInt(fields[0], 10, 64)
		switch name {
		case "VmRSS":
			r.Total = kb << 10
		case "RssAnon":
			r.Anon = kb << 10
		}
	}
	return r, sc.Err()
}

// CollectGarbage asks a node to run a full GC and return freed memory to the
// operating system (its debug endpoint, enabled by --debug-endpoints), and
// returns the node's Go memory statistics.
func CollectGarbage(ctx context.Context, nodeURL, apiKey string) (map[string]any, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, nodeURL+"/debug/gc", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "apikey "+apiKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("debug/gc: status %d", resp.StatusCode)
	}
	var out map[string]any
	return out, json.NewDecoder(resp.Body).Decode(&out)
}

// clockTicks is the unit of the CPU times in /proc/<pid>/stat (USER_HZ,
// 100 on every Linux architecture Go supports).
const clockTicks = 100

// ReadCPU reads the CPU time a process has used so far, user and system,
// from /proc/<pid>/stat. Its resolution is one clock tick (10 ms), so it is
// meant for windows of seconds.
func ReadCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: fields are
	// counted from after its closing parenthesis.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	fields := strings.Fields(string(b[i+1:]))
	// After the name: state(3) … utime(14) stime(15), 1-based overall.
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad CPU times", pid)
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}
