package layers

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// TestErrorLiteralsSetIndex: anomaly.Error's Index is the batch item the
// error is about, and 0 is item 0, so a literal that leaves it out would
// blame the first item by accident. Every literal outside tests must name
// it (-1 for "no item"), or use anomaly.Errorf or anomaly.FieldError.
func TestErrorLiteralsSetIndex(t *testing.T) {
	root := filepath.Join("..", "..")
	fset := token.NewFileSet()
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		inAnomaly := f.Name.Name == "anomaly"
		ast.Inspect(f, func(n ast.Node) bool {
			cl, ok := n.(*ast.CompositeLit)
			if !ok || !isErrorType(cl.Type, inAnomaly) {
				return true
			}
			checked++
			for _, e := range cl.Elts {
				if kv, ok := e.(*ast.KeyValueExpr); ok {
					if id, ok := kv.Key.(*ast.Ident); ok && id.Name == "Index" {
						return true
					}
				}
			}
			t.Errorf("%s: anomaly.Error literal without Index (0 would mean item 0): set Index: -1 or use anomaly.Errorf", fset.Position(cl.Pos()))
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 10 {
		t.Fatalf("checked %d literals: is the walk in the module?", checked)
	}
}

func isErrorType(e ast.Expr, inAnomaly bool) bool {
	switch x := e.(type) {
	case *ast.SelectorExpr:
		p, ok := x.X.(*ast.Ident)
		return ok && p.Name == "anomaly" && x.Sel.Name == "Error"
	case *ast.Ident:
		return inAnomaly && x.Name == "Error"
	}
	return false
}
