package opcua

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/ua"
	"github.com/sluice-edge/sluice/connectors/point"
)

// variable is a resolved node: one monitored item, one stream.
type variable struct {
	entry    *entry
	id       *ua.NodeID
	idText   string
	name     string // browse name
	display  string
	path     string // for {path}
	stream   string
	kind     point.Kind // 0: the first value decides
	desc     string
	dataType string // the DataType attribute: a standard type's name, else its node id
	array    bool   // an array variable, not collected
}

// limits are the server's operation limits that bound one request.
type limits struct {
	read, browse, monitor int
}

// Used when the server does not say (0 means no limit, which some servers
// nonetheless do not mean).
const defaultOpLimit = 1000

// readLimits reads the server's operation limits.
func (ss *session) readLimits(ctx context.Context) {
	ss.lim = limits{read: defaultOpLimit, browse: defaultOpLimit, monitor: defaultOpLimit}
	ids := []uint32{
		id.Server_ServerCapabilities_OperationLimits_MaxNodesPerRead,
		id.Server_ServerCapabilities_OperationLimits_MaxNodesPerBrowse,
		id.Server_ServerCapabilities_OperationLimits_MaxMonitoredItemsPerCall,
	}
	req := &ua.ReadRequest{TimestampsToReturn: ua.TimestampsToReturnNeither}
	for _, n := range ids {
		req.NodesToRead = append(req.NodesToRead, &ua.ReadValueID{NodeID: ua.NewNumericNodeID(0, n), AttributeID: ua.AttributeIDValue, DataEncoding: &ua.QualifiedName{}})
	}
	res, err := call[*ua.ReadResponse](ctx, ss.c, ss.s.cfg.RequestTimeout, req)
	if err != nil || len(res.Results) != len(ids) {
		return
	}
	dst := []*int{&ss.lim.read, &ss.lim.browse, &ss.lim.monitor}
	for i, r := range res.Results {
		if r.Status != ua.StatusOK || r.Value == nil {
			continue
		}
		if v, ok := r.Value.Value().(uint32); ok && v > 0 && v < defaultOpLimit {
			*dst[i] = int(v)
		}
	}
}

// resolve turns the configured entries into variables: node ids are
// checked, browse paths followed, folders discovered; then the variables'
// data types and descriptions are read. Problems of one entry are logged
// and counted, and the others go on; it fails only when nothing at all
// resolves (the server may still be starting).
func (ss *session) resolve(ctx context.Context) ([]*variable, error) {
	var vars []*variable
	for _, e := range ss.s.plan.entries {
		vs, err := ss.resolveEntry(ctx, e)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if isConnectionError(err) {
				return nil, err
			}
			ss.s.m.error("resolve")
			ss.s.env.Logger.Warn("opc ua node entry did not resolve; retried at the next reconnection", "entry", e.key, "err", err)
			continue
		}
		vars = append(vars, vs...)
	}
	if len(vars) == 0 {
		return nil, errors.New("no variable resolved")
	}
	vars, err := ss.readAttributes(ctx, vars)
	if err != nil {
		return nil, err
	}
	// One stream per variable: the first entry naming a node or a stream
	// wins.
	out := vars[:0]
	byNode, byStream := map[string]bool{}, map[string]string{}
	for _, v := range vars {
		if byNode[v.idText] {
			continue
		}
		v.stream = v.entry.stream.render(v)
		if v.stream == "" {
			ss.s.m.error("stream_name")
			ss.s.env.Logger.Warn("opc ua variable has an empty stream name; skipped", "node", v.idText, "entry", v.entry.key)
			continue
		}
		if other, dup := byStream[v.stream]; dup {
			ss.s.m.error("stream_collision")
			ss.s.env.Logger.Warn("two opc ua variables map to one stream; the second is skipped (use {path} or {id} in the template)",
				"stream", v.stream, "kept", other, "skipped", v.idText, "entry", v.entry.key)
			continue
		}
		byNode[v.idText], byStream[v.stream] = true, v.idText
		out = append(out, v)
	}
	return out, nil
}

// isConnectionError tells a broken session from a problem of one node.
func isConnectionError(err error) bool {
	var st ua.StatusCode
	if errors.As(err, &st) {
		switch st {
		case ua.StatusBadNodeIDUnknown, ua.StatusBadNodeIDInvalid, ua.StatusBadNotFound,
			ua.StatusBadBrowseNameInvalid, ua.StatusBadNoMatch, ua.StatusBadAttributeIDInvalid:
			return false
		}
		return true
	}
	var ne *nodeError
	return !errors.As(err, &ne)
}

// nodeError is a problem of the configured node itself (not found, not a
// variable), as opposed to the connection.
type nodeError struct{ msg string }

func (e *nodeError) Error() string { return e.msg }

func nodeErrorf(format string, args ...any) error {
	return &nodeError{msg: fmt.Sprintf(format, args...)}
}

// resolveEntry finds an entry's node and, for a folder, discovers the
// variables under it.
func (ss *session) resolveEntry(ctx context.Context, e *entry) ([]*variable, error) {
	var start *ua.NodeID
	var startPath string
	if e.id != nil {
		nid, err := e.id.resolve(ss.c.Namespaces())
		if err != nil {
			return nil, &nodeError{msg: err.Error()}
		}
		start = nid
	} else {
		nid, err := ss.browsePath(ctx, e.path)
		if err != nil {
			return nil, err
		}
		start = nid
		elts := make([]string, 0, len(e.path))
		for i, p := range e.path {
			if i == 0 && p.name == "Objects" {
				continue
			}
			elts = append(elts, p.name)
		}
		startPath = strings.Join(elts, "/")
	}
	// What is the node?
	req := &ua.ReadRequest{TimestampsToReturn: ua.TimestampsToReturnNeither}
	for _, a := range []ua.AttributeID{ua.AttributeIDNodeClass, ua.AttributeIDBrowseName, ua.AttributeIDDisplayName} {
		req.NodesToRead = append(req.NodesToRead, &ua.ReadValueID{NodeID: start, AttributeID: a, DataEncoding: &ua.QualifiedName{}})
	}
	res, err := call[*ua.ReadResponse](ctx, ss.c, ss.s.cfg.RequestTimeout, req)
	if err != nil {
		return nil, err
	}
	if len(res.Results) != 3 {
		return nil, fmt.Errorf("read of %s returned %d results", start, len(res.Results))
	}
	if st := res.Results[0].Status; st != ua.StatusOK {
		return nil, nodeErrorf("node %s: %v", start, st)
	}
	class := nodeClass(res.Results[0])
	v := &variable{entry: e, id: start, idText: start.String()}
	if qn, ok := dvValue(res.Results[1]).(*ua.QualifiedName); ok {
		v.name = qn.Name
	}
	if lt, ok := dvValue(res.Results[2]).(*ua.LocalizedText); ok {
		v.display = lt.Text
	}
	v.path = startPath
	if v.path == "" {
		v.path = v.name
	}
	switch class {
	case ua.NodeClassVariable:
		return []*variable{v}, nil
	case ua.NodeClassObject, ua.NodeClassView:
		return ss.discover(ctx, e, start)
	}
	return nil, nodeErrorf("node %s is a %v, neither a variable nor a folder", start, class)
}

func dvValue(dv *ua.DataValue) any {
	if dv == nil || dv.Value == nil {
		return nil
	}
	return dv.Value.Value()
}

func nodeClass(dv *ua.DataValue) ua.NodeClass {
	switch x := dvValue(dv).(type) {
	case int32:
		return ua.NodeClass(x)
	case uint32:
		return ua.NodeClass(x)
	}
	return ua.NodeClassUnspecified
}

// browsePath follows a browse path from the Root folder, one element at a
// time, matching browse names (and namespace indexes where given).
func (ss *session) browsePath(ctx context.Context, p []pathElt) (*ua.NodeID, error) {
	cur := ua.NewNumericNodeID(0, id.RootFolder)
	for i, elt := range p {
		refs, err := ss.browse(ctx, []*ua.NodeID{cur}, uint32(ua.NodeClassObject|ua.NodeClassVariable|ua.NodeClassView))
		if err != nil {
			return nil, err
		}
		var next *ua.NodeID
		for _, r := range refs[0] {
			if r.BrowseName != nil && r.BrowseName.Name == elt.name && (elt.ns < 0 || int(r.BrowseName.NamespaceIndex) == elt.ns) {
				next = ua.NewNodeIDFromExpandedNodeID(r.NodeID)
				break
			}
		}
		if next == nil {
			names := make([]string, 0, len(refs[0]))
			for _, r := range refs[0] {
				if r.BrowseName != nil {
					names = append(names, r.BrowseName.Name)
				}
			}
			if len(names) > 20 {
				names = append(names[:20], "...")
			}
			return nil, nodeErrorf("browse path %s: no %q under %s (children: %s)", pathString(p), elt.String(), pathString(p[:i]), strings.Join(names, ", "))
		}
		cur = next
	}
	return cur, nil
}

func pathString(p []pathElt) string {
	if len(p) == 0 {
		return "Root"
	}
	s := make([]string, len(p))
	for i, e := range p {
		s[i] = e.String()
	}
	return strings.Join(s, "/")
}

// discover collects the variables under a folder, level by level, down to
// the entry's depth: variables reached by hierarchical references other
// than HasProperty (properties are metadata such as EURange), recursing
// into objects. Include and exclude filter on the path below the folder.
func (ss *session) discover(ctx context.Context, e *entry, root *ua.NodeID) ([]*variable, error) {
	type item struct {
		id   *ua.NodeID
		path string
	}
	level := []item{{id: root}}
	seen := map[string]bool{root.String(): true}
	var out []*variable
	for depth := 1; depth <= e.depth && len(level) > 0; depth++ {
		ids := make([]*ua.NodeID, len(level))
		for i, it := range level {
			ids[i] = it.id
		}
		refs, err := ss.browse(ctx, ids, uint32(ua.NodeClassObject|ua.NodeClassVariable))
		if err != nil {
			return nil, err
		}
		var next []item
		for i, rs := range refs {
			for _, r := range rs {
				if r.ReferenceTypeID != nil && r.ReferenceTypeID.Namespace() == 0 && r.ReferenceTypeID.IntID() == id.HasProperty {
					continue
				}
				nid := ua.NewNodeIDFromExpandedNodeID(r.NodeID)
				key := nid.String()
				if seen[key] || r.BrowseName == nil {
					continue
				}
				seen[key] = true
				p := r.BrowseName.Name
				if level[i].path != "" {
					p = level[i].path + "/" + p
				}
				switch r.NodeClass {
				case ua.NodeClassObject:
					next = append(next, item{id: nid, path: p})
				case ua.NodeClassVariable:
					if !matchPath(p, e.include, e.exclude) {
						continue
					}
					if len(out) >= e.maxNodes {
						ss.s.m.error("discovery_limit")
						ss.s.env.Logger.Warn("opc ua discovery stopped at max_nodes", "entry", e.key, "max_nodes", e.maxNodes)
						return out, nil
					}
					v := &variable{entry: e, id: nid, idText: key, name: r.BrowseName.Name, path: p}
					if r.DisplayName != nil {
						v.display = r.DisplayName.Text
					}
					out = append(out, v)
				}
			}
		}
		level = next
	}
	if len(out) == 0 {
		return nil, nodeErrorf("no variables under %s within depth %d", root, e.depth)
	}
	return out, nil
}

func matchPath(p string, include, exclude []string) bool {
	if len(include) > 0 {
		ok := false
		for _, pat := range include {
			if m, _ := path.Match(pat, p); m {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	for _, pat := range exclude {
		if m, _ := path.Match(pat, p); m {
			return false
		}
	}
	return true
}

// browse returns the forward hierarchical references of each node,
// following continuation points, in requests of at most the server's
// browse limit.
func (ss *session) browse(ctx context.Context, nodes []*ua.NodeID, classMask uint32) ([][]*ua.ReferenceDescription, error) {
	out := make([][]*ua.ReferenceDescription, len(nodes))
	for lo := 0; lo < len(nodes); lo += ss.lim.browse {
		hi := min(lo+ss.lim.browse, len(nodes))
		req := &ua.BrowseRequest{
			View:                          &ua.ViewDescription{ViewID: ua.NewTwoByteNodeID(0)},
			RequestedMaxReferencesPerNode: 1000,
		}
		for _, n := range nodes[lo:hi] {
			req.NodesToBrowse = append(req.NodesToBrowse, &ua.BrowseDescription{
				NodeID:          n,
				BrowseDirection: ua.BrowseDirectionForward,
				ReferenceTypeID: ua.NewNumericNodeID(0, id.HierarchicalReferences),
				IncludeSubtypes: true,
				NodeClassMask:   classMask,
				ResultMask:      uint32(ua.BrowseResultMaskAll),
			})
		}
		res, err := call[*ua.BrowseResponse](ctx, ss.c, ss.s.cfg.RequestTimeout, req)
		if err != nil {
			return nil, fmt.Errorf("browse: %w", err)
		}
		if len(res.Results) != hi-lo {
			return nil, fmt.Errorf("browse: %d results for %d nodes", len(res.Results), hi-lo)
		}
		for i, r := range res.Results {
			if r.StatusCode != ua.StatusOK {
				return nil, nodeErrorf("browsing %s: %v", nodes[lo+i], r.StatusCode)
			}
			out[lo+i] = append(out[lo+i], r.References...)
			cp := r.ContinuationPoint
			for len(cp) > 0 {
				nres, err := call[*ua.BrowseNextResponse](ctx, ss.c, ss.s.cfg.RequestTimeout,
					&ua.BrowseNextRequest{ContinuationPoints: [][]byte{cp}})
				if err != nil {
					return nil, fmt.Errorf("browse next: %w", err)
				}
				if len(nres.Results) != 1 || nres.Results[0].StatusCode != ua.StatusOK {
					return nil, fmt.Errorf("browse next of %s failed", nodes[lo+i])
				}
				out[lo+i] = append(out[lo+i], nres.Results[0].References...)
				cp = nres.Results[0].ContinuationPoint
			}
		}
	}
	return out, nil
}

// readAttributes reads each variable's DataType, ValueRank and
// Description, sets its kind and description, and drops array variables
// (logged once per entry).
func (ss *session) readAttributes(ctx context.Context, vars []*variable) ([]*variable, error) {
	attrs := []ua.AttributeID{ua.AttributeIDDataType, ua.AttributeIDValueRank, ua.AttributeIDDescription}
	per := max(1, ss.lim.read/len(attrs))
	for lo := 0; lo < len(vars); lo += per {
		hi := min(lo+per, len(vars))
		req := &ua.ReadRequest{TimestampsToReturn: ua.TimestampsToReturnNeither}
		for _, v := range vars[lo:hi] {
			for _, a := range attrs {
				req.NodesToRead = append(req.NodesToRead, &ua.ReadValueID{NodeID: v.id, AttributeID: a, DataEncoding: &ua.QualifiedName{}})
			}
		}
		res, err := call[*ua.ReadResponse](ctx, ss.c, ss.s.cfg.RequestTimeout, req)
		if err != nil {
			return nil, fmt.Errorf("reading variable attributes: %w", err)
		}
		if len(res.Results) != len(req.NodesToRead) {
			return nil, fmt.Errorf("reading variable attributes: %d results for %d", len(res.Results), len(req.NodesToRead))
		}
		for i, v := range vars[lo:hi] {
			r := res.Results[i*len(attrs):]
			v.kind = v.entry.kind
			dt, _ := dvValue(r[0]).(*ua.NodeID)
			if x, ok := dvValue(r[0]).(*ua.ExpandedNodeID); ok && x != nil {
				dt = x.NodeID // some servers answer with an expanded id
			}
			if v.kind == 0 && dt != nil {
				v.kind = kindOfDataType(dt, ss.s.dt)
			}
			v.dataType = dataTypeName(dt)
			if rank, ok := dvValue(r[1]).(int32); ok && rank >= 0 {
				v.array = true
			}
			v.desc = v.entry.desc
			if lt, ok := dvValue(r[2]).(*ua.LocalizedText); ok && v.desc == "" {
				v.desc = lt.Text
			}
		}
	}
	kept := vars[:0]
	for _, v := range vars {
		if v.array {
			ss.s.m.drop(reasonArray, 1)
			ss.s.logOnce("array:"+v.entry.key, "opc ua array variables are not collected", "node", v.idText, "entry", v.entry.key)
			continue
		}
		kept = append(kept, v)
	}
	return kept, nil
}
