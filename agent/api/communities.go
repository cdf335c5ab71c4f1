package api

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/sluice-edge/sluice/connectors/point"
	"github.com/sluice-edge/sluice/federation"
)

// The community routes: the tenant, communities, membership, sharing and
// the catalog (docs/federation-api.md).

func (f fedRoutes) tenant(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, f.n.Tenant())
	return nil
}

func (f fedRoutes) listCommunities(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, f.n.Communities(f.roles(r.Context())))
	return nil
}

func (f fedRoutes) createCommunity(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Name string `json:"name"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	c, err := f.n.CreateCommunity(r.Context(), req.Name)
	return reply(w, http.StatusCreated, c, err)
}

func (f fedRoutes) showCommunity(w http.ResponseWriter, r *http.Request) error {
	c, err := f.n.Community(r.PathValue("c"), f.roles(r.Context()))
	return reply(w, http.StatusOK, c, err)
}

func (f fedRoutes) deleteCommunity(w http.ResponseWriter, r *http.Request) error {
	return noContent(w, f.n.DeleteCommunity(r.Context(), r.PathValue("c")))
}

func (f fedRoutes) listMembers(w http.ResponseWriter, r *http.Request) error {
	ms, err := f.n.Members(r.PathValue("c"))
	return reply(w, http.StatusOK, ms, err)
}

func (f fedRoutes) confirm(w http.ResponseWriter, r *http.Request) error {
	m, err := f.n.Confirm(r.Context(), r.PathValue("c"), r.PathValue("tenant"))
	return reply(w, http.StatusOK, m, err)
}

func (f fedRoutes) remove(w http.ResponseWriter, r *http.Request) error {
	return noContent(w, f.n.Remove(r.Context(), r.PathValue("c"), r.PathValue("tenant")))
}

func (f fedRoutes) leave(w http.ResponseWriter, r *http.Request) error {
	return noContent(w, f.n.Leave(r.Context(), r.PathValue("c")))
}

func (f fedRoutes) pause(w http.ResponseWriter, r *http.Request) error {
	return noContent(w, f.n.Pause(r.Context(), r.PathValue("c")))
}

func (f fedRoutes) resume(w http.ResponseWriter, r *http.Request) error {
	return noContent(w, f.n.Resume(r.Context(), r.PathValue("c")))
}

func (f fedRoutes) share(w http.ResponseWriter, r *http.Request) error {
	req, err := f.shareRequest(r)
	if err != nil {
		return err
	}
	sh, err := f.n.Share(r.Context(), r.PathValue("c"), req)
	return reply(w, http.StatusCreated, sh, err)
}

func (f fedRoutes) unshare(w http.ResponseWriter, r *http.Request) error {
	return noContent(w, f.n.Unshare(r.Context(), r.PathValue("c"), r.PathValue("stream")))
}

// catalog gathers every member's shared streams (each owner decides what
// this tenant may see, with its own state); members whose agents did not
// answer are named in the Sluice-Unreachable header.
func (f fedRoutes) catalog(w http.ResponseWriter, r *http.Request) error {
	keep, err := catalogFilter(r.URL.Query())
	if err != nil {
		return err
	}
	cat, err := f.n.Catalog(r.Context(), r.PathValue("c"))
	if err != nil {
		return err
	}
	if len(cat.Unreachable) > 0 {
		w.Header().Set("Sluice-Unreachable", strings.Join(cat.Unreachable, ", "))
	}
	writeJSON(w, http.StatusOK, keep(cat.Entries))
	return nil
}

// catalogFilter reads a catalog query: the entries kept match its search
// (a case-insensitive substring of the stream, tenant, description, unit
// or a label key=value) and every label= term (key=value, or key: has
// the label).
func catalogFilter(q url.Values) (func([]federation.CatalogEntry) []federation.CatalogEntry, error) {
	sel, err := point.ParseLabelSelector(q["label"])
	if err != nil {
		return nil, badRequest("bad_label", "%v (want label=key=value or label=key)", err)
	}
	search := strings.ToLower(q.Get("search"))
	return func(in []federation.CatalogEntry) []federation.CatalogEntry {
		kept := []federation.CatalogEntry{}
		for _, e := range in {
			if !sel.Match(e.Labels) {
				continue
			}
			if search != "" {
				text := e.Stream + " " + e.TenantName + " " + e.Description + " " + e.Unit
				for k, v := range e.Labels {
					text += " " + k + "=" + v
				}
				if !strings.Contains(strings.ToLower(text), search) {
					continue
				}
			}
			kept = append(kept, e)
		}
		return kept
	}, nil
}

// reply answers v with code, or err is the answer.
func reply(w http.ResponseWriter, code int, v any, err error) error {
	if err == nil {
		writeJSON(w, code, v)
	}
	return err
}

// noContent answers 204 to a done action.
func noContent(w http.ResponseWriter, err error) error {
	if err == nil {
		w.WriteHeader(http.StatusNoContent)
	}
	return err
}
