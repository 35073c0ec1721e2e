package seal

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func newKey(t *testing.T) string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

func TestSealOpenAndRotate(t *testing.T) {
	oldKey, newKeyS := newKey(t), newKey(t)
	old, err := Parse(oldKey)
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte("PK\x03\x04 a plan with db-password-hunter2")
	blob, err := old.Seal(plain, []byte("acme/p#1/infra@abc"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(blob, []byte("hunter2")) || bytes.Contains(blob, []byte("PK\x03\x04")) {
		t.Fatal("the sealed blob shows its content")
	}
	if got, err := old.Open(blob, []byte("acme/p#1/infra@abc")); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("open: %q %v", got, err)
	}
	// Rotation: the new key first seals; the old one still opens.
	both, err := Parse(newKeyS + ", " + oldKey)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := both.Open(blob, []byte("acme/p#1/infra@abc")); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("the rotated ring does not open an old blob: %v", err)
	}
	fresh, _ := both.Seal(plain, []byte("c"))
	if _, err := old.Open(fresh, []byte("c")); !errors.Is(err, ErrOpen) || !strings.Contains(err.Error(), both.ID()) {
		t.Errorf("the old key alone opened a blob of the new one: %v", err)
	}
	// Without the key, tampered, or for another plan: refused.
	other, _ := Parse(newKey(t))
	if _, err := other.Open(blob, []byte("acme/p#1/infra@abc")); !errors.Is(err, ErrOpen) {
		t.Errorf("another key: %v", err)
	}
	for i := len(magic) + idLen; i < len(blob); i += 7 {
		bad := bytes.Clone(blob)
		bad[i] ^= 1
		if _, err := old.Open(bad, []byte("acme/p#1/infra@abc")); !errors.Is(err, ErrOpen) {
			t.Fatalf("byte %d flipped: %v", i, err)
		}
	}
	if _, err := old.Open(blob, []byte("acme/p#2/infra@abc")); !errors.Is(err, ErrOpen) {
		t.Errorf("another PR's context: %v", err)
	}
	if _, err := old.Open(plain, nil); !errors.Is(err, ErrOpen) {
		t.Errorf("an unsealed file: %v", err)
	}
}

func TestParseRefusesBadKeys(t *testing.T) {
	for _, s := range []string{"", " , ", "c2hvcnQ=", "not base64!", newKey(t) + ",x"} {
		if _, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) accepted", s)
		} else if strings.Contains(err.Error(), s) && s != "" && strings.TrimSpace(s) != "," {
			t.Errorf("the error shows the key: %v", err)
		}
	}
}
