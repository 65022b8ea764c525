//go:build !windows

package daemon

import (
	"context"
	"slices"
	"testing"
	"time"
)

// BenchmarkGetRoundTrip: one client, one get at a time, over the socket;
// reports the p50 and p99 of the round trip.
func BenchmarkGetRoundTrip(b *testing.B) {
	_, _, c := unlockedDaemon(b, nil)
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if _, _, err := c.Get(ctx, "openai-codex.tokens.access_token", ""); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	reportPercentiles(b, lat)
}

// BenchmarkEnvRoundTrip: the env op, as `hermes-keys env` sends it.
func BenchmarkEnvRoundTrip(b *testing.B) {
	_, _, c := unlockedDaemon(b, nil)
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if _, err := c.Env(ctx, ""); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	reportPercentiles(b, lat)
}

// BenchmarkGetParallel: throughput with one connection per goroutine
// (GOMAXPROCS × -cpu goroutines, each its own client).
func BenchmarkGetParallel(b *testing.B) {
	_, d, _ := unlockedDaemon(b, nil)
	ctx := context.Background()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c, err := Dial(d.sock)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		for pb.Next() {
			if _, _, err := c.Get(ctx, "openai-codex.tokens.access_token", ""); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "gets/s")
}

// BenchmarkDialPingClose: a new connection per request, as a CLI process
// or a one-shot script makes.
func BenchmarkDialPingClose(b *testing.B) {
	_, d, _ := unlockedDaemon(b, nil)
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		c, err := Dial(d.sock)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := c.Get(ctx, "openai-codex.tokens.access_token", ""); err != nil {
			b.Fatal(err)
		}
		c.Close()
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	reportPercentiles(b, lat)
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	p := func(q float64) float64 {
		return float64(lat[min(len(lat)-1, int(q*float64(len(lat))))].Nanoseconds()) / 1e3
	}
	b.ReportMetric(p(0.50), "p50-µs")
	b.ReportMetric(p(0.99), "p99-µs")
}
