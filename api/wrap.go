package api

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/anomalyd/detector/anomaly"
)

// codeMethodNotAllowed is the code of 405 answers. It is a word of the HTTP
// layer only, so it lives here and not in the vocabulary.
const codeMethodNotAllowed anomaly.Code = "method_not_allowed"

// statusOf maps every error code to its HTTP status: the one place that
// decides it. Codes not listed are 500.
var statusOf = map[anomaly.Code]int{
	anomaly.CodeInvalidJSON:      http.StatusBadRequest,
	anomaly.CodeInvalidArgument:  http.StatusBadRequest,
	anomaly.CodeMissingField:     http.StatusBadRequest,
	anomaly.CodeInvalidType:      http.StatusBadRequest,
	anomaly.CodeInvalidSeries:    http.StatusBadRequest,
	anomaly.CodeInvalidTimestamp: http.StatusBadRequest,
	anomaly.CodeFutureTimestamp:  http.StatusBadRequest,
	anomaly.CodeInvalidValue:     http.StatusBadRequest,
	anomaly.CodeValueRange:       http.StatusBadRequest,
	anomaly.CodeOutOfOrder:       http.StatusUnprocessableEntity,
	anomaly.CodeLimit:            http.StatusRequestEntityTooLarge,
	anomaly.CodeTooLarge:         http.StatusRequestEntityTooLarge,
	anomaly.CodeNotFound:         http.StatusNotFound,
	codeMethodNotAllowed:         http.StatusMethodNotAllowed,
	anomaly.CodeConflict:         http.StatusConflict,
	anomaly.CodeOverloaded:       http.StatusTooManyRequests,
	anomaly.CodeUnavailable:      http.StatusServiceUnavailable,
	anomaly.CodeInternal:         http.StatusInternalServerError,
	codeTimeout:                  http.StatusRequestTimeout,
	codeUnsupportedMedia:         http.StatusUnsupportedMediaType,
	codeForbidden:                http.StatusForbidden,
}

// StatusOf returns the HTTP status the API answers an error code with.
func StatusOf(code anomaly.Code) int {
	if s, ok := statusOf[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// apiFunc is a handler: it returns the value to encode as the JSON answer
// (status 200, or the status of a withStatus) or an error (see writeError).
type apiFunc func(r *http.Request) (any, error)

// withStatus is a handler result answered with another status than 200:
// body is encoded as JSON, or nothing is sent when it is nil (204).
type withStatus struct {
	status int
	body   any
}

// wrap adapts an apiFunc to http.Handler: it bounds the body, encodes the
// result and turns errors into their status and JSON form.
func (a *API) wrap(f apiFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		release := func() {}
		if r.Method == http.MethodPost {
			var err error
			if r, release, err = a.admit(w, r); err != nil {
				a.writeError(w, r, err)
				return
			}
			defer recycleBody(r) // once the answer is out (bodybuf.go)
		} else if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, a.cfg.MaxBodyBytes)
		}
		var res any
		var err error
		// An ingest request is decoded and applied on Deps.IngestRun
		// (admission.go).
		a.runIngest(r, func() { res, err = f(r) })
		release() // before the answer: a client that does not read holds no turn
		a.answerDeadline(w)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		status := http.StatusOK
		if ws, ok := res.(withStatus); ok {
			status, res = ws.status, ws.body
			if res == nil {
				w.WriteHeader(status)
				return
			}
		}
		b, err := json.Marshal(res)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		w.Write(append(b, '\n'))
	})
}

// StatusClientClosed is the status recorded (in metrics and the request
// log) for a request whose client hung up before the answer: 499, as
// proxies record it.
const StatusClientClosed = 499

// codeClientClosed is the code logged for StatusClientClosed.
const codeClientClosed anomaly.Code = "client_closed"

// ErrorBody is the JSON form of every error answer.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail says what went wrong. Index is the position of the offending
// item of a batch and is omitted when the error is not about one item;
// Field names the offending field or parameter when there is one.
type ErrorDetail struct {
	Code    anomaly.Code `json:"code"`
	Message string       `json:"message"`
	Index   *int         `json:"index,omitempty"`
	Field   string       `json:"field,omitempty"`
}

// writeError answers err. An *anomaly.Error gives its code, message, index
// and field; a client that hung up gets StatusClientClosed (no body, not an
// error of the service); a deadline that passed is 503; anything else is an internal error whose text is logged, not sent.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var (
		d   ErrorDetail
		ae  *anomaly.Error
		me  *methodError
		inf = infoOf(r)
	)
	switch {
	case errors.As(err, &ae):
		d = ErrorDetail{Code: ae.Code, Message: ae.Message, Field: ae.Field}
		if ae.Index >= 0 {
			idx := ae.Index
			d.Index = &idx
		}
	case errors.As(err, &me):
		d = ErrorDetail{Code: codeMethodNotAllowed, Message: me.Error()}
		w.Header().Set("Allow", strings.Join(me.allowed, ", "))
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client hung up: nobody reads an answer, and it is not the
		// service's failure. Counted and logged as 499, the status
		// proxies use for it.
		inf.code = codeClientClosed
		w.WriteHeader(StatusClientClosed)
		return
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		d = ErrorDetail{Code: anomaly.CodeUnavailable, Message: "request cancelled or timed out: " + err.Error()}
	default:
		d = ErrorDetail{Code: anomaly.CodeInternal, Message: "internal error"}
	}
	status := StatusOf(d.Code)
	if d.Code == anomaly.CodeOverloaded {
		secs := int64(math.Ceil(a.cfg.RetryAfter.Seconds()))
		w.Header().Set("Retry-After", strconv.FormatInt(max(secs, 1), 10))
	}
	inf.code = d.Code
	if status >= 500 {
		inf.err = err
	}
	b, _ := json.Marshal(ErrorBody{Error: d}) // cannot fail: strings and ints
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
