// Command schemadump prints, as JSON, a machine-readable description of the Go
// type tree of every record type that Nomad's FSM restore decodes from
// state.bin, plus the memdb indexes each record must satisfy on insert.
// It is built against the same Nomad module as the oracle (v1.6.1, MPL-2.0)
// and learns everything it can by reflection on Nomad's own types and on the
// memdb schema Nomad registers; nothing of Nomad's source is copied here.
//
// Usage: schemadump > snaptool/format/nomad_schema_1_6_1.json
//
// Build WITHOUT the codegen_generated tag: then reflection sees the plain
// structs, which is also what go-msgpack's reflection codec walks.
//
// Output (keys sorted, 1-space indent):
//
//	nomad_version  the Nomad module version linked in (build info)
//	records        snapshot type number -> type descriptor of the value decoded
//	types          "<pkg>.<Name>" -> {"kind": "struct", "fields": {...}} for
//	               every named struct type reached
//	indexes        snapshot type number -> the memdb indexes of the table the
//	               record is inserted into (all of them; allow_missing says
//	               which may be absent)
//	tables         snapshot type number -> memdb table name
//	restore_defaults snapshot type number -> fields the restore fills in
//	               before the insert when they are empty
//	omitempty      "<pkg>.<Name>" -> msgpack keys the encoder omits when empty
//	go_types       "<pkg>.<Name>" -> full Go import path and name (the short
//	               names are unique in this file, but e.g. structs.Attribute is
//	               plugins/shared/structs, not nomad/structs)
//
// Type descriptors: {"ref": "<pkg>.<Name>"} for named structs, otherwise
// {"kind": K, ...}; see describe().
package main

import (
	"encoding"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"time"

	memdb "github.com/hashicorp/go-memdb"
	"github.com/hashicorp/go-msgpack/codec"
	"github.com/hashicorp/nomad/nomad"
	"github.com/hashicorp/nomad/nomad/state"
	"github.com/hashicorp/nomad/nomad/structs"
)

const nomadModule = "github.com/hashicorp/nomad"

// records: snapshot type -> (Go type decoded by restoreImpl, memdb table the
// StateRestore method inserts into). Read from nomad/fsm.go restoreImpl and
// nomad/state/state_store_restore.go of v1.6.1. Type 5 (TimeTable) is decoded
// into a []nomad.TimeTableEntry by TimeTable.Deserialize and not inserted
// into memdb. Type 20 (EventSink) is not decoded at all (restore returns nil)
// and 29+ are unknown to v1.6.1, so they are not listed.
var records = []struct {
	num   int
	typ   reflect.Type
	table string
}{
	{0, reflect.TypeOf(structs.Node{}), "nodes"},
	{1, reflect.TypeOf(structs.Job{}), "jobs"},
	{2, reflect.TypeOf(state.IndexEntry{}), "index"},
	{3, reflect.TypeOf(structs.Evaluation{}), "evals"},
	{4, reflect.TypeOf(structs.Allocation{}), state.TableAllocs},
	{5, reflect.TypeOf([]nomad.TimeTableEntry{}), ""},
	{6, reflect.TypeOf(structs.PeriodicLaunch{}), "periodic_launch"},
	{7, reflect.TypeOf(structs.JobSummary{}), "job_summary"},
	{8, reflect.TypeOf(structs.VaultAccessor{}), "vault_accessors"},
	{9, reflect.TypeOf(structs.Job{}), "job_version"},
	{10, reflect.TypeOf(structs.Deployment{}), "deployment"},
	{11, reflect.TypeOf(structs.ACLPolicy{}), "acl_policy"},
	{12, reflect.TypeOf(structs.ACLToken{}), "acl_token"},
	{13, reflect.TypeOf(structs.SchedulerConfiguration{}), "scheduler_config"},
	{14, reflect.TypeOf(structs.ClusterMetadata{}), "cluster_meta"},
	{15, reflect.TypeOf(structs.SITokenAccessor{}), "si_token_accessors"},
	{16, reflect.TypeOf(structs.ScalingPolicy{}), "scaling_policy"},
	{17, reflect.TypeOf(structs.CSIPlugin{}), "csi_plugins"},
	{18, reflect.TypeOf(structs.CSIVolume{}), "csi_volumes"},
	{19, reflect.TypeOf(structs.JobScalingEvents{}), "scaling_event"},
	{21, reflect.TypeOf(structs.ServiceRegistration{}), state.TableServiceRegistrations},
	{22, reflect.TypeOf(structs.VariableEncrypted{}), state.TableVariables},
	{23, reflect.TypeOf(structs.VariablesQuota{}), state.TableVariablesQuotas},
	{24, reflect.TypeOf(structs.RootKeyMeta{}), state.TableRootKeyMeta},
	{25, reflect.TypeOf(structs.ACLRole{}), state.TableACLRoles},
	{26, reflect.TypeOf(structs.ACLAuthMethod{}), state.TableACLAuthMethods},
	{27, reflect.TypeOf(structs.ACLBindingRule{}), state.TableACLBindingRules},
	{28, reflect.TypeOf(structs.NodePool{}), state.TableNodePools},
	{64, reflect.TypeOf(structs.Namespace{}), state.TableNamespaces},
}

// restoreDefaults: what restoreImpl / StateRestore do to a decoded record
// before the memdb insert, limited to empty fields that get a value (these
// matter for the indexes). MIRRORS nomad/fsm.go restoreImpl (Node and Job
// Canonicalize, ScalingPolicy Canonicalize) and StateRestore.JobRestore
// (NodePool); the values are Nomad's own constants. Namespace.Canonicalize
// is a no-op in CE.
var restoreDefaults = map[string][]map[string]any{
	"0": {
		{"field": "NodePool", "default": structs.NodePoolDefault, "by": "Node.Canonicalize"},
		{"field": "SchedulingEligibility", "default": structs.NodeSchedulingEligible, "by": "Node.Canonicalize (ineligible instead when DrainStrategy is set)"},
	},
	"1": {
		{"field": "Namespace", "default": structs.DefaultNamespace, "by": "Job.Canonicalize"},
		{"field": "NodePool", "default": structs.NodePoolDefault, "by": "StateRestore.JobRestore"},
	},
	"16": {
		{"field": "Type", "default": structs.ScalingPolicyTypeHorizontal, "by": "ScalingPolicy.Canonicalize"},
	},
}

var (
	timeType      = reflect.TypeOf(time.Time{})
	selferType    = reflect.TypeOf((*codec.Selfer)(nil)).Elem()
	binMarshType  = reflect.TypeOf((*encoding.BinaryMarshaler)(nil)).Elem()
	binUnmarshTyp = reflect.TypeOf((*encoding.BinaryUnmarshaler)(nil)).Elem()
)

type dumper struct {
	types     map[string]any          // ref name -> struct descriptor
	names     map[reflect.Type]string // named struct type -> ref name
	owners    map[string]reflect.Type // ref name -> type (collision check)
	omitempty map[string][]string
	warnings  []string
}

func newDumper() *dumper {
	return &dumper{
		types:     map[string]any{},
		names:     map[reflect.Type]string{},
		owners:    map[string]reflect.Type{},
		omitempty: map[string][]string{},
	}
}

func (d *dumper) warn(format string, args ...any) {
	d.warnings = append(d.warnings, fmt.Sprintf(format, args...))
}

// implements reports whether t or *t implements iface (go-msgpack's
// implIntf checks both, and decoding always has an addressable value).
func implements(t, iface reflect.Type) bool {
	if t.Implements(iface) {
		return true
	}
	if t.Kind() != reflect.Ptr && t.Kind() != reflect.Interface {
		return reflect.PtrTo(t).Implements(iface)
	}
	return false
}

// custom: go-msgpack (v1.1.5 helper.go BasicHandle.fn) would hand this type
// to its own code rather than to the reflection codec: a codec.Selfer, or
// (for a binary handle like msgpack) a type with both MarshalBinary and
// UnmarshalBinary. time.Time is the expected case and is described as "time".
func custom(t reflect.Type) bool {
	if t.Kind() == reflect.Interface || t.Kind() == reflect.Ptr {
		return false
	}
	if implements(t, selferType) {
		return true
	}
	return implements(t, binMarshType) && implements(t, binUnmarshTyp)
}

func refName(t reflect.Type) string {
	pkg := t.PkgPath()
	short := pkg[strings.LastIndex(pkg, "/")+1:]
	return short + "." + t.Name()
}

// describe returns the descriptor of t.
func (d *dumper) describe(t reflect.Type) map[string]any {
	if t == timeType {
		return map[string]any{"kind": "time"}
	}
	var out map[string]any
	switch t.Kind() {
	case reflect.Struct:
		if t.Name() == "" {
			out = map[string]any{"kind": "struct", "fields": d.fields(t, "")}
			break
		}
		return map[string]any{"ref": d.define(t)}
	case reflect.Ptr:
		out = map[string]any{"kind": "ptr", "elem": d.describe(t.Elem())}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			out = map[string]any{"kind": "bytes"}
			if t.Elem() != reflect.TypeOf(uint8(0)) {
				d.warn("slice of a named uint8 type %v: decodes from bytes, but go-msgpack encodes it as an array", t)
			}
		} else {
			out = map[string]any{"kind": "slice", "elem": d.describe(t.Elem())}
		}
	case reflect.Array:
		out = map[string]any{"kind": "array", "len": t.Len(), "elem": d.describe(t.Elem())}
		if t.Elem().Kind() == reflect.Uint8 {
			d.warn("byte array %v: go-msgpack encodes it as bytes (str family)", t)
		}
	case reflect.Map:
		out = map[string]any{"kind": "map", "key": d.describe(t.Key()), "elem": d.describe(t.Elem())}
	case reflect.Interface:
		out = map[string]any{"kind": "interface"}
	case reflect.String:
		out = map[string]any{"kind": "string"}
	case reflect.Bool:
		out = map[string]any{"kind": "bool"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		out = map[string]any{"kind": "int", "bits": t.Bits()}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		out = map[string]any{"kind": "uint", "bits": t.Bits()}
	case reflect.Float32, reflect.Float64:
		out = map[string]any{"kind": "float", "bits": t.Bits()}
	default:
		d.warn("unsupported kind %v for type %v", t.Kind(), t)
		out = map[string]any{"kind": t.Kind().String()}
	}
	if custom(t) {
		out["custom"] = true
		d.warn("custom encoder: %v", t)
	}
	return out
}

// define adds the named struct type t to d.types (once) and returns its name.
func (d *dumper) define(t reflect.Type) string {
	if name, ok := d.names[t]; ok {
		return name
	}
	name := refName(t)
	if other, ok := d.owners[name]; ok && other != t {
		fmt.Fprintf(os.Stderr, "schemadump: name collision: %s is both %s and %s\n",
			name, other.PkgPath(), t.PkgPath())
		os.Exit(1)
	}
	d.names[t] = name
	d.owners[name] = t
	desc := map[string]any{"kind": "struct"}
	d.types[name] = desc // placeholder first: recursion stops at d.names
	desc["fields"] = d.fields(t, name)
	if custom(t) {
		desc["custom"] = true
		d.warn("custom encoder: %v", t)
	}
	return name
}

// sfi is one struct field as go-msgpack's reflection codec sees it.
type sfi struct {
	key       string
	depth     int
	typ       reflect.Type
	omitEmpty bool
	path      string
}

// collect MIRRORS go-msgpack v1.1.5 helper.go TypeInfos.rget with
// TypeInfos=NewTypeInfos([]string{"codec"}) (Nomad's MsgpackHandle):
// funcs/complex/unsafe pointers skipped; unexported non-embedded skipped;
// tag "-" skipped; an embedded struct or pointer to struct with no tag name
// is inlined (not an embedded pointer to an unexported struct type; an
// embedded type seen twice on the way down is not descended again);
// otherwise the key is the tag name, or the Go field name.
func collect(rt reflect.Type, omitEmpty bool, depth int, path string, etypes *[]reflect.Type, out *[]sfi) {
	for j := 0; j < rt.NumField(); j++ {
		f := rt.Field(j)
		fkind := f.Type.Kind()
		switch fkind {
		case reflect.Func, reflect.Complex64, reflect.Complex128, reflect.UnsafePointer:
			continue
		}
		isUnexported := f.PkgPath != ""
		if isUnexported && !f.Anonymous {
			continue
		}
		stag := f.Tag.Get("codec")
		if stag == "-" {
			continue
		}
		tagName, tagOmit, parsed := "", false, false
		if f.Anonymous && fkind != reflect.Interface {
			ft := f.Type
			isPtr := ft.Kind() == reflect.Ptr
			for ft.Kind() == reflect.Ptr {
				ft = ft.Elem()
			}
			isStruct := ft.Kind() == reflect.Struct
			if (isUnexported && !isStruct) || (isUnexported && isPtr) {
				continue
			}
			doInline := stag == ""
			if !doInline {
				tagName, tagOmit = parseTag(stag)
				parsed = true
				doInline = tagName == ""
			}
			if doInline && isStruct {
				n := 0
				for _, k := range *etypes {
					if k == ft {
						n++
					}
				}
				if n < 2 { // rgetMaxRecursion
					*etypes = append(*etypes, ft)
					collect(ft, omitEmpty, depth+1, path+f.Name+".", etypes, out)
				}
				continue
			}
		}
		if isUnexported {
			continue
		}
		if !parsed {
			tagName, tagOmit = parseTag(stag)
		}
		key := tagName
		if key == "" {
			key = f.Name
		}
		*out = append(*out, sfi{key: key, depth: depth, typ: f.Type,
			omitEmpty: omitEmpty || tagOmit, path: path + f.Name})
	}
}

func parseTag(stag string) (name string, omitEmpty bool) {
	for i, s := range strings.Split(stag, ",") {
		if i == 0 {
			name = s
		} else if s == "omitempty" {
			omitEmpty = true
		}
	}
	return
}

// fields returns the msgpack key -> descriptor map of struct type t.
func (d *dumper) fields(t reflect.Type, name string) map[string]any {
	omitEmpty := false
	if f, ok := t.FieldByName("_struct"); ok {
		for i, s := range strings.Split(f.Tag.Get("codec"), ",") {
			if i == 0 {
				continue
			}
			switch s {
			case "omitempty":
				omitEmpty = true
			case "toarray", "int", "uint", "float":
				d.warn("%v: _struct tag option %q (not modelled)", t, s)
			}
		}
	}
	var all []sfi
	etypes := []reflect.Type{t}
	collect(t, omitEmpty, 1, "", &etypes, &all)

	// MIRRORS rgetResolveSFI: for a repeated key the shallowest field wins;
	// at equal depth go-msgpack keeps both (and would write the key twice).
	best := map[string]sfi{}
	for _, s := range all {
		b, ok := best[s.key]
		if !ok || s.depth < b.depth {
			best[s.key] = s
		} else if s.depth == b.depth {
			d.warn("%v: key %q at equal depth from %s and %s", t, s.key, b.path, s.path)
		}
	}
	out := map[string]any{}
	var omit []string
	for key, s := range best {
		out[key] = d.describe(s.typ)
		if s.omitEmpty {
			omit = append(omit, key)
		}
		if s.path != key && !strings.HasSuffix(s.path, "."+key) {
			d.warn("%v: field %s has msgpack key %q", t, s.path, key)
		}
	}
	if len(omit) > 0 {
		sort.Strings(omit)
		label := name
		if label == "" {
			label = t.String()
		}
		d.omitempty[label] = omit
	}
	return out
}

// ---------------------------------------------------------------------------
// memdb indexes

// customIndexers: what Nomad's own (non-memdb) indexers read, and when they
// say "missing" or fail. Hand-written from nomad/state/schema.go v1.6.1; the
// indexer's Go type is taken from the live schema and must be listed here.
var customIndexers = map[string]map[string]any{
	"*state.ACLPolicyJobACLFieldIndex": {
		"fields": []string{"JobACL"},
		"note":   "missing when JobACL is nil or JobACL.Namespace is empty; error when JobACL.Namespace is set and JobACL.JobID is empty",
	},
	"*state.variableKeyIDFieldIndexer": {
		"fields": []string{"KeyID"},
		"note":   "string index on KeyID; missing when KeyID is empty",
	},
	"*state.ScalingPolicyTargetFieldIndex": {
		"note": "reads Target[field]; missing when Target is nil; a key absent from Target is missing unless this part's allow_missing, then it indexes as \"\"",
	},
	"indexer.SingleIndexer": {
		"fields": []string{"Global", "ExpirationTime"},
		"note":   "acl_token expiry index: missing unless Global matches the index (global/local) and ExpirationTime is set and non-zero; error when ExpirationTime is before the Unix epoch",
	},
	"*memdb.ConditionalIndex": {
		"note": "always present (a Go predicate: jobs gc/periodic, or the singleton-record id index)",
	},
}

func (d *dumper) indexer(ix memdb.Indexer) map[string]any {
	switch v := ix.(type) {
	case *memdb.StringFieldIndex:
		return map[string]any{"indexer": "string", "field": v.Field, "lowercase": v.Lowercase}
	case *memdb.UUIDFieldIndex:
		return map[string]any{"indexer": "uuid", "field": v.Field}
	case *memdb.UintFieldIndex:
		return map[string]any{"indexer": "uint", "field": v.Field}
	case *memdb.IntFieldIndex:
		return map[string]any{"indexer": "int", "field": v.Field}
	case *memdb.BoolFieldIndex:
		return map[string]any{"indexer": "bool", "field": v.Field}
	case *memdb.FieldSetIndex:
		return map[string]any{"indexer": "field-set", "field": v.Field}
	case *memdb.StringSliceFieldIndex:
		return map[string]any{"indexer": "string-slice", "field": v.Field, "lowercase": v.Lowercase}
	case *memdb.StringMapFieldIndex:
		return map[string]any{"indexer": "string-map", "field": v.Field, "lowercase": v.Lowercase}
	case *memdb.CompoundIndex:
		kind := "compound-string"
		var parts []any
		var fields []string
		for _, sub := range v.Indexes {
			p := d.indexer(sub)
			parts = append(parts, p)
			if p["indexer"] != "string" {
				kind = "compound"
			}
			if f, ok := p["field"].(string); ok {
				fields = append(fields, f)
			} else if fs, ok := p["fields"].([]string); ok {
				fields = append(fields, fs...)
			}
		}
		return map[string]any{"indexer": kind, "fields": fields, "parts": parts,
			"compound_allow_missing": v.AllowMissing}
	}
	goType := fmt.Sprintf("%T", ix)
	info, ok := customIndexers[goType]
	if !ok {
		fmt.Fprintf(os.Stderr, "schemadump: indexer type %s is not described; add it to customIndexers\n", goType)
		os.Exit(1)
	}
	out := map[string]any{"indexer": "custom", "go_type": strings.TrimPrefix(goType, "*")}
	for k, v := range info {
		out[k] = v
	}
	// Exported configuration of the custom indexer (e.g. Field, AllowMissing).
	rv := reflect.Indirect(reflect.ValueOf(ix))
	if rv.Kind() == reflect.Struct {
		for i := 0; i < rv.NumField(); i++ {
			f := rv.Type().Field(i)
			if f.PkgPath != "" {
				continue
			}
			switch fv := rv.Field(i); fv.Kind() {
			case reflect.String:
				out[strings.ToLower(f.Name)] = fv.String()
			case reflect.Bool:
				if f.Name == "AllowMissing" {
					out["part_allow_missing"] = fv.Bool()
				} else {
					out[strings.ToLower(f.Name)] = fv.Bool()
				}
			}
		}
	}
	return out
}

func (d *dumper) tableIndexes(ts *memdb.TableSchema) []any {
	var names []string
	for n := range ts.Indexes {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		if (names[i] == "id") != (names[j] == "id") {
			return names[i] == "id"
		}
		return names[i] < names[j]
	})
	var out []any
	for _, n := range names {
		is := ts.Indexes[n]
		desc := d.indexer(is.Indexer)
		desc["name"] = is.Name
		desc["unique"] = is.Unique
		desc["allow_missing"] = is.AllowMissing
		if n == "id" {
			// memdb Txn.Insert: "object missing primary index" whatever AllowMissing says.
			desc["primary"] = true
		}
		out = append(out, desc)
	}
	return out
}

func main() {
	d := newDumper()

	version := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == nomadModule {
				version = m.Version
			}
		}
	}
	if version == "" {
		fmt.Fprintln(os.Stderr, "schemadump: cannot find the Nomad module version in the build info")
		os.Exit(1)
	}

	tables := map[string]*memdb.TableSchema{}
	for _, factory := range state.GetFactories() {
		ts := factory()
		tables[ts.Name] = ts
	}

	recs := map[string]any{}
	indexes := map[string]any{}
	tableOf := map[string]any{}
	for _, r := range records {
		key := strconv.Itoa(r.num)
		recs[key] = d.describe(r.typ)
		if r.table == "" {
			continue
		}
		ts, ok := tables[r.table]
		if !ok {
			fmt.Fprintf(os.Stderr, "schemadump: no memdb table %q\n", r.table)
			os.Exit(1)
		}
		indexes[key] = d.tableIndexes(ts)
		tableOf[key] = r.table
	}

	goTypes := map[string]string{}
	for t, name := range d.names {
		goTypes[name] = t.PkgPath() + "." + t.Name()
	}

	out := map[string]any{
		"nomad_version":    version,
		"records":          recs,
		"types":            d.types,
		"indexes":          indexes,
		"tables":           tableOf,
		"restore_defaults": restoreDefaults,
		"omitempty":        d.omitempty,
		"go_types":         goTypes,
	}
	b, err := json.MarshalIndent(out, "", " ")
	if err != nil {
		fmt.Fprintln(os.Stderr, "schemadump:", err)
		os.Exit(1)
	}
	os.Stdout.Write(append(b, '\n'))

	sort.Strings(d.warnings)
	for i, w := range d.warnings {
		if i == 0 || w != d.warnings[i-1] {
			fmt.Fprintln(os.Stderr, "schemadump: note:", w)
		}
	}
}
