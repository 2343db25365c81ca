package anomaly

import (
	"errors"
	"fmt"
)

// Code classifies an error. The API maps each code to one HTTP status in a
// single table; everything else only creates and matches codes.
type Code string

const (
	CodeInvalidJSON      Code = "invalid_json"      // body is not valid JSON or has unknown fields
	CodeInvalidArgument  Code = "invalid_argument"  // a query parameter or field is malformed
	CodeMissingField     Code = "missing_field"     // a required field is absent
	CodeInvalidType      Code = "invalid_type"      // a field has the wrong JSON type
	CodeInvalidSeries    Code = "invalid_series"    // series text is not a valid metric name with labels
	CodeInvalidTimestamp Code = "invalid_timestamp" // unparseable timestamp
	CodeFutureTimestamp  Code = "future_timestamp"  // timestamp too far in the future
	CodeInvalidValue     Code = "invalid_value"     // NaN, Inf or not a number
	CodeOutOfOrder       Code = "out_of_order"      // older than the series' last point
	CodeLimit            Code = "limit_exceeded"    // too many labels, too long, too many points
	CodeTooLarge         Code = "body_too_large"    // request body over the limit
	CodeNotFound         Code = "not_found"         // unknown series, anomaly or route
	CodeConflict         Code = "conflict"          // already exists
	CodeOverloaded       Code = "overloaded"        // queues full, retry later
	CodeUnavailable      Code = "unavailable"       // shutting down or not ready
	CodeInternal         Code = "internal"          // a bug
)

// CodeValueRange is a finite value beyond the magnitude a model learns
// (models.MaxValue, 1e30): rejected, never learned.
const CodeValueRange Code = "value_out_of_range"

// Error is the one error type that crosses package boundaries with a code.
// Index is the position of the offending item in a batch, or -1. Field names
// the offending field when there is one.
type Error struct {
	Code    Code
	Message string
	Field   string
	Index   int
	Err     error // wrapped cause, may be nil
}

func (e *Error) Error() string {
	msg := e.Message
	if e.Field != "" {
		msg = e.Field + ": " + msg
	}
	if e.Index >= 0 {
		msg = fmt.Sprintf("item %d: %s", e.Index, msg)
	}
	return string(e.Code) + ": " + msg
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the code, no index and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Index: -1}
}

// FieldError returns an *Error about one field of one batch item.
func FieldError(code Code, index int, field, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Field: field, Index: index}
}

// ErrorCode returns the code of the first *Error in err's chain, or
// CodeInternal when there is none.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// ItemError is a rejected item of a batch, as returned to the client.
type ItemError struct {
	Index   int    `json:"index"`
	Code    Code   `json:"code"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// Item converts e to an ItemError.
func (e *Error) Item() ItemError {
	return ItemError{Index: e.Index, Code: e.Code, Field: e.Field, Message: e.Message}
}
