package doctest_test

import (
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/internal/doctest"
)

const docFrame = `{"type":"message","channel":"chat:lobby","epoch":"WvaeQeUn","offset":3,"data":{"text":"yo"},"time":1795435229940,"info":{"client":"8b0533e3db2aab4e"}}`

func TestMatchBindsVolatileValues(t *testing.T) {
	b := doctest.Bindings{}
	got := `{"type":"message","channel":"chat:lobby","epoch":"Qx9_aa-1","offset":3,"data":{"text":"yo"},"time":1800000000000,"info":{"client":"0123456789abcdef"}}`
	if err := doctest.Match(docFrame, got, b, false); err != nil {
		t.Fatal(err)
	}
	if b["WvaeQeUn"] != "Qx9_aa-1" || b["8b0533e3db2aab4e"] != "0123456789abcdef" {
		t.Fatalf("bindings %v", b)
	}
	if s := b.Apply(`since: {epoch: "WvaeQeUn"}`); s != `since: {epoch: "Qx9_aa-1"}` {
		t.Fatalf("Apply: %s", s)
	}
	// A bound value must be met again as it was bound.
	other := strings.Replace(got, "Qx9_aa-1", "Zz9_aa-1", 1)
	if err := doctest.Match(docFrame, other, b, false); err == nil {
		t.Fatal("a second epoch matched the doc's epoch bound to the first")
	}
}

// TestMatchMutations is the check that a comparison can fail: each
// mutation of a documented frame — a field added, removed, renamed, or a
// value other than a volatile one changed — must not match.
func TestMatchMutations(t *testing.T) {
	got := `{"type":"message","channel":"chat:lobby","epoch":"Qx9_aa-1","offset":3,"data":{"text":"yo"},"time":1800000000000,"info":{"client":"0123456789abcdef"}}`
	for name, mutated := range map[string]string{
		"field added":    strings.Replace(got, `"offset":3,`, `"offset":3,"key":"k",`, 1),
		"field removed":  strings.Replace(got, `,"info":{"client":"0123456789abcdef"}`, ``, 1),
		"field renamed":  strings.Replace(got, `"time"`, `"ts"`, 1),
		"value changed":  strings.Replace(got, `"offset":3`, `"offset":4`, 1),
		"data changed":   strings.Replace(got, `"yo"`, `"yo!"`, 1),
		"line added":     got + "\n" + got,
		"nothing at all": "",
	} {
		if err := doctest.Match(docFrame, mutated, doctest.Bindings{}, false); err == nil {
			t.Errorf("%s: matched the doc:\n%s", name, mutated)
		}
	}
	if err := doctest.Match(docFrame, got, doctest.Bindings{}, false); err != nil {
		t.Fatalf("the unmutated frame: %v", err)
	}
}

func TestMatchSameDocValueSameActual(t *testing.T) {
	want := "{\"client\":\"c1c1c1c1\"}\n{\"client\":\"c1c1c1c1\"}"
	if err := doctest.Match(want, "{\"client\":\"aa\"}\n{\"client\":\"bb\"}", doctest.Bindings{}, false); err == nil {
		t.Fatal("one doc client matched two printed ones")
	}
	if err := doctest.Match(want, "{\"client\":\"aa\"}\n{\"client\":\"aa\"}", doctest.Bindings{}, false); err != nil {
		t.Fatal(err)
	}
}

func TestMatchEllipsisPrefixAndSSE(t *testing.T) {
	b := doctest.Bindings{}
	want := `{"channel":"c","publications":[{"offset":1}, ...]}`
	if err := doctest.Match(want, `{"channel":"c","publications":[{"offset":1},{"offset":2}]}`, b, false); err != nil {
		t.Fatal(err)
	}
	sse := "retry: 3781\n\nevent: connected\nid: AQG4\ndata: {}\n"
	if err := doctest.Match(sse, "retry: 2011\n\nevent: connected\nid: XYZ\ndata: {}\n\nevent: ping\ndata: {}\n", b, true); err != nil {
		t.Fatal(err)
	}
	if err := doctest.Match(sse, "retry: 2011\n\nevent: connected\nid: XYZ\ndata: {}\n\nevent: ping\n", b, false); err == nil {
		t.Fatal("more output matched without prefix")
	}
	if b["AQG4"] != "XYZ" {
		t.Fatalf("id not bound: %v", b)
	}
}

func TestParse(t *testing.T) {
	doc := "# T\n\n<!-- doctest: run comments -->\n```sh\ncurl x\n# {\"a\":1,\n#   \"b\":2}\n```\n\n<!-- doctest: sh\necho hidden\n-->\n\n```json\n{}\n```\n" +
		"<!-- doctest: skip reason=\"apt install\" -->\n```sh\napt install x\n```\n"
	steps, err := doctest.Parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 4 || steps[0].Directive != "run" || steps[0].Attrs["comments"] != "" || steps[1].Directive != "sh" ||
		steps[1].Body != "echo hidden" || steps[2].Lang != "json" || steps[3].Attrs["reason"] != "apt install" {
		t.Fatalf("%+v", steps)
	}
	if got := doctest.CommentOutput(steps[0].Text); got != "{\"a\":1,\"b\":2}\n" {
		t.Fatalf("comment output %q", got)
	}
	for name, bad := range map[string]string{
		"unmarked sh":         "```sh\nls\n```\n",
		"unmarked js":         "```js\nx()\n```\n",
		"unmarked transcript": "```text\n$ curl x\n```\n",
		"skip without reason": "<!-- doctest: skip -->\n```sh\nls\n```\n",
		"directive no fence":  "<!-- doctest: run -->\ntext\n```sh\nls\n```\n",
		"unknown directive":   "<!-- doctest: runn -->\n```sh\nls\n```\n",
		"unclosed fence":      "```sh\nls\n",
	} {
		if _, err := doctest.Parse(bad); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

func TestDropHeaders(t *testing.T) {
	resp := "HTTP/1.1 204 No Content\r\nAccess-Control-Max-Age: 600\r\nDate: Mon, 07 Dec 2026 15:51:02 GMT\r\nVary: Origin\r\n\r\n"
	want := "HTTP/1.1 204 No Content\nAccess-Control-Max-Age: 600\nVary: Origin\n"
	if err := doctest.Match(want, doctest.DropHeaders(resp, []string{"date"}), doctest.Bindings{}, false); err != nil {
		t.Fatal(err)
	}
	// Only the names given are dropped: another header still differs.
	extra := strings.Replace(resp, "Vary", "X-Extra: 1\r\nVary", 1)
	if err := doctest.Match(want, doctest.DropHeaders(extra, []string{"Date"}), doctest.Bindings{}, false); err == nil {
		t.Fatal("a header the doc does not show matched")
	}
	if err := doctest.Match(want, resp, doctest.Bindings{}, false); err == nil {
		t.Fatal("the Date header matched without being dropped")
	}
}

func TestLastLines(t *testing.T) {
	out := "Switchboard dev is serving on [::]:8000\n  api key: x\nexit status 0\n\n"
	if got := doctest.LastLines(out, doctest.Lines("exit status 0\n")); got != "exit status 0\n" {
		t.Fatalf("LastLines: %q", got)
	}
	if err := doctest.Match("exit status 0\n", doctest.LastLines("banner\nexit status 1\n", 1), doctest.Bindings{}, false); err == nil {
		t.Fatal("exit status 1 matched exit status 0")
	}
	if got := doctest.LastLines("a\n", 3); got != "a\n" {
		t.Fatalf("LastLines of fewer lines: %q", got)
	}
}

// TestMatchPingsAnywhere: a ping comes at any moment within ping_interval,
// so a doc that shows one last still matches output where it came first,
// but never output without it.
func TestMatchPingsAnywhere(t *testing.T) {
	sse := "retry: 1\n\nevent: connected\ndata: {}\n\ndata: {\"offset\":1}\nid: c1\n\nevent: ping\ndata: {}\n"
	early := "retry: 1\n\nevent: connected\ndata: {}\n\nevent: ping\ndata: {}\n\ndata: {\"offset\":1}\nid: c1\n\n"
	if err := doctest.Match(sse, early, doctest.Bindings{}, false); err != nil {
		t.Fatal(err)
	}
	none := "retry: 1\n\nevent: connected\ndata: {}\n\ndata: {\"offset\":1}\nid: c1\n\n"
	if err := doctest.Match(sse, none, doctest.Bindings{}, true); err == nil {
		t.Fatal("output without the ping the doc shows matched")
	}
	ws := "{\"type\":\"connect\"}\n{\"type\":\"join\"}\n"
	if err := doctest.Match(ws, "{\"type\":\"connect\"}\n{\"type\":\"ping\"}\n{\"type\":\"join\"}\n", doctest.Bindings{}, false); err != nil {
		t.Fatal(err)
	}
	if err := doctest.Match(ws, "{\"type\":\"connect\"}\n{\"type\":\"ping\"}\n{\"type\":\"leave\"}\n", doctest.Bindings{}, false); err == nil {
		t.Fatal("a ping hid a frame that differs")
	}
}

func TestUnwrap(t *testing.T) {
	doc := "{\"results\":[\n  {\"channel\":\"a\",\"offset\":1},\n  {\"channel\":\"b\",\"offset\":2}\n]}\n{\"next\":1}\n"
	want := "{\"results\":[{\"channel\":\"a\",\"offset\":1},{\"channel\":\"b\",\"offset\":2}]}\n{\"next\":1}\n"
	if got := doctest.Unwrap(doc); got != want {
		t.Fatalf("Unwrap:\n%s\nwant:\n%s", got, want)
	}
}

// TestJSONAny checks the json output mode: the doc's layout does not
// matter, the fields named any match whatever value, and everything else
// is still compared.
func TestJSONAny(t *testing.T) {
	doc := "{\n  \"version\": \"v0.1.0\",\n  \"broker\": \"memory\",\n  \"sessions\": {\"websocket\": 1520},\n  \"ready\": true\n}\n"
	want, err := doctest.JSON(doc, []string{"version", "sessions"})
	if err != nil {
		t.Fatal(err)
	}
	got := doctest.CompactJSON(`{"version":"dev","broker":"memory","sessions":{"sse":2,"poll":1},"ready":true}` + "\n")
	if err := doctest.Match(want, got, doctest.Bindings{}, false); err != nil {
		t.Fatal(err)
	}
	for name, mutated := range map[string]string{
		"value changed": strings.Replace(got, `"memory"`, `"redis"`, 1),
		"field renamed": strings.Replace(got, `"ready"`, `"is_ready"`, 1),
		"field added":   strings.Replace(got, `"ready":true`, `"ready":true,"extra":1`, 1),
		"field removed": strings.Replace(got, `"broker":"memory",`, ``, 1),
	} {
		if err := doctest.Match(want, mutated, doctest.Bindings{}, false); err == nil {
			t.Errorf("%s: matched the doc:\n%s", name, mutated)
		}
	}
	if _, err := doctest.JSON(doc, []string{"uptime"}); err == nil {
		t.Error("a field the doc does not show was accepted in any=")
	}
}

// grpcurlDoc is a Subscribe stream as grpcurl prints it: protobuf JSON, one
// indented object per message, int64 and uint64 values as strings.
const grpcurlDoc = `{
  "connected": {
    "client": "7ff52838f080c668",
    "pingInterval": 25
  }
}
{
  "publication": {
    "channel": "lab:grpc",
    "epoch": "9odSDHmC",
    "offset": "1",
    "data": "{\"text\":\"hi\"}",
    "time": "1796668135891"
  }
}`

func TestMatchGRPCurl(t *testing.T) {
	got := strings.NewReplacer("7ff52838f080c668", "0123456789abcdef", "9odSDHmC", "Qx9_aa-1", "1796668135891", "1800000000000").Replace(grpcurlDoc)
	b := doctest.Bindings{}
	if err := doctest.Match(grpcurlDoc, got, b, false); err != nil {
		t.Fatal(err)
	}
	if b["9odSDHmC"] != "Qx9_aa-1" || b["7ff52838f080c668"] != "0123456789abcdef" {
		t.Fatalf("bindings %v", b)
	}
	// Keep-alives come at any moment: grpcurl prints {"ping": {}}.
	ping := "{\n  \"ping\": {}\n}\n"
	withPing := strings.Replace(got, "}\n{\n  \"publication\"", "}\n"+ping+"{\n  \"publication\"", 1)
	if err := doctest.Match(grpcurlDoc+"\n"+ping, withPing, doctest.Bindings{}, false); err != nil {
		t.Fatalf("a ping between messages: %v", err)
	}
	if err := doctest.Match(grpcurlDoc+"\n"+ping, got, doctest.Bindings{}, false); err == nil {
		t.Fatal("the doc's ping matched output without one")
	}
	for name, mutated := range map[string]string{
		"offset changed":    strings.Replace(got, `"offset": "1"`, `"offset": "2"`, 1),
		"time not a number": strings.Replace(got, `"time": "1800000000000"`, `"time": "soon"`, 1),
		"field added":       strings.Replace(got, `"offset": "1",`, `"offset": "1",`+"\n    \"key\": \"k\",", 1),
	} {
		if err := doctest.Match(grpcurlDoc, mutated, doctest.Bindings{}, false); err == nil {
			t.Errorf("%s: matched the doc:\n%s", name, mutated)
		}
	}
}
