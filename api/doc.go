// Package api is the REST layer of the detector: gorilla/mux routes, thin
// handlers, request decoding and validation, one table from error codes to
// HTTP statuses, request metrics and logs, and the OpenAPI document.
//
// The API reaches the rest of the service only through the small
// interfaces it declares (Engine, Timeline, Peers, BatchFunc,
// PeerDetectFunc); it never imports the engine. Ingest goes to whatever
// Deps.Engine's Ingest is: in the service, the writer of package service,
// the one write path every input shares (it applies the future-timestamp
// rule again, and feeds the peer groups).
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
//	POST /api/v1/peers/rules      add a peer-group rule; GET lists them
//	DELETE /api/v1/peers/rules/{name}
//	GET  /api/v1/peers/outliers   the latest judgement of a rule's groups
//	POST /api/v1/peers/detect     judge one peer group sent in full
//	GET  /api/v1/openapi.json     the OpenAPI 3.0 document (openapi.json in this folder)
//	GET  /healthz, /readyz, /metrics
//	GET  /status                  version, uptime, every configuration key with its source
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
// StatusOf gives the status of each code. A client that hangs up before its
// answer is recorded with StatusClientClosed (499) and gets no body.
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
