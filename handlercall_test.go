package tp

import (
	"reflect"
	"strings"
	"testing"
	"unsafe"
)

// Controllers of every shape a handler may have; each method records what
// it was given in the controller, so that a call proves it received the
// right receiver and argument.
type (
	callShapes struct {
		PullCtx
		seen  int
		label string
	}
	callInner    struct{ seenInner int }
	callEmbedder struct {
		PullCtx
		callInner // promotes Inner
	}
	callValueRecv struct {
		PullCtx
		label string
	}
	callGeneric[T any] struct {
		PullCtx
		last T
	}
	callPush struct {
		PushCtx
		seen int
	}
)

type callReply struct{ N int }

var errCallShape = NewRerror(7, "shape", "refused")

func (c *callShapes) Ptr(a *int) (*callReply, *Rerror) {
	c.seen = *a
	return &callReply{N: *a * 2}, nil
}

func (c *callShapes) NilPtr(a *int) (*callReply, *Rerror) { c.seen = *a; return nil, nil }

func (c *callShapes) PtrErr(a *int) (*callReply, *Rerror) { c.seen = *a; return nil, errCallShape }

func (c *callShapes) Any(a *string) (interface{}, *Rerror) {
	c.label = *a
	return map[string]int{*a: len(*a)}, nil
}

func (c *callShapes) AnyNil(a *string) (interface{}, *Rerror) { c.label = *a; return nil, nil }

func (c *callShapes) Slice(a *[]byte) (*[]byte, *Rerror) { return a, nil }

func (c *callShapes) Value(a *int) (callReply, *Rerror) { c.seen = *a; return callReply{N: *a}, nil }

func (c *callShapes) Str(a *string) (string, *Rerror) { return *a + "!", nil }

func (c *callShapes) Err(a *int) (interface{}, *Rerror) { c.seen = *a; return nil, errCallShape }

func (i *callInner) Inner(a *int) (*callReply, *Rerror) {
	i.seenInner = *a
	return &callReply{N: -*a}, nil
}

func (c callValueRecv) ValueRecv(a *string) (*string, *Rerror) {
	s := c.label + *a
	return &s, nil
}

func (c *callGeneric[T]) Generic(a *T) (*T, *Rerror) { c.last = *a; return a, nil }

func (c *callPush) Push(a *int) { c.seen = *a }

// TestDirectCallMatchesReflect calls every handler shape both directly
// and through reflect.Value.Call, and checks that the two agree on the
// result, the error and what the method saw; the shapes without a direct
// form must say so.
func TestDirectCallMatchesReflect(t *testing.T) {
	seven, word := 7, "go"
	raw := []byte("raw")
	rows := []struct {
		ctrl   interface{}
		method string
		arg    interface{}
		pull   bool
		direct bool
	}{
		{&callShapes{}, "Ptr", &seven, true, true},
		{&callShapes{}, "NilPtr", &seven, true, true},
		{&callShapes{}, "PtrErr", &seven, true, true},
		{&callShapes{}, "Any", &word, true, true},
		{&callShapes{}, "AnyNil", &word, true, true},
		{&callShapes{}, "Slice", &raw, true, true},
		{&callShapes{}, "Err", &seven, true, true},
		{&callShapes{}, "Value", &seven, true, false},
		{&callShapes{}, "Str", &word, true, false},
		{&callEmbedder{}, "Inner", &seven, true, true},
		{&callValueRecv{label: "to "}, "ValueRecv", &word, true, true},
		{&callGeneric[string]{}, "Generic", &word, true, true},
		{&callGeneric[int]{}, "Generic", &seven, true, true},
		{&callPush{}, "Push", &seven, false, true},
	}
	for _, row := range rows {
		t.Run(reflect.TypeOf(row.ctrl).Elem().Name()+"."+row.method, func(t *testing.T) {
			m, ok := reflect.TypeOf(row.ctrl).MethodByName(row.method)
			if !ok {
				t.Fatalf("no method %s", row.method)
			}
			d := makeDirectCall(m.Func, row.pull)
			if d.ok() != row.direct {
				t.Fatalf("direct form: %v, want %v", d.ok(), row.direct)
			}
			if !row.direct {
				return
			}
			// Two controllers in the same state, one per way of calling.
			viaReflect := reflect.New(reflect.TypeOf(row.ctrl).Elem())
			viaReflect.Elem().Set(reflect.ValueOf(row.ctrl).Elem())
			viaDirect := reflect.ValueOf(row.ctrl)

			rets := m.Func.Call([]reflect.Value{viaReflect, reflect.ValueOf(row.arg)})
			body, rerr := d.call(viaDirect.UnsafePointer(), reflect.ValueOf(row.arg).UnsafePointer())
			if !row.pull {
				if body != nil || rerr != nil {
					t.Errorf("push returned %v, %v", body, rerr)
				}
			} else {
				wantBody, wantRerr := rets[0].Interface(), rets[1].Interface().(*Rerror)
				if reflect.TypeOf(body) != reflect.TypeOf(wantBody) || !reflect.DeepEqual(body, wantBody) {
					t.Errorf("body %#v (%T), reflect gave %#v (%T)", body, body, wantBody, wantBody)
				}
				if (body == nil) != (wantBody == nil) {
					t.Errorf("body nil: %v, reflect's: %v", body == nil, wantBody == nil)
				}
				if rerr != wantRerr {
					t.Errorf("rerr %v, reflect gave %v", rerr, wantRerr)
				}
			}
			if got, want := viaDirect.Elem().Interface(), viaReflect.Elem().Interface(); !reflect.DeepEqual(got, want) {
				t.Errorf("the method saw %#v called directly, %#v through reflect", got, want)
			}
		})
	}
}

// TestDirectCallAllocs pins the point of the direct call: a pull handler
// returning a pointer costs no allocation beyond its own.
func TestDirectCallAllocs(t *testing.T) {
	m, _ := reflect.TypeOf(&callShapes{}).MethodByName("NilPtr")
	d := makeDirectCall(m.Func, true)
	ctrl, arg := unsafe.Pointer(&callShapes{}), unsafe.Pointer(new(int))
	if n := testing.AllocsPerRun(100, func() { d.call(ctrl, arg) }); n != 0 {
		t.Errorf("%v allocations per direct call, want 0", n)
	}
}

// CallPanics is a controller whose handlers of the direct shapes panic.
type CallPanics struct{ PullCtx }

func (*CallPanics) Ptr(*struct{}) (*struct{}, *Rerror)   { panic("direct boom ptr") }
func (*CallPanics) Any(*struct{}) (interface{}, *Rerror) { panic("direct boom any") }
func (*CallPanics) Fine(a *string) (*string, *Rerror)    { return a, nil }

// TestDirectCallPanics: a panic in a directly called handler is answered
// CodeInternalServerError like one through reflection, and the session
// and the pooled controller go on serving.
func TestDirectCallPanics(t *testing.T) {
	atDefaultLogLevel(t)
	p := newPair(t, nil, nil, func(srv, _ *Peer) { srv.PullRouter.Reg(new(CallPanics)) })
	for _, uri := range []string{"/call_panics/ptr", "/call_panics/any"} {
		var reply struct{}
		rerr := p.cliSess.Pull(uri, struct{}{}, &reply).Rerror()
		if rerr == nil || rerr.Code != CodeInternalServerError || !strings.Contains(rerr.Detail, "direct boom") {
			t.Fatalf("%s: %v, want CodeInternalServerError naming the panic", uri, rerr)
		}
	}
	var got string
	if rerr := p.cliSess.Pull("/call_panics/fine", "still here", &got).Rerror(); rerr != nil || got != "still here" {
		t.Fatalf("after the panics: %q, %v", got, rerr)
	}
}
