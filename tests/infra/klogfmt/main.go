// SPDX-License-Identifier: Apache-2.0

// klogfmt writes log records as Kubernetes components write them, for
// tests/integration/test_log_format.py to compare with kubepulse's: klog's text
// format (klog.InfoS, klog.V(n).InfoS, klog.ErrorS) with -format=text, and
// component-base's JSON lines (the same klog calls through k8s.io/component-base/logs/json,
// the logger kube-apiserver uses with --logging-format=json) with -format=json.
//
// The records come from a JSON-lines file, one per line:
//
//	{"sev": "info"|"warning"|"error", "v": N, "msg": "...", "err": "..." (optional),
//	 "kv": [["key", "s"|"i"|"f"|"b", value], ...]}
//
// klog has no structured warning call: a warning is written as klog.InfoS writes it (the
// test expects kubepulse's line to differ only in its severity letter), and in JSON as klog
// hands it to a logr sink, an info record at V 0.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"

	"go.uber.org/zap/zapcore"
	logsjson "k8s.io/component-base/logs/json"
	"k8s.io/klog/v2"
)

type record struct {
	Sev string               `json:"sev"`
	V   int                  `json:"v"`
	Msg string               `json:"msg"`
	Err *string              `json:"err"`
	KV  [][3]json.RawMessage `json:"kv"`
}

// decode reads one value of type T.
func decode[T any](raw json.RawMessage) (interface{}, error) {
	var v T
	err := json.Unmarshal(raw, &v)
	return v, err
}

func values(r record) ([]interface{}, error) {
	var kv []interface{}
	for _, f := range r.KV {
		var key, typ string
		if err := json.Unmarshal(f[0], &key); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(f[1], &typ); err != nil {
			return nil, err
		}
		var v interface{}
		var err error
		switch typ {
		case "s":
			v, err = decode[string](f[2])
		case "i":
			v, err = decode[int64](f[2])
		case "f":
			v, err = decode[float64](f[2])
		case "b":
			v, err = decode[bool](f[2])
		default:
			err = fmt.Errorf("unknown type %q", typ)
		}
		if err != nil {
			return nil, err
		}
		kv = append(kv, key, v)
	}
	return kv, nil
}

// fail ends the program on a malformed records file.
func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(2)
}

func main() {
	format := flag.String("format", "text", "text or json")
	records := flag.String("records", "", "JSON-lines file of records")
	klog.InitFlags(nil)
	flag.Parse()
	_ = flag.Set("v", "10")
	if *format == "json" {
		logger, _ := logsjson.NewJSONLogger(10, zapcore.AddSync(os.Stderr), nil, nil)
		klog.SetLogger(logger)
	}
	f, err := os.Open(*records)
	if err != nil {
		fail(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			fail(err)
		}
		kv, err := values(r)
		if err != nil {
			fail(err)
		}
		var e error
		if r.Err != nil {
			e = errors.New(*r.Err)
		}
		switch r.Sev {
		case "error":
			klog.ErrorS(e, r.Msg, kv...)
		default:
			if e != nil {
				kv = append(kv, "err", e)
			}
			klog.V(klog.Level(r.V)).InfoS(r.Msg, kv...)
		}
	}
	klog.Flush()
}
