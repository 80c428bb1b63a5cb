package main

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/go-msgpack/codec"
)

type selfer map[string]string

func (s *selfer) CodecEncodeSelf(*codec.Encoder) {}
func (s *selfer) CodecDecodeSelf(*codec.Decoder) {}

type binm struct{ A int }

func (binm) MarshalBinary() ([]byte, error) { return nil, nil }
func (*binm) UnmarshalBinary([]byte) error  { return nil }

type Inner struct {
	X     string
	Shade int `codec:"shade"`
}

type inner2 struct{ Y bool }

type outer struct {
	_struct bool `codec:",omitempty"`
	Inner
	*inner2              // embedded pointer to an unexported struct: skipped
	Named     Inner      `codec:"named"`
	Skip      string     `codec:"-"`
	Renamed   string     `codec:"other,omitempty"`
	X         []byte     // shallower than Inner.X: wins
	Dur       time.Duration
	When      *time.Time
	S         selfer
	B         binm
	Arr       [2]uint16
	Anon      struct{ Z float32 }
	I         interface{}
	F         func()
	private   int
	JSONOnly  string `json:"json_name"`
}

func TestDescribe(t *testing.T) {
	d := newDumper()
	if got := d.describe(reflect.TypeOf(outer{})); got["ref"] != "schemadump.outer" {
		t.Fatalf("ref: %v", got)
	}
	got, _ := json.Marshal(d.types["schemadump.outer"])
	want := `{"fields":{"Anon":{"fields":{"Z":{"bits":32,"kind":"float"}},"kind":"struct"},` +
		`"Arr":{"elem":{"bits":16,"kind":"uint"},"kind":"array","len":2},` +
		`"B":{"ref":"schemadump.binm"},` +
		`"Dur":{"bits":64,"kind":"int"},"I":{"kind":"interface"},"JSONOnly":{"kind":"string"},` +
		`"S":{"custom":true,"elem":{"kind":"string"},"key":{"kind":"string"},"kind":"map"},` +
		`"When":{"elem":{"kind":"time"},"kind":"ptr"},"X":{"kind":"bytes"},` +
		`"named":{"ref":"schemadump.Inner"},"other":{"kind":"string"},"shade":{"bits":64,"kind":"int"}},` +
		`"kind":"struct"}`
	if string(got) != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	if b, _ := json.Marshal(d.types["schemadump.binm"]); string(b) != `{"custom":true,"fields":{"A":{"bits":64,"kind":"int"}},"kind":"struct"}` {
		t.Fatalf("binm: %s", b)
	}
	if len(d.omitempty["schemadump.outer"]) != 12 {
		t.Fatalf("omitempty: %v", d.omitempty["schemadump.outer"])
	}
}
