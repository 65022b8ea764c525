package hermes

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// poolDoc is an auth.json with n pool entries shaped like Hermes's Codex
// device_code entries (a 1.5 KB JWT access token each), written as the
// July writer writes (indent=2, ASCII, final newline).
func poolDoc(tb testing.TB, n int) []byte {
	tb.Helper()
	jwt := "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9." + strings.Repeat("eyJleHAiOjE3ODQ1NDg4MDB9", 60) + ".CANARY-sig"
	entries := make([]map[string]any, n)
	for i := range entries {
		entries[i] = map[string]any{
			"id": fmt.Sprintf("%06x", i), "label": "me@example.com", "auth_type": "oauth", "priority": i,
			"source": "manual:device_code", "access_token": jwt, "refresh_token": fmt.Sprintf("rt_CANARY-%08d", i),
			"last_status": nil, "last_status_at": nil, "last_error_code": nil, "last_error_reason": nil,
			"last_error_message": nil, "last_error_reset_at": nil, "base_url": "https://chatgpt.com/backend-api/codex",
			"last_refresh": "2026-07-20T09:40:03.118204Z", "request_count": 17,
		}
	}
	raw, err := json.Marshal(map[string]any{"version": 1, "providers": map[string]any{},
		"credential_pool": map[string]any{"openai-codex": entries}})
	if err != nil {
		tb.Fatal(err)
	}
	doc, err := ParseObject(raw)
	if err != nil {
		tb.Fatal(err)
	}
	doc.Style = StyleJUL
	out, err := doc.Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

var benchSizes = []int{10, 1000, 10000}

// BenchmarkSplit: the cost of splitting grows linearly with the number of
// pool entries (compare ns/op and allocs/op per entry across sizes).
func BenchmarkSplit(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			data := poolDoc(b, n)
			doc, err := ParseDoc(data)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, blocks, err := Split(doc, testMarker); err != nil || len(blocks) != n {
					b.Fatal(err, len(blocks))
				}
			}
			b.ReportMetric(float64(len(data))/1e6, "MB/doc")
		})
	}
}

// BenchmarkParseDoc: reading (validating and indexing) the same stores.
func BenchmarkParseDoc(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			data := poolDoc(b, n)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseDoc(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMergeAllPresent: the file already has every entry (the common
// case after Hermes ran): each block is looked up, none restored.
func BenchmarkMergeAllPresent(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			doc, _ := ParseDoc(poolDoc(b, n))
			_, blocks, err := Split(doc, testMarker)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, rep, err := Merge(doc, blocks); err != nil || len(rep.Kept) != n {
					b.Fatal(err, len(rep.Kept))
				}
			}
		})
	}
}

// BenchmarkUnseal: putting every entry back and writing the document out.
func BenchmarkUnseal(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			data := poolDoc(b, n)
			doc, _ := ParseDoc(data)
			sk, blocks, err := Split(doc, testMarker)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				out, _, err := Unseal(sk, blocks)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := out.Marshal(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestTenThousandEntryStoreFits(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 20 MB document")
	}
	data := poolDoc(t, 10000)
	if len(data) > MaxDocSize {
		t.Fatalf("a 10,000-entry store is %d bytes, over MaxDocSize", len(data))
	}
	if _, err := ParseDoc(data); err != nil {
		t.Fatal(err)
	}
}
