// Package seal encrypts saved plans at rest with AES-256-GCM. A plan file
// holds the values Terraform will write, secrets included; sealed, the
// database or bucket that keeps it reveals nothing without the key.
//
// Keys are rotated by listing the new key first and the old ones after it:
// new plans are sealed with the first, and any listed key opens what it
// sealed. Plans live only as long as their PR, so an old key can be dropped
// once the PRs planned with it are closed (or re-planned).
package seal

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// magic starts every sealed blob; the key id follows.
var magic = []byte("stagebot-seal-v1:")

const idLen = 8 // bytes of a key's id

// ErrOpen is a blob that cannot be opened: no listed key sealed it, or it
// was changed since.
var ErrOpen = errors.New("sealed plan cannot be opened")

// Keyring seals with its first key and opens with any.
type Keyring struct {
	keys []key
}

type key struct {
	id   []byte
	aead cipher.AEAD
}

// Parse reads keys, comma-separated, each 32 bytes in standard base64 (as
// `openssl rand -base64 32` prints).
func Parse(s string) (*Keyring, error) {
	var kr Keyring
	for i, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(part)
		if err != nil || len(raw) != 32 {
			return nil, fmt.Errorf("plan key %d is not 32 bytes in base64 (make one with: openssl rand -base64 32)", i+1)
		}
		block, err := aes.NewCipher(raw)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(append([]byte("stagebot plan key id:"), raw...))
		kr.keys = append(kr.keys, key{id: sum[:idLen], aead: aead})
	}
	if len(kr.keys) == 0 {
		return nil, errors.New("no plan key")
	}
	return &kr, nil
}

// ID names the key new plans are sealed with (not secret).
func (kr *Keyring) ID() string { return hex.EncodeToString(kr.keys[0].id) }

// Seal encrypts plain, bound to context (what the blob is for: another
// plan's context does not open it).
func (kr *Keyring) Seal(plain, context []byte) ([]byte, error) {
	k := kr.keys[0]
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(magic)+idLen+len(nonce)+len(plain)+k.aead.Overhead())
	out = append(append(append(out, magic...), k.id...), nonce...)
	return k.aead.Seal(out, nonce, plain, append(append([]byte{}, out[:len(magic)+idLen]...), context...)), nil
}

// Open decrypts a blob Seal made with one of the keys for the same context.
func (kr *Keyring) Open(blob, context []byte) ([]byte, error) {
	if !bytes.HasPrefix(blob, magic) || len(blob) < len(magic)+idLen {
		return nil, fmt.Errorf("%w: not a sealed plan", ErrOpen)
	}
	id := blob[len(magic) : len(magic)+idLen]
	for _, k := range kr.keys {
		if !bytes.Equal(k.id, id) {
			continue
		}
		rest := blob[len(magic)+idLen:]
		if len(rest) < k.aead.NonceSize() {
			break
		}
		nonce, ct := rest[:k.aead.NonceSize()], rest[k.aead.NonceSize():]
		plain, err := k.aead.Open(nil, nonce, ct, append(append([]byte{}, blob[:len(magic)+idLen]...), context...))
		if err != nil {
			return nil, fmt.Errorf("%w: it was changed, or sealed for another plan", ErrOpen)
		}
		return plain, nil
	}
	return nil, fmt.Errorf("%w: sealed with key %s, which is not among the plan keys", ErrOpen, hex.EncodeToString(id))
}
