package httpauth

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/relayauth/relayauth"
)

// ProblemContentType is the media type of every error body (RFC 9457).
const ProblemContentType = "application/problem+json"

// Problem is an RFC 9457 problem detail. Detail never carries a secret:
// it is built from error texts that this module writes without them.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
}

// Realm is the realm advertised in WWW-Authenticate.
const Realm = "relayauth"

// ErrNoCredentials: the request carried no credentials at all. RFC 6750
// §3.1 says such a 401 carries no error code.
var ErrNoCredentials = errors.New("no credentials: send Authorization: Bearer <token> or X-API-Key")

// ErrInsufficientScope: authenticated, but the token lacks a scope.
var ErrInsufficientScope = errors.Join(relayauth.ErrForbidden, errors.New("insufficient scope"))

// Status maps an error to its HTTP status. It is the one place that does.
func Status(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrNoCredentials), errors.Is(err, relayauth.ErrUnauthenticated):
		return http.StatusUnauthorized
	case errors.Is(err, relayauth.ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, relayauth.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, relayauth.ErrConflict):
		return http.StatusConflict
	case errors.Is(err, relayauth.ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, relayauth.ErrUnsupportedMediaType):
		return http.StatusUnsupportedMediaType
	case errors.Is(err, relayauth.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, relayauth.ErrThrottled):
		return http.StatusTooManyRequests
	case errors.Is(err, relayauth.ErrTimeout):
		return http.StatusRequestTimeout
	case errors.Is(err, relayauth.ErrUnavailable):
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

var titles = map[int]string{
	http.StatusBadRequest:            "invalid-request",
	http.StatusUnauthorized:          "unauthenticated",
	http.StatusForbidden:             "forbidden",
	http.StatusNotFound:              "not-found",
	http.StatusMethodNotAllowed:      "method-not-allowed",
	http.StatusRequestTimeout:        "timeout",
	http.StatusConflict:              "conflict",
	http.StatusRequestEntityTooLarge: "too-large",
	http.StatusUnsupportedMediaType:  "unsupported-media-type",
	http.StatusTooManyRequests:       "throttled",
	http.StatusServiceUnavailable:    "unavailable",
	http.StatusInternalServerError:   "internal",
}

// WriteError answers err as problem+json with the status Status(err)
// gives, and the RFC 6750 §3 challenge that goes with it. A 500 or 503
// hides its cause from the client (a driver's error names hosts and
// addresses) and logs it instead.
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	status := Status(err)
	detail := err.Error()
	switch status {
	case http.StatusBadRequest:
		if errors.Is(err, errCredentialsRequest) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="`+Realm+`", error="invalid_request"`)
		}
	case http.StatusUnauthorized:
		// invalid_token describes a credential the request presented: not
		// a wrong password at login, not a refresh token in a body, not
		// another scheme than Bearer (RFC 6750 §3.1).
		challenge := `Bearer realm="` + Realm + `"`
		presented := len(r.Header["Authorization"]) > 0 || len(r.Header["X-Api-Key"]) > 0
		if presented && !errors.Is(err, ErrNoCredentials) && !errors.Is(err, errUnsupportedScheme) {
			challenge += `, error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", challenge)
	case http.StatusForbidden:
		if errors.Is(err, ErrInsufficientScope) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="`+Realm+`", error="insufficient_scope"`)
		}
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "1")
		if log != nil {
			// Debug: in an outage this is every request; the stores' own
			// metrics and /readyz say so once.
			log.DebugContext(r.Context(), "unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		}
		detail = relayauth.ErrUnavailable.Error() + "; retry shortly"
	case http.StatusInternalServerError:
		if log != nil {
			log.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		}
		detail = "internal error"
	}
	WriteProblem(w, status, detail)
}

// WriteProblem writes a problem+json body with the given status.
func WriteProblem(w http.ResponseWriter, status int, detail string) {
	slug, ok := titles[status]
	if !ok {
		slug = "error"
	}
	w.Header().Set("Content-Type", ProblemContentType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(Problem{
		Type:   "urn:relayauth:problem:" + slug,
		Title:  http.StatusText(status),
		Status: status,
		Detail: detail,
	})
}
