package command

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestOneLogVocabulary: both binaries log an error as "err", a message id
// as "message_id" and the receiver's request id as "request_id"
// (docs/decisions.md), so one query follows a webhook from the receiver to
// the processor. It reads every non-test Go file of lambda/, logship/, processor/ and
// internal/ and fails on a log call that uses another spelling.
func TestOneLogVocabulary(t *testing.T) {
	wrong := map[string]string{
		"error": "err", "e": "err", "id": "message_id", "event_id": "message_id", "eventID": "message_id",
		"msg_id": "message_id", "messageId": "message_id", "requestId": "request_id", "rid": "request_id",
		"req_id": "request_id",
	}
	// Methods of *slog.Logger whose arguments after the message are
	// key-value pairs, and the slog.Attr constructors (key first).
	kv := map[string]int{"Debug": 1, "Info": 1, "Warn": 1, "Error": 1, "With": 0}
	attr := map[string]bool{"String": true, "Int": true, "Int64": true, "Any": true, "Bool": true, "Duration": true, "Time": true, "Float64": true, "Uint64": true}
	checked := 0
	for _, root := range []string{"../../lambda", "../../logship", "../../processor", "../../internal"} {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				return err
			}
			ast.Inspect(f, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				var keys []ast.Expr
				if first, ok := kv[sel.Sel.Name]; ok && len(call.Args) > first {
					for i := first; i < len(call.Args); i += 2 {
						keys = append(keys, call.Args[i])
					}
				} else if x, ok := sel.X.(*ast.Ident); ok && x.Name == "slog" && attr[sel.Sel.Name] && len(call.Args) > 0 {
					keys = append(keys, call.Args[0])
				}
				for _, k := range keys {
					lit, ok := k.(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						continue
					}
					key, _ := strconv.Unquote(lit.Value)
					checked++
					if want, bad := wrong[key]; bad {
						t.Errorf("%s: log key %q: use %q", fset.Position(lit.Pos()), key, want)
					}
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if checked < 50 {
		t.Fatalf("only %d log keys found: the scan is not reading the sources", checked)
	}
}
