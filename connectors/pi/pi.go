// Package pi connects Sluice to the PI world, with two sources:
//
//   - type omf: an OMF (Open Message Format) 1.0-1.2 endpoint served on the
//     agent's API listener (at /omf by default), so that PI Adapters,
//     Fledge and custom devices that send to PI Web API can send to the
//     agent instead. Types, containers, static data and links are kept in
//     <data_dir>/omf/<source>.json; each container becomes one stream per
//     value property of its type. Data is acknowledged (2xx) only after
//     Sink.Write returned, so only once it is on disk. See omf.yaml.
//
//   - type pi-webapi: a reader of a PI Data Archive (PI points) and AF
//     (attributes) through PI Web API. It resolves the configured paths to
//     WebIDs once per run, backfills with streamsets/recorded in windows
//     that respect the server's per-call cap, then follows new values
//     with streamsets/updates markers, and resumes from the last stored
//     timestamp of each stream after a restart (kept in
//     <data_dir>/pi-webapi/<source>.json). See pi_webapi.yaml.
//
// Authentication of the OMF endpoint uses its own credentials (basic or
// bearer); accepting the agent's users, tokens and roles is a later issue.
package pi

import (
	"github.com/sluice-edge/sluice/connectors"
)

func init() {
	connectors.Register(connectors.Registration{
		Type:    "omf",
		Section: "omf",
		Sample:  OMFSample,
		New: func(env connectors.Env, decode func(any) error) (connectors.Source, error) {
			cfg := DefaultOMFConfig()
			if err := decode(&cfg); err != nil {
				return nil, err
			}
			return NewOMF(env, cfg)
		},
	})
	connectors.Register(connectors.Registration{
		Type:    "pi-webapi",
		Section: "pi_webapi",
		Sample:  WebAPISample,
		New: func(env connectors.Env, decode func(any) error) (connectors.Source, error) {
			cfg := DefaultWebAPIConfig()
			if err := decode(&cfg); err != nil {
				return nil, err
			}
			return NewWebAPI(env, cfg)
		},
	})
}
