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
