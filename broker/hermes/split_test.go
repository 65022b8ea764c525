package hermes

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"
)

var testMarker = Marker{VaultID: "v-0123", SealedAt: time.Date(2026, 7, 20, 10, 5, 0, 0, time.UTC)}

// viaVault passes blocks through JSON, as the vault stores them.
func viaVault(t testing.TB, blocks []Block) []Block {
	t.Helper()
	b, err := json.Marshal(blocks)
	if err != nil {
		t.Fatal(err)
	}
	var out []Block
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func withoutMarker(t testing.TB, o *Object) *Object {
	c := o.Clone()
	c.Delete(MarkerKey)
	return c
}

// TestSplitRoundTripCorpus: for every corpus document, the skeleton holds
// no secret, and putting the sealed blocks back (after a trip through the
// vault's JSON) gives the document again, member order included.
func TestSplitRoundTripCorpus(t *testing.T) {
	for _, name := range sortedKeys(corpusFiles(t)) {
		t.Run(name, func(t *testing.T) {
			orig := corpusFiles(t)[name]
			doc := mustParse(t, orig)
			before := mustMarshal(t, doc)
			sk, blocks, err := Split(doc, testMarker)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(mustMarshal(t, doc), before) {
				t.Fatal("Split modified its input")
			}
			skb := mustMarshal(t, sk)
			noCanary(t, "skeleton", skb)
			if HasSecret(mustMarshal(t, withoutMarker(t, sk))) {
				t.Fatal("skeleton holds a secret-shaped value")
			}
			for _, b := range blocks {
				if len(b.Secrets) == 0 && b.Group == "" {
					t.Errorf("block %s sealed without a secret or a group", b.Key)
				}
				if !bytes.Contains(orig, b.Value) {
					t.Errorf("block %s is not the exact original bytes", b.Key)
				}
				if strings.Contains(b.String()+b.GoString(), "CANARY") {
					t.Errorf("block %s prints its value", b.Key)
				}
			}
			if len(blocks) > 0 {
				if v, ok := sk.Get(MarkerKey); !ok || !bytes.Contains(v, []byte(`"vault_id":"v-0123"`)) {
					t.Fatalf("marker missing or wrong: %s", v)
				}
			}
			stored := viaVault(t, blocks)

			back, rep, err := Unseal(mustParse(t, skb), stored)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Restored) != len(blocks) || len(rep.Kept) != 0 {
				t.Fatalf("report %+v for %d blocks", rep, len(blocks))
			}
			want := mustMarshal(t, withoutMarker(t, doc))
			if got := mustMarshal(t, back); !bytes.Equal(got, want) {
				t.Fatalf("unseal(split(doc)) != doc\ngot:  %q\nwant: %q", firstDiff(got, want), firstDiff(want, got))
			}
			merged, _, err := Merge(mustParse(t, skb), stored)
			if err != nil {
				t.Fatal(err)
			}
			if got := mustMarshal(t, withoutMarker(t, merged)); !bytes.Equal(got, want) {
				t.Fatalf("merge differs from unseal beyond the marker")
			}
			// Split of the merged document seals the same blocks again.
			_, again, err := Split(merged, testMarker)
			if err != nil || !reflect.DeepEqual(keysOf(again), keysOf(blocks)) {
				t.Fatalf("re-split: %v %v vs %v", err, keysOf(again), keysOf(blocks))
			}
		})
	}
}

func keysOf(bs []Block) []string {
	var ks []string
	for _, b := range bs {
		ks = append(ks, b.Key)
	}
	sort.Strings(ks)
	return ks
}

func TestSplitWhatIsSealed(t *testing.T) {
	cases := []struct {
		file   string
		sealed []string
		groups map[string]string // key -> group
	}{
		{"jul_reference.json", []string{
			"pool/anthropic/0a1b2c", "pool/anthropic/9f8e7d", "pool/nous/77aa88", "pool/openai-codex/a1b2c3",
			"providers/nous", "providers/openai-codex", "providers/xai-oauth"},
			map[string]string{"providers/nous": "nous", "pool/nous/77aa88": "nous", "pool/anthropic/9f8e7d": "anthropic",
				"pool/anthropic/0a1b2c": "", "providers/openai-codex": "openai-codex", "pool/openai-codex/a1b2c3": "openai-codex"}},
		{"pool_sources.json", []string{
			"pool/anthropic/aa0001", "pool/anthropic/aa0003", "pool/anthropic/aa0004", "pool/anthropic/aa0005",
			"pool/minimax-oauth/mm0001", "pool/minimax-oauth/mm0002", "pool/nous/nn0001",
			"pool/openai-codex/cc0001", "pool/openai-codex/cc0002", "pool/openrouter/or0002", "pool/photon/ph0001",
			"pool/qwen-oauth/qq0002", "pool/xai-oauth/xx0001"},
			map[string]string{"pool/openai-codex/cc0001": "openai-codex", "pool/openai-codex/cc0002": "",
				"pool/minimax-oauth/mm0001": "minimax-oauth", "pool/minimax-oauth/mm0002": ""}},
		{"latest_providers.json", []string{
			"pool/minimax-oauth/mm0001", "pool/nous/77aa99", "providers/minimax-oauth", "providers/nous",
			"providers/openai-codex", "providers/spotify", "providers/xai-oauth"},
			map[string]string{"providers/spotify": ""}},
		// The Nous block lost its tokens but its device_code entry kept
		// them: both go. Codex holds no secret anywhere: it stays.
		{"quarantined.json", []string{"pool/nous/77aa88", "providers/nous"},
			map[string]string{"providers/nous": "nous"}},
		{"pre_sanitisation.json", []string{"pool/anthropic/e00002", "pool/openrouter/e00001", "providers/openai-codex"}, nil},
		{"legacy_systems.json", []string{"systems/nous_portal"}, map[string]string{"systems/nous_portal": "nous"}},
		{"unknown_members.json", []string{"member/photon_state", "pool/openai-codex/a1b2c3", "providers/openai-codex"}, nil},
		{"sealed_skeleton.json", nil, nil},
		{"empty_object.json", nil, nil},
		{"empty_store.json", nil, nil},
	}
	docs := corpusFiles(t)
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			doc := mustParse(t, docs[c.file])
			sk, blocks, err := Split(doc, testMarker)
			if err != nil {
				t.Fatal(err)
			}
			if got := keysOf(blocks); !reflect.DeepEqual(got, c.sealed) {
				t.Fatalf("sealed %v\nwant   %v", got, c.sealed)
			}
			for _, b := range blocks {
				if g, ok := c.groups[b.Key]; ok && b.Group != g {
					t.Errorf("%s: group %q, want %q", b.Key, b.Group, g)
				}
			}
			if len(blocks) == 0 && !bytes.Equal(mustMarshal(t, sk), mustMarshal(t, doc)) {
				t.Error("nothing sealed, yet the skeleton differs")
			}
		})
	}
}

func TestBlockDetails(t *testing.T) {
	doc := mustParse(t, corpusFiles(t)["jul_reference.json"])
	_, blocks, err := Split(doc, testMarker)
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]Block{}
	for _, b := range blocks {
		by[b.Key] = b
	}
	paths := func(b Block) []string {
		var ps []string
		for _, s := range b.Secrets {
			ps = append(ps, s.Path)
		}
		return ps
	}
	if got := paths(by["providers/nous"]); !reflect.DeepEqual(got, []string{
		"providers.nous.access_token", "providers.nous.refresh_token", "providers.nous.agent_key"}) {
		t.Errorf("nous paths %v", got)
	}
	if got := paths(by["providers/openai-codex"]); !reflect.DeepEqual(got, []string{
		"providers.openai-codex.tokens.access_token", "providers.openai-codex.tokens.refresh_token"}) {
		t.Errorf("codex paths %v", got)
	}
	if got := paths(by["pool/anthropic/9f8e7d"]); !reflect.DeepEqual(got, []string{
		"credential_pool.anthropic[id=9f8e7d].access_token", "credential_pool.anthropic[id=9f8e7d].refresh_token"}) {
		t.Errorf("pool paths %v", got)
	}
	if s := by["providers/nous"].Secrets[1]; s.Size != len("CANARY-nous-refresh-0001") {
		t.Errorf("size %d", s.Size)
	}
	exp := []struct {
		key, from string
		at        time.Time
	}{
		{"providers/nous", "expires_at", time.Date(2026, 7, 20, 10, 58, 12, 0, time.UTC)},
		{"providers/openai-codex", "tokens.access_token (jwt exp)", time.Unix(1784548800+600, 0).UTC()},
		{"providers/xai-oauth", "tokens.access_token (jwt exp)", time.Unix(1784548800+1200, 0).UTC()},
		{"pool/anthropic/9f8e7d", "expires_at_ms", time.Unix(1784548800, 0).UTC()},
		{"pool/openai-codex/a1b2c3", "access_token (jwt exp)", time.Unix(1784548800+600, 0).UTC()},
		{"pool/anthropic/0a1b2c", "", time.Time{}}, // an API key does not expire
	}
	for _, e := range exp {
		b := by[e.key]
		if !b.Expires.Equal(e.at) || b.ExpiresFrom != e.from {
			t.Errorf("%s: expires %v from %q, want %v from %q", e.key, b.Expires, b.ExpiresFrom, e.at, e.from)
		}
	}
	b := by["pool/anthropic/9f8e7d"]
	if b.Kind != KindPoolEntry || b.Name != "anthropic" || b.ID != "9f8e7d" || b.Source != "hermes_pkce" || b.Index != 1 {
		t.Errorf("pool block fields %+v", b.String())
	}
}

func TestJWTExpiryNeverFails(t *testing.T) {
	for _, tok := range []string{"", "abc", "a.b", "a.b.c", "a.!!!.c", "a." + "eyJleHAiOiJzb29uIn0" + ".c",
		"a.eyJleHAiOi0xfQ.c", strings.Repeat("a.", 40000), "x.eyJleHAiOjE3ODQ1NDg4MDB9.y"} {
		got, ok := jwtExpiry(tok)
		if tok == "x.eyJleHAiOjE3ODQ1NDg4MDB9.y" {
			if !ok || got.Unix() != 1784548800 {
				t.Errorf("valid jwt: %v %v", got, ok)
			}
			continue
		}
		if ok {
			t.Errorf("%.20q: got an expiry %v", tok, got)
		}
	}
}

// A sealed codex store, as Hermes leaves it after a new login while the
// blocks were sealed.
func TestMergeFileIsTheTruth(t *testing.T) {
	doc := mustParse(t, corpusFiles(t)["jul_reference.json"])
	sk, blocks, err := Split(doc, testMarker)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("a block the file has is kept", func(t *testing.T) {
		file := sk.Clone()
		prov, _, _ := file.GetObject("providers")
		newer := json.RawMessage(`{"tokens":{"access_token":"NEWER","refresh_token":"NEWER"},"auth_mode":"chatgpt"}`)
		prov.Set("openai-codex", newer)
		file.Set("providers", compactObject(prov))
		out, rep, err := Merge(file, blocks)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := lookup(mustGet(t, out, "providers"), "openai-codex")
		if !bytes.Equal(got, newer) {
			t.Fatalf("the file's newer block was replaced: %s", got)
		}
		// Its derived pool entry goes with it: not restored either.
		if !contains(rep.Kept, "providers/openai-codex") || !contains(rep.Kept, "pool/openai-codex/a1b2c3") {
			t.Fatalf("kept %v", rep.Kept)
		}
		if contains(rep.Restored, "pool/openai-codex/a1b2c3") {
			t.Fatal("restored half of a group the file has")
		}
		if !contains(rep.Restored, "providers/nous") || !contains(rep.Restored, "pool/anthropic/0a1b2c") {
			t.Fatalf("restored %v", rep.Restored)
		}
	})
	t.Run("a re-created device_code entry keeps the group out", func(t *testing.T) {
		file := sk.Clone()
		pool, _, _ := file.GetObject("credential_pool")
		pool.Set("openai-codex", json.RawMessage(`[{"id":"ffffff","source":"device_code","access_token":"NEW"}]`))
		file.Set("credential_pool", compactObject(pool))
		_, rep, err := Merge(file, blocks)
		if err != nil {
			t.Fatal(err)
		}
		if contains(rep.Restored, "providers/openai-codex") {
			t.Fatal("restored an older provider block over a newer login")
		}
	})
	t.Run("an entry with the same id is kept", func(t *testing.T) {
		file := sk.Clone()
		pool, _, _ := file.GetObject("credential_pool")
		pool.Set("anthropic", json.RawMessage(`[{"id":"0a1b2c","source":"manual","access_token":"ROTATED"}]`))
		file.Set("credential_pool", compactObject(pool))
		out, rep, err := Merge(file, blocks)
		if err != nil {
			t.Fatal(err)
		}
		if !contains(rep.Kept, "pool/anthropic/0a1b2c") || bytes.Count(mustMarshal(t, out), []byte(`"0a1b2c"`)) != 1 {
			t.Fatalf("kept %v", rep.Kept)
		}
	})
	t.Run("hermes rewrote an empty store", func(t *testing.T) {
		file := mustParse(t, []byte(`{"version": 1, "providers": {}}`))
		out, rep, err := Merge(file, blocks)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Restored) != len(blocks) {
			t.Fatalf("restored %v", rep.Restored)
		}
		pool := mustGet(t, out, "credential_pool")
		if _, ok := lookup(pool, "anthropic"); !ok {
			t.Fatal("pool not re-created")
		}
	})
	t.Run("a pool that is not a list is refused", func(t *testing.T) {
		file := mustParse(t, []byte(`{"credential_pool": {"anthropic": "x"}}`))
		if _, _, err := Merge(file, blocks); !errors.Is(err, ErrShape) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("documents are not merged into auth.json", func(t *testing.T) {
		d, _ := SealDocument(DocAnthropicOAuth, []byte(`{"accessToken":"x"}`))
		if _, _, err := Merge(sk, []Block{d}); !errors.Is(err, ErrShape) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("merge keeps the marker, unseal drops it", func(t *testing.T) {
		m, _, _ := Merge(sk, blocks)
		u, _, _ := Unseal(sk, blocks)
		if m.Index(MarkerKey) < 0 || u.Index(MarkerKey) >= 0 {
			t.Fatal("marker handling")
		}
	})
}

func mustGet(t *testing.T, o *Object, k string) json.RawMessage {
	t.Helper()
	v, ok := o.Get(k)
	if !ok {
		t.Fatalf("no %s", k)
	}
	return v
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func TestSplitEdgeShapes(t *testing.T) {
	cases := []struct {
		name, in string
		sealed   []string
	}{
		{"entries without ids", `{"credential_pool":{"p":[{"api_key":"k1"},{"api_key":"k2"}]}}`,
			[]string{"pool/p/#0", "pool/p/#1"}},
		{"duplicate ids", `{"credential_pool":{"p":[{"id":"a","api_key":"k1"},{"id":"a","api_key":"k2"}]}}`,
			[]string{"pool/p/#0", "pool/p/#1"}},
		{"an id shared with an entry that stays", `{"credential_pool":{"p":[{"id":"a"},{"id":"a","token":"t"}]}}`,
			[]string{"pool/p/#1"}},
		{"pool that is not a list", `{"credential_pool":{"p":{"api_key":"k"}}}`, []string{"pool/p"}},
		{"providers that is not an object", `{"providers":[{"access_token":"x"}]}`, []string{"member/providers"}},
		{"secret at the top", `{"version":1,"api_key":"k"}`, []string{"member/api_key"}},
		{"provider that is a list", `{"providers":{"x":[{"token":"t"}]}}`, []string{"providers/x"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := mustParse(t, []byte(c.in))
			sk, blocks, err := Split(doc, testMarker)
			if err != nil {
				t.Fatal(err)
			}
			if got := keysOf(blocks); !reflect.DeepEqual(got, c.sealed) {
				t.Fatalf("sealed %v, want %v", got, c.sealed)
			}
			if HasSecret(mustMarshal(t, withoutMarker(t, sk))) {
				t.Fatal("secret left in the skeleton")
			}
			back, _, err := Unseal(sk, viaVault(t, blocks))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := mustMarshal(t, back), mustMarshal(t, doc); !bytes.Equal(got, want) {
				t.Fatalf("round trip\ngot  %s\nwant %s", got, want)
			}
		})
	}
}

// TestDocumentFileKeepsSymlink: removing a sealed document whose path is
// a symbolic link removes the file it points to and keeps the link, and
// writing it back goes through the (now dangling) link.
func TestDocumentFileKeepsSymlink(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symlinks need privileges on Windows")
	}
	dir := tempDir(t)
	real := filepath.Join(dir, "real.json")
	os.WriteFile(real, []byte(`{"accessToken": "CANARY-x", "expiresAt": 1784548800000}`), 0o600)
	link := filepath.Join(dir, ".anthropic_oauth.json")
	if err := os.Symlink(real, link); err != nil {
		t.Skip("no symlinks here")
	}
	data, err := ReadDocumentFile(link)
	if err != nil {
		t.Fatal(err)
	}
	got, err := SealDocument(DocAnthropicOAuth, data)
	if err != nil {
		t.Fatal(err)
	}
	if got.Expires.Unix() != 1784548800 || got.Group != "anthropic" {
		t.Fatalf("block %v", got)
	}
	if removed, err := RemoveDocumentFile(link, data); err != nil || !removed {
		t.Fatalf("remove: %v %v", removed, err)
	}
	if _, err := os.Lstat(link); err != nil {
		t.Fatal("the link was removed")
	}
	if _, err := os.Stat(real); !os.IsNotExist(err) {
		t.Fatal("the plaintext target is still there")
	}
	if err := WriteDocumentFile(link, got); err != nil {
		t.Fatalf("write through a dangling link: %v", err)
	}
	if fi, _ := os.Lstat(link); fi.Mode()&os.ModeSymlink == 0 {
		t.Fatal("the link became a file")
	}
	if b, _ := os.ReadFile(real); !bytes.Contains(b, []byte("CANARY-x")) {
		t.Fatal("the document did not come back through the link")
	}
}

// TestRemoveDocumentFileKeepsANewerOne: a document a writer replaced after
// it was read (and sealed) is left in place.
func TestRemoveDocumentFileKeepsANewerOne(t *testing.T) {
	p := filepath.Join(tempDir(t), ".anthropic_oauth.json")
	os.WriteFile(p, []byte(`{"refreshToken": "old"}`), 0o600)
	sealed, _ := ReadDocumentFile(p)
	os.WriteFile(p, []byte(`{"refreshToken": "newer"}`), 0o600)
	if removed, err := RemoveDocumentFile(p, sealed); err != nil || removed {
		t.Fatalf("removed a newer document: %v %v", removed, err)
	}
	if b, _ := os.ReadFile(p); string(b) != `{"refreshToken": "newer"}` {
		t.Fatalf("document is now %q", b)
	}
	if removed, err := RemoveDocumentFile(filepath.Join(filepath.Dir(p), "missing.json"), sealed); err != nil || removed {
		t.Fatalf("a missing document: %v %v", removed, err)
	}
}
