package codex

import (
	"strings"
	"testing"
	"time"
)

// fuzzCanary is planted in every secret-bearing field of the seeds. It is
// longer than anything a message may quote as a label.
const fuzzCanary = "FUZZCANARY_0123456789abcdefghijklmnopqrstuvwxyz_ABCDEFGH"

// FuzzParseAuth feeds arbitrary documents to the auth.json parser and, when
// it accepts one, to the validation that follows. Neither may panic, and no
// error, hint or summary may contain the canary.
func FuzzParseAuth(f *testing.F) {
	g := goodLogin(f)
	seeds := []string{
		string(g.doc().bytes(f)),
		`{"auth_mode":"chatgpt","OPENAI_API_KEY":null,"tokens":{"id_token":"` + fuzzCanary + `","access_token":"` + fuzzCanary +
			`","refresh_token":"` + fuzzCanary + `","account_id":"` + fuzzCanary + `"},"last_refresh":"` + fuzzCanary + `"}`,
		`{"auth_mode":"` + fuzzCanary + `","OPENAI_API_KEY":"` + fuzzCanary + `"}`,
		`{"OPENAI_API_KEY":null,"personal_access_token":"` + fuzzCanary + `"}`,
		`{"auth_mode":"bedrockApiKey","bedrock_api_key":{"api_key":"` + fuzzCanary + `","region":"us-east-1"}}`,
		`{"tokens":"` + fuzzCanary + `"}`,
		`{"tokens":{"id_token":"a.` + fuzzCanary + `.c","access_token":"` + g.access + `","refresh_token":"x"},"last_refresh":"2026-11-20T10:00:00Z"}`,
		"\xef\xbb\xbf{}", "", "{", "null", "[]", `{"auth_mode":1}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		check := func(what, text string) {
			if strings.Contains(text, fuzzCanary) {
				t.Fatalf("%s contains the canary: %q", what, text)
			}
		}
		doc, err := parseAuth(data)
		if err != nil {
			check("parse error", err.Error())
			return
		}
		for _, opts := range []Options{{}, {TakeOver: true, APIKey: true}} {
			c := &candidate{report: SourceReport{Source: SourceAuthFile, Location: "auth.json"}}
			c.accept(doc)
			if c.state != candOK {
				continue
			}
			l, _, err := validateDoc(c, opts, time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC))
			if err != nil {
				check("refusal", errorText(err))
				continue
			}
			check("summary", l.Summary.String())
			if b, err := HermesBlock(l); err != nil {
				check("block error", errorText(err))
			} else if len(b) == 0 {
				t.Fatal("empty block")
			}
		}
	})
}
