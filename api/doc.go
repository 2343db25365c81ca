// Package api is the REST layer of the detector: gorilla/mux routes, thin
// handlers, request decoding and validation, one table from error codes to
// HTTP statuses, request metrics and logs, and the OpenAPI document.
//
// The API reaches the rest of the service only through the small
// interfaces it declares (Engine, Timeline, BatchFunc); it never imports
// the engine.
//
// # Routes
//
//	POST /api/v1/points           ingest a batch of points
//	GET  /api/v1/detect?series=   latest verdict of a series
//	POST /api/v1/detect           what-if verdicts against the learned baseline
//	POST /api/v1/detect/batch     stateless detection over the points sent
//	GET  /api/v1/series           series listing (match, limit, cursor)
//	GET  /api/v1/series/{series}  one series' baseline; the name URL-escaped into one segment
//	GET  /api/v1/anomalies        the timeline (series, since, until, state, limit, cursor)
//	GET  /api/v1/anomalies/{id}   one anomaly
//	GET  /api/v1/openapi.json     the OpenAPI 3.0 document (openapi.json in this folder)
//	GET  /healthz, /readyz, /metrics
//
// # Conventions
//
// JSON everywhere, snake_case fields. Timestamps in requests are RFC 3339
// strings or Unix seconds (a JSON number or numeric string, fraction
// allowed), kept to the millisecond; answers write RFC 3339. Every error
// answer is
//
//	{"error":{"code":"...","message":"...","index":3,"field":"value"}}
//
// where index (the batch item) and field are present only when they apply;
// StatusOf gives the status of each code.
//
// # Batches
//
// POST /api/v1/points decodes every point on its own: a point with a wrong
// type, a missing or unknown field, an unparseable timestamp, a timestamp
// before 1970 or more than Config.MaxFuture ahead of the clock, or a value
// that is not a finite number (the strings "NaN", "Inf", "+Inf", "-Inf" are
// recognised only to be rejected with invalid_value) is rejected with its
// index and field, and the other points still go to the engine. The engine's
// own item errors (invalid series, out of order...) are merged in, their
// indices mapped back to the request's array. The answer is 200 with
// accepted and rejected counts unless the request as a whole fails:
// malformed JSON or an unknown top-level field (400 invalid_json), points
// missing (400 missing_field), more than Config.MaxPoints points (413
// limit_exceeded), a body over Config.MaxBodyBytes (413 body_too_large),
// engine queues full (429 overloaded, with Retry-After) or the engine
// unavailable (503).
//
// POST /api/v1/detect and /api/v1/detect/batch store nothing, so a bad point
// fails the whole request with 400 and the point's index; their timestamps
// are not checked against the clock.
package api
