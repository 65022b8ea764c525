package hermes

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
)

// secretLike finds runs in an input that look like a secret: 8 or more
// token characters with an upper-case letter (the canaries all have one;
// the package's own messages have none).
var secretLike = regexp.MustCompile(`[A-Za-z0-9_+/=-]{8,}`)

func checkErrorLeak(t *testing.T, input []byte, err error) {
	t.Helper()
	if err == nil {
		return
	}
	msg := err.Error()
	if strings.Contains(msg, "CANARY") {
		t.Fatalf("error holds a canary: %q", msg)
	}
	for _, m := range secretLike.FindAll(input, -1) {
		if bytes.ContainsAny(m, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") && strings.Contains(msg, string(m)) {
			t.Fatalf("error repeats input %q: %q", m, msg)
		}
	}
}

func addCorpusSeeds(f *testing.F) {
	for _, b := range corpusFiles(f) {
		f.Add(b)
	}
	for _, s := range []string{
		`[]`, `{}`, ``, `{"providers": {"nous": {"refresh_token": "CANARY-trunc`,
		`{"api_key": "CANARYTOKEN123"}`, `{"providers": ["CANARYTOKEN123"]}`,
		`{"credential_pool": {"p": [{"id": "a/b", "token": "CANARY1"}, {"id": "a/b", "token": "CANARY2"}]}}`,
		`{"CANARYKEY99": {"token": "x"}}`, `{"a":1,"a":{"token":"CANARY3"}}`,
		`{"hermes_keys": {"secret": "CANARY4"}, "providers": {"x": {"token": "CANARY5"}}}`,
		"{\"label\": \"caf\xe9 CANARY6\"}", `{"a": NaN}`, strings.Repeat("[", 100),
	} {
		f.Add([]byte(s))
	}
}

func FuzzReadDoc(f *testing.F) {
	addCorpusSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := ParseDoc(data)
		checkErrorLeak(t, data, err)
		if err != nil {
			return
		}
		out, err := doc.Marshal()
		if err != nil {
			t.Fatalf("marshal of a parsed document: %v", err)
		}
		if bytes.HasPrefix(out, bom) || !json.Valid(out) {
			t.Fatal("marshalled output is not clean JSON")
		}
		again, err := ParseDoc(out)
		if err != nil {
			t.Fatalf("our own output does not parse: %v", err)
		}
		out2, _ := again.Marshal()
		if !bytes.Equal(out, out2) {
			t.Fatalf("marshal is not stable:\n%q\n%q", out, out2)
		}
	})
}

var loneSurrogate = regexp.MustCompile(`(?i)\\ud[89a-f]`)

func FuzzSplitMerge(f *testing.F) {
	addCorpusSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := ParseDoc(data)
		if err != nil {
			return
		}
		sk, blocks, err := Split(doc, testMarker)
		checkErrorLeak(t, data, err)
		if err != nil {
			t.Fatalf("split of a parsed document: %v", err)
		}
		skb, err := sk.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if HasSecret(mustMarshal(t, withoutMarker(t, sk))) {
			t.Fatalf("secret left in the skeleton: %s", skb)
		}
		for _, b := range blocks {
			if strings.Contains(b.String(), "CANARY") {
				t.Fatal("block prints a secret")
			}
		}
		stored := viaVault(t, blocks)
		back, _, err := Unseal(mustParse(t, skb), stored)
		checkErrorLeak(t, data, err)
		if err != nil {
			t.Fatalf("unseal: %v", err)
		}
		if loneSurrogate.Match(data) {
			return // block names are Go strings: a lone surrogate in a key becomes U+FFFD
		}
		got, want := mustMarshal(t, back), mustMarshal(t, withoutMarker(t, doc))
		if !bytes.Equal(got, want) {
			t.Fatalf("round trip:\ngot  %s\nwant %s", got, want)
		}
		if _, _, err := Merge(mustParse(t, skb), stored); err != nil {
			t.Fatalf("merge: %v", err)
		}
	})
}

func FuzzDotenv(f *testing.F) {
	f.Add([]byte(sampleEnv), "NEW_KEY", "CANARY value 'q' \\")
	f.Add([]byte("export A='x\\'\nB=\"y\"\n#c\n"), "A", "CANARY${X}")
	f.Add([]byte("\uFEFFK=v"), "K", "CANARY\x00")
	f.Add([]byte("A=1\r\nB=2\rC=3"), "B", "")
	f.Fuzz(func(t *testing.T, data []byte, key, value string) {
		env := ParseEnv(data)
		if got := env.Bytes(); !bytes.Equal(got, bytes.TrimPrefix(data, bom)) {
			t.Fatalf("round trip changed the file")
		}
		// What python-dotenv ends up with for each key (a bare KEY after
		// KEY=v unbinds it: ok false).
		type val struct {
			v  string
			ok bool
		}
		final := map[string]val{}
		for _, l := range env.lines {
			if l.hasKey {
				v, ok := env.Lookup(l.key)
				final[l.key] = val{v, ok}
			}
		}
		// Removing a key leaves every other binding as it was.
		for k := range final {
			e := ParseEnv(data)
			if _, err := e.Remove(k); err != nil {
				if !errors.Is(err, ErrEnvLayout) || !bytes.Equal(e.Bytes(), bytes.TrimPrefix(data, bom)) {
					t.Fatalf("remove %q: %v", k, err)
				}
				continue
			}
			re := ParseEnv(e.Bytes())
			if _, ok := re.Lookup(k); ok {
				t.Fatalf("%q still bound after Remove", k)
			}
			for k2, v2 := range final {
				if k2 == k {
					continue
				}
				if got, ok := re.Lookup(k2); got != v2.v || ok != v2.ok {
					t.Fatalf("removing %q changed %q: %v -> %q %v", k, k2, v2, got, ok)
				}
			}
		}
		// The marker comment changes no binding, and without a marker
		// before, setting and removing it gives the file back byte for byte.
		m := ParseEnv(data)
		had := m.MarkerVaultID() != ""
		m.SetMarker("0123abcd")
		rm := ParseEnv(m.Bytes())
		if rm.MarkerVaultID() != "0123abcd" {
			t.Fatalf("marker not read back from %q", m.Bytes())
		}
		for k2, v2 := range final {
			if got, ok := rm.Lookup(k2); got != v2.v || ok != v2.ok {
				t.Fatalf("the marker changed %q: %v -> %q %v", k2, v2, got, ok)
			}
		}
		if rm.RemoveMarker(); !had && !bytes.Equal(rm.Bytes(), bytes.TrimPrefix(data, bom)) {
			t.Fatalf("marker set and removed: %q, want %q", rm.Bytes(), data)
		}
		// Setting a value reads back exactly, or is refused without
		// repeating the value.
		e := ParseEnv(data)
		err := e.Set(key, value)
		checkErrorLeak(t, []byte(value), err)
		if err != nil {
			if errors.Is(err, ErrEnvLayout) && !bytes.Equal(e.Bytes(), bytes.TrimPrefix(data, bom)) {
				t.Fatal("a refused Set changed the file")
			}
			return
		}
		re := ParseEnv(e.Bytes())
		if got, ok := re.Lookup(key); !ok || got != value {
			t.Fatalf("Set(%q, %q) reads back %q %v from %q", key, value, got, ok, e.Bytes())
		}
		for k2, v2 := range final {
			if k2 == key {
				continue
			}
			if got, ok := re.Lookup(k2); got != v2.v || ok != v2.ok {
				t.Fatalf("setting %q changed %q: %v -> %q %v", key, k2, v2, got, ok)
			}
		}
	})
}
