// Package promapi serves a Prometheus-compatible read API, so that
// Grafana's built-in Prometheus data source charts the tenant's streams
// and the streams its partners share with it, with no plugin of ours.
//
// Routes (under Prefix, and under Alias for the data source URL
// http://gateway:7080/prometheus; POSTed forms are taken as the GETs they
// stand for, see Front):
//
//	query                 instant query: vector or scalar
//	query_range           range query: matrix
//	series                series matching match[] (required)
//	labels                label names (of the series matching match[], if given)
//	label/{name}/values   values of a label
//	metadata              every stream is a gauge; help is its description
//
// Every stream of a number kind (float, int, bool as 0/1) is one series;
// string streams are left out. Its labels:
//
//	__name__   the stream name made a metric name (MetricName: site1/boiler/temp -> site1_boiler_temp)
//	stream     the stream name as it is
//	tenant     the owner tenant's display name
//	community  the community's name, for a stream shared into it (absent for local streams)
//	unit       the stream's unit, when it has one
//
// and each of the stream's own labels (store.Stream.Labels, or a
// partner's from its catalog), one named like those above as
// exported_<name> (withStreamLabels).
//
// A stream shared into two communities the caller reads is two series,
// told apart by community. The caller sees the local streams if it reads
// tenant-wide, and each community's shared streams if it reads there
// (its roles, as the users gate authenticated it).
//
// Queries are a subset of PromQL (ParseQuery): selectors, the
// *_over_time functions of a range, and arithmetic with numbers. Values
// come from the store's summaries, never from raw points read here:
// f(x[r]) at step t covers the points in (t-r, t] from summaries of
// buckets of gcd(r, step), combined; a plain selector is the newest point
// in (t-lookback, t] (5m, as Prometheus). Statistics leave out bad-quality
// points, as the store's summaries do; a plain selector or last_over_time
// whose newest point is bad is NaN, a gap in Grafana.
//
// Shared streams are read in process through federation (Partners): the
// owner's agent decides each read with its own state, so a paused or
// unshared stream is gone from the catalog and refused at once. A shared
// stream whose owner refuses or does not answer is left out of the
// result with a warning (the Prometheus API's "warnings", which Grafana
// shows); the query still succeeds with the rest.
package promapi
