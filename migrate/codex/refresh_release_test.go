//go:build !testhooks

package codex

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

// In a build without the testhooks tag not even a loopback http endpoint
// gets the refresh token (issue 10 item 8).
func TestRefreshRefusesLoopbackHTTPInRelease(t *testing.T) {
	hits := 0
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++ }))
	defer ts.Close()
	_, err := Refresh(context.Background(), ts.Client(), ts.URL, oldRefresh, refreshedNow)
	if !errors.Is(err, ErrInsecureTokenURL) || hits != 0 {
		t.Fatalf("err %v, %d requests; want ErrInsecureTokenURL and none", err, hits)
	}
}
