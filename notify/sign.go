package notify

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
)

// SecretPrefix starts every signing secret, as the Standard Webhooks
// specification writes them: "whsec_" followed by the base64 of the key.
const SecretPrefix = "whsec_"

// NewSecret returns a fresh signing secret: 32 random bytes.
func NewSecret() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	return SecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// secretKey returns the HMAC key of a "whsec_" secret.
func secretKey(secret string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil || len(k) == 0 {
		return nil, errors.New("signing secret is not whsec_ followed by base64")
	}
	return k, nil
}

// Sign returns the signature of one message as the Standard Webhooks
// specification defines it:
//
//	v1,base64(HMAC-SHA256(key, id + "." + timestamp + "." + body))
//
// with key the base64-decoded part of secret after "whsec_" and timestamp
// in Unix seconds.
func Sign(secret, id string, timestamp int64, body []byte) (string, error) {
	k, err := secretKey(secret)
	if err != nil {
		return "", err
	}
	return sign(k, id, timestamp, body), nil
}

func sign(key []byte, id string, timestamp int64, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write(strconv.AppendInt(nil, timestamp, 10))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// SignatureHeader returns the webhook-signature header for a message
// signed with every secret in secrets (current first), space-separated, as
// during a rotation.
func SignatureHeader(secrets []string, id string, timestamp int64, body []byte) (string, error) {
	parts := make([]string, 0, len(secrets))
	for _, s := range secrets {
		sig, err := Sign(s, id, timestamp, body)
		if err != nil {
			return "", err
		}
		parts = append(parts, sig)
	}
	return strings.Join(parts, " "), nil
}
