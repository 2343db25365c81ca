package api

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestBodyBufSizes(t *testing.T) {
	for _, cl := range []int64{-1, 0, 1, 4095, 4096, 100_000, 1 << 20, 5 << 20} {
		b := getBodyBuf(cl)
		if len(b) != 0 || cap(b) < min(int(cl)+1, maxFreshBody) || cap(b) < 1<<minBodyShift {
			t.Errorf("getBodyBuf(%d): len %d cap %d", cl, len(b), cap(b))
		}
		putBodyBuf(b)
	}
	for _, c := range []struct {
		c     int
		limit int64
		want  int
	}{{4096, 16 << 20, 8192}, {1 << 20, 16 << 20, 2 << 20}, {5000, 16 << 20, 8192}, {16 << 20, 16 << 20, 16<<20 + 1}, {4096, 5000, 5001}} {
		if got := growBody(c.c, c.limit); got != c.want {
			t.Errorf("growBody(%d, %d) = %d, want %d", c.c, c.limit, got, c.want)
		}
	}
}

// TestLargeBodies reads bodies that outgrow a first buffer, with and
// without a Content-Length, and checks every point arrives intact.
func TestLargeBodies(t *testing.T) {
	const n = 30000
	var sb strings.Builder
	sb.WriteString(`{"points":[`)
	for i := range n {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"series":"big{i=\"%d\",pad=\"%s\"}","timestamp":1767614400,"value":%d}`, i, strings.Repeat("p", i%50), i)
	}
	sb.WriteString(`]}`)
	body := sb.String()
	if len(body) < 2*maxFreshBody {
		t.Fatalf("body of %d bytes is too small for the test", len(body))
	}
	for _, sized := range []bool{true, false} {
		e := newEnv(t, Config{MaxPoints: n})
		var rd io.Reader = strings.NewReader(body)
		if !sized {
			rd = io.MultiReader(rd) // no Content-Length
		}
		req := httptest.NewRequest(http.MethodPost, "/api/v1/points", rd)
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		e.api.ServeHTTP(w, req)
		if w.Code != 200 || !bytes.Contains(w.Body.Bytes(), []byte(fmt.Sprintf(`"accepted":%d`, n))) {
			t.Fatalf("sized %v: %d %.300s", sized, w.Code, w.Body)
		}
		for i, s := range e.engine.ingested {
			if want := fmt.Sprintf(`big{i="%d",pad="%s"}`, i, strings.Repeat("p", i%50)); s.Series != want || s.Value != float64(i) {
				t.Fatalf("sized %v: point %d = %+v, want series %s", sized, i, s, want)
			}
		}
	}
}
