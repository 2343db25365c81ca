package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The test vector published with the Standard Webhooks specification.
func TestSignSpecificationVector(t *testing.T) {
	const (
		secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		id     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
		ts     = 1614265330
		body   = `{"test": 2432232314}`
		want   = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	)
	got, err := Sign(secret, id, ts, []byte(body))
	if err != nil || got != want {
		t.Fatalf("Sign(vector) = %q, %v, want %q", got, err, want)
	}
	h := http.Header{}
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", strconv.Itoa(ts))
	h.Set("webhook-signature", want)
	if err := verifySpec(secret, h, []byte(body), time.Unix(ts, 0)); err != nil {
		t.Fatalf("the independent verifier refuses the vector: %v", err)
	}
	if err := verifySpec(secret, h, []byte(body+" "), time.Unix(ts, 0)); err == nil {
		t.Fatal("the verifier accepts a changed body")
	}
}

func TestSignatureHeaderDuringRotation(t *testing.T) {
	a, b := NewSecret(), NewSecret()
	if !strings.HasPrefix(a, SecretPrefix) || a == b {
		t.Fatalf("NewSecret = %q, %q: want distinct whsec_ secrets", a, b)
	}
	body := []byte(`{"type":"x"}`)
	sig, err := SignatureHeader([]string{a, b}, "msg_1", 100, body)
	if err != nil || len(strings.Fields(sig)) != 2 {
		t.Fatalf("SignatureHeader = %q, %v: want two space-separated signatures", sig, err)
	}
	h := http.Header{}
	h.Set("webhook-id", "msg_1")
	h.Set("webhook-timestamp", "100")
	h.Set("webhook-signature", sig)
	for _, s := range []string{a, b} {
		if err := verifySpec(s, h, body, time.Unix(100, 0)); err != nil {
			t.Errorf("verifier with one of the two secrets: %v", err)
		}
	}
	if err := verifySpec(NewSecret(), h, body, time.Unix(100, 0)); err == nil {
		t.Error("verifier accepts a third secret")
	}
	if _, err := Sign("whsec_!!!", "m", 1, body); err == nil {
		t.Error("Sign accepts a secret that is not base64")
	}
}

// verifySpec is a verifier written from the Standard Webhooks
// specification alone, sharing no code with the signer: the signed content
// is id.timestamp.body, the key is the base64 part of the secret after
// "whsec_", the header holds space-separated "v1,<base64>" signatures of
// which one must match, and the timestamp must be within five minutes.
func verifySpec(secret string, h http.Header, body []byte, now time.Time) error {
	id, tsText, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || tsText == "" || sigs == "" {
		return errors.New("missing webhook headers")
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return errors.New("bad timestamp")
	}
	if d := now.Sub(time.Unix(ts, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return errors.New("timestamp outside the tolerance")
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + tsText + "." + string(body)))
	want := mac.Sum(nil)
	for _, s := range strings.Split(sigs, " ") {
		version, b64, ok := strings.Cut(s, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return errors.New("no signature matches")
}
