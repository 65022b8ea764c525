package migrate

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/hermes-keys/hermes-keys/backends"
	"github.com/hermes-keys/hermes-keys/broker"
	"github.com/hermes-keys/hermes-keys/broker/hermes"
	"github.com/hermes-keys/hermes-keys/internal/iox"
)

// store writes an auth.json with n owned (manual) pool entries.
func store(n int) []byte {
	var sb strings.Builder
	sb.WriteString(`{"version":1,"providers":{},"credential_pool":{"openrouter":[`)
	for i := range n {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"id":"%06x","label":"k%d","auth_type":"api_key","priority":%d,"source":"manual","access_token":"CANARY-sk-or-%0400d","last_status":null,"last_status_at":null,"last_error_code":null,"last_error_reason":null,"last_error_message":null,"last_error_reset_at":null,"request_count":0}`, i, i, i, i)
	}
	sb.WriteString(`]}}`)
	return []byte(sb.String())
}

// BenchmarkMigrate seals stores of 10, 1,000 and 10,000 pool entries into
// a fresh vault (fake key holder: the keychain is not what is measured).
// peak-heap-MB is the largest HeapAlloc seen after each run.
func BenchmarkMigrate(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			data := store(n)
			var peak uint64
			for b.Loop() {
				b.StopTimer()
				root := b.TempDir()
				os.WriteFile(filepath.Join(root, "auth.json"), data, 0o600)
				h, err := hermes.Resolve(iox.MapEnv(map[string]string{"HERMES_HOME": root}), runtime.GOOS, root, "")
				if err != nil {
					b.Fatal(err)
				}
				kb, _ := backends.NewFake(0)
				v, _, err := broker.Create(context.Background(), filepath.Join(root, broker.DirName), kb, broker.CreateOptions{})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				rep, err := Seal(context.Background(), []hermes.Home{h}, v, Options{})
				if err != nil || len(rep.Sealed) != n {
					b.Fatalf("sealed %d of %d: %v", len(rep.Sealed), n, err)
				}
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapAlloc)
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
			b.ReportMetric(float64(len(data))/(1<<20), "store-MB")
		})
	}
}
