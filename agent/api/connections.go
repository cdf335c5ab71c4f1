package api

import (
	"net/http"

	"github.com/sluice-edge/sluice/federation"
)

// The connection routes: one-way links between two tenants, beside
// communities (docs/federation-api.md).

func (f fedRoutes) listConnections(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, f.n.Connections())
	return nil
}

func (f fedRoutes) requestConnection(w http.ResponseWriter, r *http.Request) error {
	var req federation.ConnectionRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	c, err := f.n.RequestConnection(r.Context(), req)
	return reply(w, http.StatusCreated, c, err)
}

func (f fedRoutes) reviewConnection(w http.ResponseWriter, r *http.Request) error {
	var req federation.Review
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	c, err := f.n.ReviewConnection(r.Context(), r.PathValue("tenant"), req)
	return reply(w, http.StatusOK, c, err)
}

func (f fedRoutes) cancelConnection(w http.ResponseWriter, r *http.Request) error {
	return noContent(w, f.n.CancelConnection(r.Context(), r.PathValue("tenant")))
}

func (f fedRoutes) shareConnection(w http.ResponseWriter, r *http.Request) error {
	req, err := f.shareRequest(r)
	if err != nil {
		return err
	}
	sh, err := f.n.ShareConnection(r.Context(), r.PathValue("tenant"), req)
	return reply(w, http.StatusCreated, sh, err)
}

func (f fedRoutes) unshareConnection(w http.ResponseWriter, r *http.Request) error {
	return noContent(w, f.n.UnshareConnection(r.Context(), r.PathValue("tenant"), r.PathValue("stream")))
}

func (f fedRoutes) connectionCatalog(w http.ResponseWriter, r *http.Request) error {
	keep, err := catalogFilter(r.URL.Query())
	if err != nil {
		return err
	}
	entries, err := f.n.ConnectionCatalog(r.Context(), r.PathValue("tenant"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, keep(entries))
	return nil
}
