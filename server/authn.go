package server

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/squall-automation/squall/auth"
	"github.com/squall-automation/squall/catalog"
)

// Context keys set by authenticate.
const (
	ctxUser       = "squall.user"
	ctxAuthMethod = "squall.auth_method"
)

// st2's wording for authentication failures ("Unauthorized - " + reason).
const (
	msgNoCredentials = "Unauthorized - One of Token or API key required."
	msgBadToken      = "Unauthorized - Token is invalid or has expired."
	msgBadAPIKey     = "Unauthorized - API key is invalid or disabled."
	msgBadBearer     = "Unauthorized - Bearer credential is not a valid token or API key."
	msgBadLogin      = "Invalid or missing credentials"
)

// requester returns the authenticated user of the request.
func requester(c echo.Context) string {
	u, _ := c.Get(ctxUser).(string)
	return u
}

// authenticate admits a request carrying a valid token or API key, in
// StackStorm's order of precedence: X-Auth-Token header, St2-Api-Key header,
// x-auth-token query parameter, st2-api-key query parameter. Squall also
// accepts "Authorization: Bearer <token or API key>", which is what
// Prometheus and most HTTP clients can send.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		ctx := req.Context()
		var user, method string
		switch {
		case req.Header.Get("X-Auth-Token") != "":
			u, err := s.checkToken(c, req.Header.Get("X-Auth-Token"))
			if err != nil {
				return err
			}
			user, method = u, "authentication token"
		case req.Header.Get("St2-Api-Key") != "":
			u, err := s.checkAPIKey(c, req.Header.Get("St2-Api-Key"))
			if err != nil {
				return err
			}
			user, method = u, "API key"
		case c.QueryParam("x-auth-token") != "":
			u, err := s.checkToken(c, c.QueryParam("x-auth-token"))
			if err != nil {
				return err
			}
			user, method = u, "authentication token"
		case c.QueryParam("st2-api-key") != "":
			u, err := s.checkAPIKey(c, c.QueryParam("st2-api-key"))
			if err != nil {
				return err
			}
			user, method = u, "API key"
		case bearer(req) != "":
			secret := bearer(req)
			if t, err := s.catalog.LookupToken(ctx, secret); err == nil {
				user, method = t.User, "authentication token"
				break
			} else if !errors.Is(err, catalog.ErrNotFound) {
				return err
			}
			k, err := s.catalog.LookupAPIKey(ctx, secret)
			if errors.Is(err, catalog.ErrNotFound) {
				return faultf(http.StatusUnauthorized, msgBadBearer)
			}
			if err != nil {
				return err
			}
			user, method = k.User, "API key"
		default:
			return faultf(http.StatusUnauthorized, msgNoCredentials)
		}
		c.Set(ctxUser, user)
		c.Set(ctxAuthMethod, method)
		return next(c)
	}
}

func (s *Server) checkToken(c echo.Context, token string) (string, error) {
	t, err := s.catalog.LookupToken(c.Request().Context(), token)
	if errors.Is(err, catalog.ErrNotFound) {
		return "", faultf(http.StatusUnauthorized, msgBadToken)
	}
	if err != nil {
		return "", err
	}
	return t.User, nil
}

func (s *Server) checkAPIKey(c echo.Context, key string) (string, error) {
	k, err := s.catalog.LookupAPIKey(c.Request().Context(), key)
	if errors.Is(err, catalog.ErrNotFound) {
		return "", faultf(http.StatusUnauthorized, msgBadAPIKey)
	}
	if err != nil {
		return "", err
	}
	return k.User, nil
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// tokenRequest is st2's TokenRequest body.
type tokenRequest struct {
	TTL *int64 `json:"ttl"`
}

// tokenResponse is st2's Token document.
type tokenResponse struct {
	User     string         `json:"user"`
	Token    string         `json:"token"`
	Expiry   string         `json:"expiry"`
	ID       string         `json:"id"`
	Metadata map[string]any `json:"metadata"`
}

// createToken is POST /auth/v1/tokens: HTTP Basic credentials checked
// against the htpasswd file, an optional {"ttl": seconds} body.
func (s *Server) createToken(c echo.Context) error {
	user, pass, ok := basicAuth(c.Request())
	if !ok {
		return faultf(http.StatusUnauthorized, msgBadLogin)
	}
	var body tokenRequest
	if err := decodeBody(c, &body); err != nil {
		return err
	}
	users, err := s.htpasswd()
	if err != nil {
		return err
	}
	if err := users.Authenticate(user, pass); err != nil {
		if errors.Is(err, auth.ErrInvalidCredentials) {
			s.log.Info("token request refused", "user", user, "remote", c.RealIP())
			return faultf(http.StatusUnauthorized, msgBadLogin)
		}
		return err
	}
	ttl := s.cfg.TokenTTL
	if body.TTL != nil {
		if *body.TTL < 1 {
			return badRequest("%d is less than the minimum of 1", *body.TTL)
		}
		// st2 refuses rather than shortens a TTL above the maximum, so the
		// client learns its token would not live as long as it asked.
		max := int64(s.cfg.TokenTTL / time.Second)
		if *body.TTL > max {
			return badRequest("TTL specified %d is greater than max allowed %d.", *body.TTL, max)
		}
		ttl = time.Duration(*body.TTL) * time.Second
	}
	tok, err := s.catalog.CreateToken(c.Request().Context(), user, ttl, map[string]any{})
	if err != nil {
		return err
	}
	s.log.Info("token issued", "user", user, "token_id", tok.ID, "expiry", tok.Expiry)
	return c.JSON(http.StatusCreated, tokenResponse{
		User: tok.User, Token: tok.Token, Expiry: isoTime(tok.Expiry), ID: tok.ID, Metadata: nonNilMap(tok.Metadata),
	})
}

// basicAuth is http.Request.BasicAuth that also accepts a password
// containing ':' in any position (the user name cannot contain one).
func basicAuth(r *http.Request) (user, pass string, ok bool) {
	h := r.Header.Get("Authorization")
	if len(h) < 6 || !strings.EqualFold(h[:6], "basic ") {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(h[6:]))
	if err != nil {
		return "", "", false
	}
	user, pass, ok = strings.Cut(string(raw), ":")
	if !ok || user == "" {
		return "", "", false
	}
	return user, pass, true
}

// isoTime renders st2's timestamp format: UTC, microseconds, "Z".
func isoTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000000Z")
}

func nonNilMap(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}
