package testkit_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/internal/testkit"
)

func TestDo(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Auth", r.Header.Get("Authorization"))
		w.WriteHeader(http.StatusTeapot)
		_, _ = w.Write([]byte(r.Method + " " + r.URL.RawQuery))
	}))
	defer srv.Close()
	req := testkit.NewRequest(t, http.MethodPost, srv.URL+"?a=1", "body", nil, testkit.Bearer("good:ann"))
	r := testkit.Do(t, srv.Client(), req)
	if r.Status != http.StatusTeapot || string(r.Body) != "POST a=1" || r.Header.Get("X-Auth") != "Bearer good:ann" {
		t.Fatalf("response %+v", r)
	}
}

func TestWantError(t *testing.T) {
	jsonHeader := http.Header{"Content-Type": {"application/json"}}
	good := testkit.Response{Status: 403, Header: jsonHeader, Body: []byte(`{"error":{"code":103,"message":"permission denied"}}`)}
	testkit.WantError(t, good, 403, 103)
	for name, tc := range map[string]struct {
		r    testkit.Response
		want string
	}{
		"other status":     {testkit.Response{Status: 400, Header: jsonHeader, Body: good.Body}, "want status 403"},
		"other code":       {testkit.Response{Status: 403, Header: jsonHeader, Body: []byte(`{"error":{"code":101,"message":"x"}}`)}, "want status 403 code 103"},
		"no message":       {testkit.Response{Status: 403, Header: jsonHeader, Body: []byte(`{"error":{"code":103}}`)}, "with a message"},
		"another field":    {testkit.Response{Status: 403, Header: jsonHeader, Body: []byte(`{"error":{"code":103,"message":"x"},"more":1}`)}, "not an error body"},
		"no error":         {testkit.Response{Status: 403, Header: jsonHeader, Body: []byte(`{}`)}, "not an error body"},
		"not JSON":         {testkit.Response{Status: 403, Header: jsonHeader, Body: []byte(`denied`)}, "not an error body"},
		"not sent as JSON": {testkit.Response{Status: 403, Header: http.Header{"Content-Type": {"text/plain"}}, Body: good.Body}, "Content-Type"},
	} {
		t.Run(name, func(t *testing.T) {
			r := &recorder{TB: t}
			r.run(func() { testkit.WantError(r, tc.r, 403, 103) })
			if !strings.Contains(r.fatal, tc.want) {
				t.Fatalf("failed with %q, want %q", r.fatal, tc.want)
			}
		})
	}
}
