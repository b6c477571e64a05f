// SPDX-License-Identifier: Apache-2.0

// jsonw.go — a small append-only JSON writer, fast enough to render thousands of Summary
// documents a second, that can also write the broken JSON the fault modes need.
//
// The output matches encoding/json.MarshalIndent(v, "", " ") — what the kubelet's go-restful
// server writes — byte for byte when indent is on: one space per level, ": " after keys,
// "{}"/"[]" for empty containers, HTML-safe string escaping, no trailing newline.
package main

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// renderMode selects how values are written; everything but modeNormal is a fault.
type renderMode uint8

const (
	modeNormal     renderMode = iota
	modeNaN                   // NaN/Infinity tokens, negatives, overflowing numbers
	modeWrongTypes            // strings/objects/arrays/bools/null where numbers belong
	modeBadUTF8               // invalid UTF-8 inside names
	modePartial               // fields the kubelet sometimes omits are omitted
)

type jw struct {
	b      []byte
	indent bool
	depth  int
	first  bool
	mode   renderMode
	n      uint32 // values written so far; picks the fault variant deterministically
	tc     [4]timeCacheEntry
	tcNext int
}

type timeCacheEntry struct {
	t  int64
	ok bool
	s  [20]byte
}

// 1 newline + up to 128 spaces of indentation.
var indentBytes = func() []byte {
	b := make([]byte, 129)
	b[0] = '\n'
	for i := 1; i < len(b); i++ {
		b[i] = ' '
	}
	return b
}()

func (w *jw) reset(indent bool, mode renderMode) {
	w.b = w.b[:0]
	w.indent, w.mode = indent, mode
	w.depth, w.first, w.n = 0, true, 0
}

func (w *jw) newline() {
	if w.indent {
		d := w.depth
		if d > len(indentBytes)-1 {
			d = len(indentBytes) - 1
		}
		w.b = append(w.b, indentBytes[:1+d]...)
	}
}

// elem starts an element of the enclosing object or array: separator and indentation.
func (w *jw) elem() {
	if !w.first {
		w.b = append(w.b, ',')
	}
	w.first = false
	w.newline()
}

func (w *jw) key(k string) {
	w.elem()
	w.b = append(w.b, '"')
	w.b = append(w.b, k...)
	w.b = append(w.b, '"', ':')
	if w.indent {
		w.b = append(w.b, ' ')
	}
}

func (w *jw) open(c byte) {
	w.b = append(w.b, c)
	w.depth++
	w.first = true
}

func (w *jw) close(c byte) {
	w.depth--
	if !w.first {
		w.newline()
	}
	w.b = append(w.b, c)
	w.first = false
}

func (w *jw) objKey(k string) { w.key(k); w.open('{') }
func (w *jw) arrKey(k string) { w.key(k); w.open('[') }
func (w *jw) objElem()        { w.elem(); w.open('{') }

// u64 writes a number, or in a fault mode one of the variants that mode produces.
func (w *jw) u64(v uint64) {
	w.n++
	switch w.mode {
	case modeNaN:
		switch w.n % 8 {
		case 1:
			w.b = append(w.b, "NaN"...)
		case 2:
			w.b = append(w.b, '-')
			w.b = strconv.AppendUint(w.b, v+1, 10)
		case 3:
			w.b = append(w.b, "1e400"...)
		case 4:
			w.b = append(w.b, "18446744073709551616"...)
		case 5:
			w.b = append(w.b, "-Infinity"...)
		case 6:
			w.b = append(w.b, "-1.5e-7"...)
		case 7:
			w.b = append(w.b, "Infinity"...)
		default:
			w.b = strconv.AppendUint(w.b, v, 10)
		}
		return
	case modeWrongTypes:
		switch w.n % 6 {
		case 1:
			w.b = append(w.b, '"')
			w.b = strconv.AppendUint(w.b, v, 10)
			w.b = append(w.b, '"')
		case 2:
			w.b = append(w.b, `{"value":`...)
			w.b = strconv.AppendUint(w.b, v, 10)
			w.b = append(w.b, '}')
		case 3:
			w.b = append(w.b, '[')
			w.b = strconv.AppendUint(w.b, v, 10)
			w.b = append(w.b, ']')
		case 4:
			w.b = append(w.b, "true"...)
		case 5:
			w.b = append(w.b, "null"...)
		default:
			w.b = strconv.AppendUint(w.b, v, 10)
		}
		return
	}
	w.b = strconv.AppendUint(w.b, v, 10)
}

func (w *jw) kU64(k string, v uint64) { w.key(k); w.u64(v) }

// f64 writes a float the way encoding/json does for the small values PSI averages have.
func (w *jw) f64(v float64) {
	if w.mode == modeNaN || w.mode == modeWrongTypes {
		w.u64(uint64(v * 100))
		return
	}
	w.b = strconv.AppendFloat(w.b, v, 'f', -1, 64)
}

func (w *jw) kF64(k string, v float64) { w.key(k); w.f64(v) }

// str writes an escaped JSON string.
func (w *jw) str(s string) {
	w.b = append(w.b, '"')
	w.b = appendEscaped(w.b, s)
	w.b = append(w.b, '"')
}

func (w *jw) kStr(k, s string) { w.key(k); w.str(s) }

// name writes an identifier (node, pod, namespace, container name). In modeBadUTF8 it
// splices invalid UTF-8 (or an escaped lone surrogate) into the middle of it.
func (w *jw) name(s string) {
	if w.mode != modeBadUTF8 {
		w.str(s)
		return
	}
	w.n++
	bad := [...]string{"\xff\xfe", "\xc0\xaf", "\xed\xa0\x80", `\ud800`, "\xe2\x82", "\x80"}
	mid := len(s) / 2
	w.b = append(w.b, '"')
	w.b = appendEscaped(w.b, s[:mid])
	w.b = append(w.b, bad[w.n%uint32(len(bad))]...)
	w.b = appendEscaped(w.b, s[mid:])
	w.b = append(w.b, '"')
}

func (w *jw) kName(k, s string) { w.key(k); w.name(s) }

// kTime writes an RFC3339 timestamp with whole seconds in UTC, like metav1.Time. In
// modeWrongTypes it is a bare unix number instead.
func (w *jw) kTime(k string, t int64) {
	w.key(k)
	if w.mode == modeWrongTypes {
		w.b = strconv.AppendInt(w.b, t, 10)
		return
	}
	for i := range w.tc {
		if e := &w.tc[i]; e.ok && e.t == t {
			w.b = append(w.b, '"')
			w.b = append(w.b, e.s[:]...)
			w.b = append(w.b, '"')
			return
		}
	}
	e := &w.tc[w.tcNext]
	w.tcNext = (w.tcNext + 1) % len(w.tc)
	s := time.Unix(t, 0).UTC().AppendFormat(e.s[:0], time.RFC3339)
	if len(s) != len(e.s) { // years outside 1000..9999: no caching
		e.ok = false
		w.b = append(w.b, '"')
		w.b = append(w.b, s...)
		w.b = append(w.b, '"')
		return
	}
	e.t, e.ok = t, true
	w.b = append(w.b, '"')
	w.b = append(w.b, e.s[:]...)
	w.b = append(w.b, '"')
}

const hexDigits = "0123456789abcdef"

// appendEscaped escapes like encoding/json: quotes, backslashes, control characters,
// <, >, & and U+2028/U+2029; invalid UTF-8 becomes U+FFFD.
func appendEscaped(b []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(b, s[start:]...)
}
