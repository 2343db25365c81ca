package anomaly

// Access control codes, answered by the auth middleware before a request
// reaches the API.
const (
	CodeUnauthorized Code = "unauthorized" // no bearer token, or one the server does not know (401)
	CodeForbidden    Code = "forbidden"    // a known token whose scope does not allow the request (403)
)
