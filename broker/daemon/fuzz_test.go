package daemon

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// FuzzDecodeRequest: the decoder never panics, fails only with one of its
// fixed errors (so a malformed request, which may hold a passphrase, is
// never echoed), and what it accepts is a well-formed v1 request that
// survives a round trip through its own encoding.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"v":1,"id":1,"op":"get","ref":"openai-codex.tokens.access_token"}`,
		`{"v":1,"id":2,"op":"get","ref":"env:OPENROUTER_API_KEY","profile":"work"}`,
		`{"v":1,"id":3,"op":"put","ref":"env:A","value":"x","if_generation":0}`,
		`{"v":1,"id":4,"op":"env","profile":"work","vault":"0123456789abcdef"}`,
		`{"v":1,"id":5,"op":"unlock","passphrase":"p","ttl_seconds":3600}`,
		`{"v":1,"id":6,"op":"unlock","identity":"AGE-SECRET-KEY-1XYZ"}`,
		`{"v":1,"id":7,"op":"status"}`, `{"v":1,"id":8,"op":"lock"}`, `{"v":1,"op":"ping"}`,
		`{"v":2,"id":1,"op":"ping"}`, `{"v":1,"id":-5,"op":"ping"}`, `{"v":1,"id":1.5,"op":"ping"}`,
		`{"v":1,"id":1,"op":"put","ref":"x","value":null}`, `{"v":1,"op":"get","profile":"../x","ref":"a"}`,
		`[]`, `{`, "", "\n", "\x00", `{"v":1,"id":9,"op":"get","ref":"a"} {}`, `{"op":"get","op":"put"}`,
		`{"v":1,"id":1,"op":"unlock","passphrase":"a","identity":"b"}`, `{"v":1e0,"id":1,"op":"ping"}`,
		`{"v":1,"id":1,"op":"identity"}`, `{"v":1,"id":2,"op":"open"}`,
		`{"v":1,"id":3,"op":"seal","changes":[{"key":"env/A","expect":1,"record":{"kind":"env","generation":2,"value":"\"x\""}}]}`,
		`{"v":1,"id":4,"op":"seal","changes":[{"key":"env/A","expect":0}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		req, err := DecodeRequest(line)
		if err != nil {
			fixed := false
			for _, e := range errDecodeFixed {
				if errors.Is(err, e) && err.Error() == e.Error() {
					fixed = true
				}
			}
			if !fixed {
				t.Fatalf("error %q is not one of the fixed decode errors", err)
			}
			if req != nil && (req.Passphrase != "" || req.Identity != "") && err == ErrFieldType {
				t.Fatal("a salvaged request carries a secret")
			}
			if c := decodeCode(err); ExitCode(c) != 2 {
				t.Fatalf("decode error %v maps to exit %d", err, ExitCode(c))
			}
			return
		}
		if req.V != Version || req.ID < 0 {
			t.Fatalf("accepted %+v", req)
		}
		switch req.Op {
		case OpGet, OpPut, OpEnv, OpStatus, OpUnlock, OpLock, OpPing, OpOpen, OpSeal:
		default:
			t.Fatalf("accepted op %q", req.Op)
		}
		if (req.Op == OpGet || req.Op == OpPut) && req.Ref == "" {
			t.Fatal("get or put without ref")
		}
		if req.Op == OpUnlock && req.Identity != "" {
			t.Fatal("unlock accepted a vault key")
		}
		if req.Op == OpSeal && len(req.Changes) == 0 {
			t.Fatal("seal without changes")
		}
		again, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		req2, err := DecodeRequest(again)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", again, err)
		}
		if req.Value != nil {
			// Whitespace inside a raw value is not kept by json.Marshal's
			// compaction; compare the values, not their bytes.
			var a, b any
			json.Unmarshal(req.Value, &a)
			json.Unmarshal(req2.Value, &b)
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("value changed in a round trip: %s vs %s", req.Value, req2.Value)
			}
			req.Value, req2.Value = nil, nil
		}
		if req.Changes != nil {
			// A record's raw value and time are compared in their encoded
			// form: one round trip makes them canonical.
			again2, err := json.Marshal(req2)
			if err != nil || !bytes.Equal(again, again2) {
				t.Fatalf("a seal changed in a round trip:\n%s\n%s", again, again2)
			}
			req.Changes, req2.Changes = nil, nil
		}
		if !reflect.DeepEqual(req, req2) {
			t.Fatalf("round trip changed the request:\n%+v\n%+v", req, req2)
		}
	})
}
