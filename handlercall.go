package tp

import (
	"reflect"
	"unsafe"
)

// Calling a handler method through reflect.Value.Call costs a slice for
// its results, a lookup of the call's frame layout and the copying of
// every argument: about a tenth of a small pull's server CPU in profiles.
// Most handlers have a shape whose calling convention is that of a
// function of plain pointers: a pointer receiver, a pointer argument, and
// a pointer or interface{} result. Such a method is called directly, as a
// function of unsafe.Pointers; any other shape keeps reflect.Value.Call.
//
// Why this holds: a method expression's function takes the receiver as
// its first argument, and Go's calling convention passes and returns every
// pointer-shaped value the same way, whatever it points to. The types were
// checked at Reg, so each pointer handed over has the type the method
// expects. TestDirectCallMatchesReflect checks every shape against
// reflect.Value.Call.

// The direct forms of the handler shapes. Their first argument is the
// controller, their second the handler's argument.
type (
	// pullPtrFunc is a pull handler whose result is a pointer.
	pullPtrFunc func(ctrl, arg unsafe.Pointer) (unsafe.Pointer, *Rerror)
	// pullAnyFunc is a pull handler whose result is an interface{}.
	pullAnyFunc func(ctrl, arg unsafe.Pointer) (interface{}, *Rerror)
	// pushFunc is a push handler.
	pushFunc func(ctrl, arg unsafe.Pointer)
)

// directCall is how a handler method is called without reflection; the
// zero value means it cannot be.
type directCall struct {
	pullPtr pullPtrFunc
	pullAny pullAnyFunc
	push    pushFunc
	// replyType is the type word of the pointer result of pullPtr, with
	// which its result becomes an interface{}.
	replyType unsafe.Pointer
}

// makeDirectCall returns the direct form of method, the func of a method
// expression of a pointer-to-struct controller, or the zero directCall
// when its shape has none.
func makeDirectCall(method reflect.Value, pull bool) directCall {
	mt := method.Type()
	if mt.NumIn() != 2 || mt.In(0).Kind() != reflect.Pointer || mt.In(1).Kind() != reflect.Pointer {
		return directCall{}
	}
	if !pull {
		if mt.NumOut() != 0 {
			return directCall{}
		}
		return directCall{push: funcAs[pushFunc](method)}
	}
	if mt.NumOut() != 2 || mt.Out(1) != rerrorType {
		return directCall{}
	}
	switch reply := mt.Out(0); {
	case reply.Kind() == reflect.Pointer:
		return directCall{pullPtr: funcAs[pullPtrFunc](method), replyType: typeWord(reply)}
	case reply.Kind() == reflect.Interface && reply.NumMethod() == 0:
		return directCall{pullAny: funcAs[pullAnyFunc](method)}
	}
	return directCall{}
}

// ok reports whether the handler can be called directly.
func (d *directCall) ok() bool {
	return d.pullPtr != nil || d.pullAny != nil || d.push != nil
}

// call calls the handler on ctrl with arg, both pointers of the types the
// method takes, and returns a pull's result.
func (d *directCall) call(ctrl, arg unsafe.Pointer) (interface{}, *Rerror) {
	switch {
	case d.pullPtr != nil:
		p, rerr := d.pullPtr(ctrl, arg)
		return pointerAsInterface(d.replyType, p), rerr
	case d.pullAny != nil:
		return d.pullAny(ctrl, arg)
	}
	d.push(ctrl, arg)
	return nil, nil
}

// eface is the layout of an interface{}.
type eface struct {
	typ, data unsafe.Pointer
}

// funcAs returns fn, a func value, as the func type F of the same calling
// convention.
func funcAs[F any](fn reflect.Value) F {
	i := fn.Interface()
	fv := (*eface)(unsafe.Pointer(&i)).data // a func value is pointer-shaped
	return *(*F)(unsafe.Pointer(&fv))
}

// typeWord returns the type word interface{} values of t carry; t is
// pointer-shaped.
func typeWord(t reflect.Type) unsafe.Pointer {
	z := reflect.Zero(t).Interface()
	return (*eface)(unsafe.Pointer(&z)).typ
}

// pointerAsInterface returns p as an interface{} holding the pointer type
// whose type word is typ, as the conversion of a typed pointer would: a
// nil p gives a typed nil.
func pointerAsInterface(typ, p unsafe.Pointer) interface{} {
	var i interface{}
	e := (*eface)(unsafe.Pointer(&i))
	e.typ, e.data = typ, p
	return i
}
