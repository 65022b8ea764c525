package lazyre

import (
	"sync"
	"testing"
)

var pkgLevel = New(`^a+b$`)

func TestMatchesLikeRegexp(t *testing.T) {
	for s, want := range map[string]bool{"ab": true, "aaab": true, "b": false, "abc": false} {
		if got := pkgLevel.MatchString(s); got != want {
			t.Errorf("MatchString(%q) = %v, want %v", s, got, want)
		}
	}
	if got := New(`(\w)=(\w)`).FindAllSubmatch([]byte("a=b c=d"), -1); len(got) != 2 || string(got[1][2]) != "d" {
		t.Errorf("FindAllSubmatch = %q", got)
	}
}

// TestCompiledOnce: concurrent first uses share one compiled pattern (run
// with -race).
func TestCompiledOnce(t *testing.T) {
	r := New(`x+`)
	var wg sync.WaitGroup
	res := make(chan any, 8)
	for range 8 {
		wg.Add(1)
		go func() { defer wg.Done(); res <- r.Re() }()
	}
	wg.Wait()
	close(res)
	first := <-res
	for p := range res {
		if p != first {
			t.Fatal("pattern compiled more than once")
		}
	}
}

func TestBadPatternPanicsOnUse(t *testing.T) {
	r := New(`(`) // declaring it must not panic
	defer func() {
		if recover() == nil {
			t.Fatal("a bad pattern did not panic on first use")
		}
	}()
	r.MatchString("x")
}
