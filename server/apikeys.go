package server

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/squall-automation/squall/catalog"
)

// apiKeyResponse is st2's ApiKey document; Key is set only in the answer to
// the request that created it.
type apiKeyResponse struct {
	ID        string         `json:"id"`
	UID       string         `json:"uid"`
	User      string         `json:"user"`
	KeyHash   string         `json:"key_hash"`
	Key       string         `json:"key,omitempty"`
	Metadata  map[string]any `json:"metadata"`
	CreatedAt string         `json:"created_at"`
	Enabled   bool           `json:"enabled"`
}

func toAPIKeyResponse(k *catalog.APIKey, withKey bool) apiKeyResponse {
	r := apiKeyResponse{
		ID: k.ID, UID: k.UID, User: k.User, KeyHash: k.KeyHash,
		Metadata: nonNilMap(k.Metadata), CreatedAt: isoTime(k.CreatedAt), Enabled: k.Enabled,
	}
	if withKey {
		r.Key = k.Key
	}
	return r
}

// apiKeyRequest is the body of POST and PUT /api/v1/apikeys.
type apiKeyRequest struct {
	User     string         `json:"user"`
	Metadata map[string]any `json:"metadata"`
	Enabled  *bool          `json:"enabled"`
}

func (s *Server) listAPIKeys(c echo.Context) error {
	p, err := parsePage(c, 50)
	if err != nil {
		return err
	}
	keys, err := s.catalog.ListAPIKeys(c.Request().Context())
	if err != nil {
		return err
	}
	out := make([]apiKeyResponse, 0, len(keys))
	for i := range keys {
		out = append(out, toAPIKeyResponse(&keys[i], false))
	}
	return listJSON(c, slicePage(out, p), p, len(out))
}

// createAPIKey issues a key for the body's user (st2 lets administrators
// create keys for others; without RBAC every user may) or the requester.
func (s *Server) createAPIKey(c echo.Context) error {
	var body apiKeyRequest
	if err := decodeBody(c, &body); err != nil {
		return err
	}
	user := body.User
	if user == "" {
		user = requester(c)
	}
	k, err := s.catalog.CreateAPIKey(c.Request().Context(), user, body.Metadata)
	if err != nil {
		return err
	}
	if body.Enabled != nil && !*body.Enabled {
		updated, err := s.catalog.UpdateAPIKey(c.Request().Context(), k.ID, false, k.Metadata)
		if err != nil {
			return err
		}
		updated.Key = k.Key
		k = *updated
	}
	s.log.Info("API key created", "id", k.ID, "user", k.User, "by", requester(c))
	return c.JSON(http.StatusCreated, toAPIKeyResponse(&k, true))
}

// findAPIKey resolves st2's api_key_id_or_key path parameter.
func (s *Server) findAPIKey(c echo.Context) (*catalog.APIKey, error) {
	idOrKey := c.Param("id")
	ctx := c.Request().Context()
	k, err := s.catalog.GetAPIKey(ctx, idOrKey)
	if errors.Is(err, catalog.ErrNotFound) {
		k, err = s.catalog.LookupAPIKey(ctx, idOrKey)
	}
	if errors.Is(err, catalog.ErrNotFound) {
		return nil, notFound("ApiKey with id or key %q not found.", idOrKey)
	}
	return k, err
}

func (s *Server) getAPIKey(c echo.Context) error {
	k, err := s.findAPIKey(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toAPIKeyResponse(k, false))
}

// updateAPIKey changes a key's enabled flag and metadata. Fields missing
// from the body keep their values, so `{"enabled": false}` only disables.
func (s *Server) updateAPIKey(c echo.Context) error {
	k, err := s.findAPIKey(c)
	if err != nil {
		return err
	}
	var body apiKeyRequest
	if err := decodeBody(c, &body); err != nil {
		return err
	}
	if body.User != "" && body.User != k.User {
		return badRequest("The user of an API key cannot be changed.")
	}
	enabled, metadata := k.Enabled, k.Metadata
	if body.Enabled != nil {
		enabled = *body.Enabled
	}
	if body.Metadata != nil {
		metadata = body.Metadata
	}
	updated, err := s.catalog.UpdateAPIKey(c.Request().Context(), k.ID, enabled, metadata)
	if errors.Is(err, catalog.ErrNotFound) {
		return notFound("ApiKey with id or key %q not found.", c.Param("id"))
	}
	if err != nil {
		return err
	}
	s.log.Info("API key updated", "id", k.ID, "enabled", enabled, "by", requester(c))
	return c.JSON(http.StatusOK, toAPIKeyResponse(updated, false))
}

func (s *Server) deleteAPIKey(c echo.Context) error {
	k, err := s.findAPIKey(c)
	if err != nil {
		return err
	}
	if err := s.catalog.DeleteAPIKey(c.Request().Context(), k.ID); err != nil {
		if errors.Is(err, catalog.ErrNotFound) {
			return notFound("ApiKey with id or key %q not found.", c.Param("id"))
		}
		return err
	}
	s.log.Info("API key deleted", "id", k.ID, "by", requester(c))
	return c.NoContent(http.StatusNoContent)
}
