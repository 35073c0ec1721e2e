package webhook_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha512"
	"encoding/hex"
	"strings"
	"testing"

	gogithub "github.com/google/go-github/v60/github"

	"github.com/stagebot/stagebot/internal/github/webhook"
)

// FuzzSignature holds the hand-written check to go-github's: the two agree
// on every X-Hub-Signature-256, and the hand one refuses only what
// go-github takes that the bot refuses on purpose: sha1= and sha512=
// signatures, and (ValidatePayloadFromBody) no signature with no secret.
// The hand check stays because the server bounds the body before reading
// it, and go-github reads it whole. What WellFormedSignature refuses unread
// is never a valid signature.
//
// The modes build the header around a valid signature, or not at all,
// since random bytes are never one.
func FuzzSignature(f *testing.F) {
	body := []byte(`{"action":"opened","number":1}`)
	f.Add([]byte("s3cret"), body, "", uint8(0), uint8(0))
	f.Add([]byte("s3cret"), body, "", uint8(1), uint8(0))           // valid
	f.Add([]byte("s3cret"), body, "", uint8(2), uint8(0))           // valid, upper-case hex
	f.Add([]byte("s3cret"), body, "0", uint8(3), uint8(20))         // a digit inserted
	f.Add([]byte("s3cret"), body, "", uint8(4), uint8(0))           // valid sha1=
	f.Add([]byte("s3cret"), body, "", uint8(4), uint8(1))           // valid sha512=
	f.Add([]byte(""), []byte(""), "", uint8(0), uint8(0))           // no secret, no signature
	f.Add([]byte("s3cret"), body, "sha256=zz", uint8(0), uint8(0))  // not hex
	f.Add([]byte("s3cret"), body, "sha256=0=1", uint8(0), uint8(0)) // two =
	f.Add([]byte("s3cret"), body, "SHA256=", uint8(5), uint8(0))    // prefix in capitals
	f.Fuzz(func(t *testing.T, secret, body []byte, header string, mode, pos uint8) {
		valid := webhook.Sign(secret, body)
		switch mode % 6 {
		case 1:
			header = valid
		case 2:
			header = "sha256=" + strings.ToUpper(strings.TrimPrefix(valid, "sha256="))
		case 3:
			at := int(pos) % (len(valid) + 1)
			header = valid[:at] + header + valid[at:]
		case 4:
			mac := hmac.New(sha1.New, secret)
			header = "sha1="
			if pos%2 == 1 {
				mac, header = hmac.New(sha512.New, secret), "sha512="
			}
			mac.Write(body)
			header += hex.EncodeToString(mac.Sum(nil))
		case 5:
			header += strings.TrimPrefix(valid, "sha256=")
		}
		hand := webhook.VerifySignature(secret, header, body) == nil
		sha256Header := strings.HasPrefix(header, "sha256=")
		lib := gogithub.ValidateSignature(header, body, secret) == nil
		_, err := gogithub.ValidatePayloadFromBody("application/json", bytes.NewReader(body), header, secret)
		payload := err == nil
		if hand != (lib && sha256Header) || hand != (payload && sha256Header) {
			t.Fatalf("header %q: hand-written %v, go-github ValidateSignature %v, ValidatePayloadFromBody %v", header, hand, lib, payload)
		}
		if hand && !webhook.WellFormedSignature(header) {
			t.Fatalf("header %q is valid but refused unread", header)
		}
		if mode%6 == 1 || mode%6 == 2 {
			if !hand {
				t.Fatalf("GitHub's own signature %q refused", header)
			}
		}
	})
}
