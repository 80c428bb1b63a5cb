// Command oracle prints HashiCorp Nomad's own verdict on a snapshot archive
// as one JSON object. It is the test oracle for snaptool's Python verifier.
//
// Usage: oracle [--plain-tar] FILE
//
// Everything that can be done by calling Nomad's (MPL-2.0, v1.6.1) packages
// is done that way. The few places where Nomad's behaviour is reimplemented
// are marked "MIRRORS" below and listed in README.md.
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-msgpack/codec"
	"github.com/hashicorp/nomad/helper/raftutil"
	"github.com/hashicorp/nomad/helper/snapshot"
	"github.com/hashicorp/nomad/nomad"
	"github.com/hashicorp/nomad/nomad/state"
	"github.com/hashicorp/nomad/nomad/structs"
	"github.com/hashicorp/raft"
)

const nomadModule = "github.com/hashicorp/nomad"

// ---------------------------------------------------------------------------
// Output shape

type archiveResult struct {
	OK    bool    `json:"ok"`
	Error *string `json:"error"`
	// Via says which Nomad entry point produced the verdict.
	Via string `json:"via"`
	// AfterTar (--plain-tar only): what concludeGzipRead would add if this
	// exact tar were gzipped as one member, e.g. "1536 unread uncompressed
	// bytes remain" for a tar padded past its end blocks. Not part of read().
	AfterTar *string `json:"after_tar,omitempty"`
	// StateBytes is how many bytes of state.bin data Nomad's reader emitted
	// (all state.bin entries concatenated, as read() does), even on failure.
	StateBytes int `json:"state_bytes"`
}

type checkResult struct {
	OK      bool    `json:"ok"`
	Error   *string `json:"error"`
	Reached bool    `json:"reached"`
}

type fsmResult struct {
	OK    bool    `json:"ok"`
	Error *string `json:"error"`
	Class *string `json:"class"`
	// Input: "verified" (archive accepted), "unverified" (archive rejected,
	// FSM run on whatever state.bin bytes the reader emitted anyway) or
	// "none" (archive rejected before any state.bin byte; not run).
	Input string `json:"input"`
	// ConsumedBytes: how many bytes of state.bin the FSM restore read before
	// it returned. Less than the state.bin length with ok=true means the
	// restore stopped early without an error (e.g. type 20, EventSink, whose
	// case is "return nil" in Nomad 1.0.0-1.9.3).
	ConsumedBytes int `json:"consumed_bytes"`
	// Committed: the FSM swapped in the restored state store, which its
	// restoreImpl does only after Commit(). A restore that returns early
	// without an error (type 20 on 1.0.0-1.9.3) keeps the old store, even
	// when the early record was the last byte of state.bin.
	Committed bool `json:"committed"`
}

type fsmDroppedResult struct {
	fsmResult
	Dropped map[string]int `json:"dropped"`
}

type stateCommandResult struct {
	OK    bool    `json:"ok"`
	Error *string `json:"error"`
	Class *string `json:"class"`
}

type output struct {
	File         string              `json:"file"`
	Mode         string              `json:"mode"`
	NomadVersion string              `json:"nomad_version"`
	Archive      archiveResult       `json:"archive"`
	Meta         *raft.SnapshotMeta  `json:"meta"`
	RestoreMeta  checkResult         `json:"restore_meta"`
	FSM          fsmResult           `json:"fsm"`
	StateCommand *stateCommandResult `json:"state_command"`
	// FSMDroppingNewer is NOT Nomad's verdict on the file: see dropNewer.
	FSMDroppingNewer *fsmDroppedResult `json:"fsm_dropping_newer_types"`
	Inspect          json.RawMessage   `json:"inspect"`
	InspectError     *string           `json:"inspect_error"`
	InspectText      *string           `json:"inspect_text"`
	OKAll            bool              `json:"ok"`
}

func strp(s string) *string { return &s }

func errp(err error) *string {
	if err == nil {
		return nil
	}
	return strp(err.Error())
}

// ---------------------------------------------------------------------------
// Archive layer: Nomad's helper/snapshot.CopySnapshot (what Verify, inspect,
// and `operator snapshot state` use).

// bufferCloser collects what CopySnapshot writes as state.bin data.
type bufferCloser struct{ bytes.Buffer }

func (*bufferCloser) Close() error { return nil }

func copySnapshot(in []byte) (*raft.SnapshotMeta, []byte, error) {
	var dst bufferCloser
	meta, err := snapshot.CopySnapshot(bytes.NewReader(in), &dst)
	return meta, dst.Bytes(), err
}

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

const readWrap = "failed to read snapshot file: "

var unreadRe = regexp.MustCompile(`^(\d+) unread uncompressed bytes remain$`)

// plainTar reproduces the tar-level read() of helper/snapshot/archive.go,
// which is unexported: the tar is gzipped in memory (one member) and given to
// CopySnapshot. CopySnapshot = gzip.NewReader + read() + concludeGzipRead;
// with a gzip stream we made ourselves, gzip.NewReader cannot fail, read()'s
// errors come back wrapped in "failed to read snapshot file: " (stripped
// here, so the error is read()'s own text) and concludeGzipRead can only
// report bytes of the tar that read() left unread. In that last case read()
// succeeded; its meta is then obtained by running CopySnapshot again on the
// prefix of the tar that read() consumed.
func plainTar(tarBytes []byte) (archiveResult, *raft.SnapshotMeta, []byte) {
	res := archiveResult{Via: "helper/snapshot.CopySnapshot(gzip(tar)) -> read()"}
	meta, state, err := copySnapshot(gzipBytes(tarBytes))
	res.StateBytes = len(state)
	if err == nil {
		res.OK = true
		return res, meta, state
	}
	msg := err.Error()
	if strings.HasPrefix(msg, readWrap) {
		res.Error = strp(strings.TrimPrefix(msg, readWrap))
		return res, nil, state
	}
	if m := unreadRe.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		res.AfterTar = strp(msg)
		if n <= len(tarBytes) {
			meta2, state2, err2 := copySnapshot(gzipBytes(tarBytes[:len(tarBytes)-n]))
			if err2 == nil {
				res.OK = true
				res.StateBytes = len(state2)
				return res, meta2, state2
			}
			res.Error = strp("oracle: re-read of the consumed prefix failed: " + err2.Error())
			return res, nil, state
		}
	}
	res.Error = strp("oracle: unexpected CopySnapshot error on self-made gzip: " + msg)
	return res, nil, state
}

// ---------------------------------------------------------------------------
// raft restore meta checks.
//
// MIRRORS hashicorp/raft v1.5.0 raft.go restoreUserSnapshot (version range
// check, then FileSnapshotStore.Create / InmemSnapshotStore.Create's
// "version != 1" check wrapped as "failed to create snapshot: %v", then the
// io.Copy byte count against meta.Size). The error texts are raft's.
// The "configuration change outstanding" refusal depends on the live cluster
// and is not modelled.
func restoreMetaChecks(meta *raft.SnapshotMeta, stateLen int) error {
	version := meta.Version
	if version < raft.SnapshotVersionMin || version > raft.SnapshotVersionMax {
		return fmt.Errorf("unsupported snapshot version %d", version)
	}
	if version != 1 {
		return fmt.Errorf("failed to create snapshot: %v", fmt.Errorf("unsupported snapshot version %d", version))
	}
	n := int64(stateLen)
	if n != meta.Size {
		return fmt.Errorf("failed to write snapshot, size didn't match (%d != %d)", n, meta.Size)
	}
	return nil
}

// ---------------------------------------------------------------------------
// FSM restore: nomad.NewFSM + Restore, built exactly as helper/raftutil's
// dummyFSM does for `nomad operator snapshot state` (dummyFSM is unexported,
// so its five lines of configuration are repeated here).

func newFSM(logger hclog.Logger) (interface {
	Restore(io.ReadCloser) error
	State() *state.StateStore
}, error) {
	periodicDispatch := nomad.NewPeriodicDispatch(logger, nil)
	blockedEvals := nomad.NewBlockedEvals(nil, logger)
	evalBroker, err := nomad.NewEvalBroker(1, 1, 1, 1)
	if err != nil {
		return nil, err
	}
	return nomad.NewFSM(&nomad.FSMConfig{
		EvalBroker: evalBroker,
		Periodic:   periodicDispatch,
		Blocked:    blockedEvals,
		Logger:     logger,
		Region:     "default",
	})
}

func classify(err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "Unrecognized snapshot type"):
		return "unknown-type"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		strings.HasSuffix(msg, ": EOF"), strings.HasSuffix(msg, "unexpected EOF"), msg == "EOF":
		return "truncated"
	case strings.Contains(msg, "decode"), strings.Contains(msg, "msgpack"), strings.Contains(msg, "codec"):
		return "decode-error"
	default:
		return "other"
	}
}

func runFSM(stateBin []byte, logger hclog.Logger) (res fsmResult) {
	defer func() {
		if r := recover(); r != nil {
			res.OK = false
			res.Error = strp(fmt.Sprintf("panic: %v", r))
			res.Class = strp("panic")
			fmt.Fprintf(os.Stderr, "oracle: FSM restore panicked: %v\n%s\n", r, debug.Stack())
		}
	}()
	fsm, err := newFSM(logger)
	if err != nil {
		return fsmResult{Error: strp("oracle: failed to create FSM: " + err.Error()), Class: strp("other")}
	}
	cr := &countingReader{r: bytes.NewReader(stateBin)}
	before := fsm.State()
	if err := fsm.Restore(io.NopCloser(cr)); err != nil {
		return fsmResult{Error: errp(err), Class: strp(classify(err)), ConsumedBytes: cr.read}
	}
	return fsmResult{OK: true, ConsumedBytes: cr.read, Committed: fsm.State() != before}
}

// runStateCommand calls helper/raftutil.RestoreFromArchive, the whole of what
// `nomad operator snapshot state FILE` does before printing.
func runStateCommand(gz []byte) (res stateCommandResult) {
	defer func() {
		if r := recover(); r != nil {
			res = stateCommandResult{Error: strp(fmt.Sprintf("panic: %v", r)), Class: strp("panic")}
		}
	}()
	type result struct {
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- result{fmt.Errorf("panic: %v", r)}
			}
		}()
		_, _, err := raftutil.RestoreFromArchive(bytes.NewReader(gz), nil)
		done <- result{err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			c := classify(r.err)
			if strings.HasPrefix(r.err.Error(), "failed to read snapshot: ") {
				c = "archive"
			} else if strings.HasPrefix(r.err.Error(), "panic: ") {
				c = "panic"
			}
			return stateCommandResult{Error: errp(r.err), Class: strp(c)}
		}
		return stateCommandResult{OK: true}
	case <-time.After(60 * time.Second):
		return stateCommandResult{Error: strp("oracle: RestoreFromArchive did not return within 60s"), Class: strp("other")}
	}
}

// ---------------------------------------------------------------------------
// inspect -json, as Nomad >= 1.8.1 prints it.
//
// MIRRORS command/operator_snapshot_inspect.go inspect()/generateStats() and
// nomad/fsm.go ReadSnapshot() of Nomad >= 1.8.1 (which v1.6.1 lacks): decode
// the header with Nomad's msgpack handle, then read one raw type byte
// (io.EOF = clean end), decode one value into interface{}, and attribute the
// bytes consumed (counted through a reader that, like Nomad's countingReader,
// counts only reads without error) to that type.

var snapshotTypeNames = map[byte]string{
	0: "Node", 1: "Job", 2: "Index", 3: "Eval", 4: "Alloc", 5: "TimeTable",
	6: "PeriodicLaunch", 7: "JobSummary", 8: "VaultAccessor", 9: "JobVersion",
	10: "Deployment", 11: "ACLPolicy", 12: "ACLToken", 13: "SchedulerConfig",
	14: "ClusterMetadata", 15: "ServiceIdentityTokenAccessor", 16: "ScalingPolicy",
	17: "CSIPlugin", 18: "CSIVolume", 19: "ScalingEvents", 20: "EventSink",
	21: "ServiceRegistration", 22: "Variables", 23: "VariablesQuota",
	24: "RootKeyMeta", 25: "ACLRole", 26: "ACLAuthMethod", 27: "ACLBindingRule",
	28: "NodePool", 29: "JobSubmission", 30: "WrappedRootKeys",
	31: "HostVolumeSnapshot", 64: "Namespace",
}

type snapType byte

func (t snapType) String() string {
	if n, ok := snapshotTypeNames[byte(t)]; ok {
		return n
	}
	return fmt.Sprintf("Unknown(%d)", byte(t))
}

type countingReader struct {
	r    io.Reader
	read int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err == nil {
		c.read += n
	}
	return n, err
}

type typeStats struct {
	Name  string
	Sum   int
	Count int
}

type inspectFormat struct {
	Meta  *raft.SnapshotMeta
	Stats []typeStats
}

// record is one [type byte][msgpack value] frame of state.bin.
type record struct {
	typ        byte
	start, end int
}

// walkLayout describes state.bin as the generic walk saw it: the header's
// length, the records that decoded, and (failAt >= 0) the offset of the
// record at which the walk failed.
type walkLayout struct {
	headerEnd int
	records   []record
	failAt    int
}

func walkState(state []byte) ([]typeStats, walkLayout, error) {
	lay := walkLayout{failAt: -1}
	stats := map[snapType]typeStats{}
	total := 0
	cr := &countingReader{r: bytes.NewReader(state)}
	dec := codec.NewDecoder(cr, structs.MsgpackHandle)
	var header struct{} // nomad.SnapshotHeader is an empty struct
	if err := dec.Decode(&header); err != nil {
		lay.failAt = 0
		return nil, lay, err
	}
	lay.headerEnd = cr.read
	msgType := make([]byte, 1)
	for {
		start := cr.read
		_, err := cr.Read(msgType)
		if err == io.EOF {
			break
		} else if err != nil {
			lay.failAt = start
			return nil, lay, err
		}
		st := snapType(msgType[0])
		stat := stats[st]
		if stat.Name == "" {
			stat.Name = st.String()
		}
		var val interface{}
		if err := dec.Decode(&val); err != nil {
			lay.failAt = start
			return nil, lay, fmt.Errorf("failed to decode snapshot %q: %v", st, err)
		}
		lay.records = append(lay.records, record{typ: msgType[0], start: start, end: cr.read})
		stat.Sum += cr.read - total
		stat.Count++
		total = cr.read
		stats[st] = stat
	}
	ss := make([]typeStats, 0, len(stats))
	for _, s := range stats {
		ss = append(ss, s)
	}
	sort.Slice(ss, func(i, j int) bool {
		if ss[i].Sum == ss[j].Sum {
			return ss[i].Name < ss[j].Name
		}
		return ss[i].Sum > ss[j].Sum
	})
	return ss, lay, nil
}

// newerTypes are CE snapshot types that Nomad v1.6.1 does not know but later
// CE releases write: 29 JobSubmission (1.6.6/1.7.3/1.8.0), 30 WrappedRootKeys
// (1.9.0), 31 HostVolume (1.10.0).
var newerTypes = map[byte]bool{29: true, 30: true, 31: true}

// dropNewer returns state.bin without the records of newerTypes (bytes from
// a record the walk could not decode onwards are kept as they are), and how
// many records of each dropped type were removed. ok is false when there was
// nothing to drop.
func dropNewer(state []byte, lay walkLayout) ([]byte, map[string]int, bool) {
	dropped := map[string]int{}
	if lay.failAt == 0 {
		return nil, nil, false
	}
	out := append([]byte(nil), state[:lay.headerEnd]...)
	for _, r := range lay.records {
		if newerTypes[r.typ] {
			dropped[snapType(r.typ).String()]++
			continue
		}
		out = append(out, state[r.start:r.end]...)
	}
	if lay.failAt > 0 {
		out = append(out, state[lay.failAt:]...)
	}
	return out, dropped, len(dropped) > 0
}

// formatJSON is command/data_format.go's JSONFormat (go-msgpack JsonHandle,
// HTMLCharsAsIs, 4-space indent), which `inspect -json` prints via Ui.Output
// (which appends a newline).
func formatJSON(v interface{}) (string, error) {
	h := &codec.JsonHandle{HTMLCharsAsIs: true, Indent: 4}
	var buf bytes.Buffer
	if err := codec.NewEncoder(&buf, h).Encode(v); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// ---------------------------------------------------------------------------

func nomadVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == nomadModule {
				return d.Version
			}
		}
	}
	return "unknown"
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: oracle [--plain-tar] FILE")
	os.Exit(2)
}

func main() {
	args := os.Args[1:]
	plain := false
	if len(args) > 0 && (args[0] == "--plain-tar" || args[0] == "-plain-tar") {
		plain = true
		args = args[1:]
	}
	if len(args) != 1 || strings.HasPrefix(args[0], "-") && args[0] != "-" {
		usage()
	}
	path := args[0]
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "oracle: %v\n", err)
		os.Exit(2)
	}

	logger := hclog.New(&hclog.LoggerOptions{Name: "oracle", Level: hclog.Warn, Output: os.Stderr})
	hclog.SetDefault(logger)

	out := output{File: path, Mode: "snap", NomadVersion: nomadVersion()}
	var meta *raft.SnapshotMeta
	var state []byte
	gz := data
	if plain {
		out.Mode = "plain-tar"
		out.Archive, meta, state = plainTar(data)
		gz = gzipBytes(data)
	} else {
		var err error
		meta, state, err = copySnapshot(data)
		out.Archive = archiveResult{OK: err == nil, Error: errp(err), Via: "helper/snapshot.CopySnapshot", StateBytes: len(state)}
	}
	if out.Archive.OK {
		out.Meta = meta
	}

	// raft restore checks (only reached when the archive was accepted).
	if out.Archive.OK {
		err := restoreMetaChecks(meta, len(state))
		out.RestoreMeta = checkResult{OK: err == nil, Error: errp(err), Reached: true}
	}

	// FSM restore.
	switch {
	case out.Archive.OK:
		out.FSM = runFSM(state, logger)
		out.FSM.Input = "verified"
	case len(state) > 0:
		out.FSM = runFSM(state, logger)
		out.FSM.Input = "unverified"
	default:
		out.FSM = fsmResult{Input: "none"}
	}

	// The `operator snapshot state` command path, end to end.
	sc := runStateCommand(gz)
	out.StateCommand = &sc

	// inspect -json (>= 1.8.1 semantics).
	stats, lay, werr := walkState(state)

	// Not a Nomad verdict: the v1.6.1 FSM again, on state.bin minus the
	// record types only newer Nomad versions know, so that defects further
	// into a 1.9+-shaped state.bin are still seen.
	if len(state) > 0 {
		if stripped, dropped, ok := dropNewer(state, lay); ok {
			r := runFSM(stripped, logger)
			r.Input = out.FSM.Input
			out.FSMDroppingNewer = &fsmDroppedResult{fsmResult: r, Dropped: dropped}
		}
	}
	switch {
	case werr != nil:
		out.InspectError = errp(werr)
	case !out.Archive.OK:
		msg := "failed to read snapshot: "
		if out.Archive.Error != nil {
			msg += *out.Archive.Error
		}
		out.InspectError = &msg
	default:
		text, err := formatJSON(inspectFormat{Meta: meta, Stats: stats})
		if err != nil {
			out.InspectError = strp("oracle: JSON formatting failed: " + err.Error())
		} else {
			out.Inspect = json.RawMessage(text)
			out.InspectText = strp(text + "\n")
		}
	}
	if out.Inspect == nil {
		out.Inspect = json.RawMessage("null")
	}

	out.OKAll = out.Archive.OK && out.RestoreMeta.OK && out.FSM.OK

	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		fmt.Fprintf(os.Stderr, "oracle: %v\n", err)
		os.Exit(1)
	}
}
