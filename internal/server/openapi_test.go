package server

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/relayauth/relayauth/httpauth"
)

// openAPIPath is api/openapi.yaml, from this package's directory (where
// go test runs).
const openAPIPath = "../../api/openapi.yaml"

// The HTTP methods an OpenAPI path item may hold operations under.
var openAPIMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// TestOpenAPI checks api/openapi.yaml against the server: it documents
// exactly the routes of routeTable(), every operation is complete, every
// error is a Problem, and every $ref resolves.
func TestOpenAPI(t *testing.T) {
	doc := loadOpenAPI(t)

	t.Run("version", func(t *testing.T) {
		v, _ := doc["openapi"].(string)
		if !strings.HasPrefix(v, "3.1.") {
			t.Errorf("openapi: %q, want 3.1.x", v)
		}
	})

	t.Run("routes", func(t *testing.T) {
		registered := map[string]bool{}
		for _, r := range openAPIRouteServer(t).routeTable() {
			op, err := patternToOperation(r.pattern)
			if err != nil {
				t.Errorf("routeTable(): %v", err)
				continue
			}
			registered[op] = true
		}
		documented := map[string]bool{}
		for _, o := range operations(t, doc) {
			documented[strings.ToUpper(o.method)+" "+o.path] = true
		}
		var undocumented, unregistered []string
		for op := range registered {
			if !documented[op] {
				undocumented = append(undocumented, op)
			}
		}
		for op := range documented {
			if !registered[op] {
				unregistered = append(unregistered, op)
			}
		}
		if len(undocumented)+len(unregistered) == 0 {
			return
		}
		slices.Sort(undocumented)
		slices.Sort(unregistered)
		var b strings.Builder
		b.WriteString("api/openapi.yaml and routeTable() (metrics on) disagree:")
		if len(undocumented) > 0 {
			b.WriteString("\n  registered in routeTable() but missing from the document:")
			for _, op := range undocumented {
				b.WriteString("\n    " + op)
			}
		}
		if len(unregistered) > 0 {
			b.WriteString("\n  documented but not registered in routeTable():")
			for _, op := range unregistered {
				b.WriteString("\n    " + op)
			}
		}
		t.Error(b.String())
	})

	t.Run("operations", func(t *testing.T) {
		ids := map[string]string{}
		for _, o := range operations(t, doc) {
			where := strings.ToUpper(o.method) + " " + o.path
			id, _ := o.op["operationId"].(string)
			switch prev, dup := ids[id]; {
			case id == "":
				t.Errorf("%s: no operationId", where)
			case dup:
				t.Errorf("%s: operationId %q already used by %s", where, id, prev)
			default:
				ids[id] = where
			}
			if s, _ := o.op["summary"].(string); strings.TrimSpace(s) == "" {
				t.Errorf("%s: no summary", where)
			}
			checkResponses(t, doc, where, o.op)
			checkPathParams(t, doc, where, o)
			checkSecurity(t, doc, where, o.op)
		}
	})

	t.Run("refs", func(t *testing.T) {
		walk(doc, "#", func(at string, m map[string]any) {
			ref, ok := m["$ref"]
			if !ok {
				return
			}
			s, _ := ref.(string)
			if _, err := resolvePointer(doc, s); err != nil {
				t.Errorf("%s: $ref %q: %v", at, ref, err)
			}
		})
	})
}

// openAPIRouteServer builds the server from the test harness' dependencies
// with metrics and the console on, so that routeTable() holds every route there is
// (/metrics included).
func openAPIRouteServer(t *testing.T) *server {
	t.Helper()
	var d *Deps
	newHarness(t, withMetrics, withConsole, func(deps *Deps) { d = deps })
	if d.MetricsHandler == nil {
		t.Fatal("withMetrics set no MetricsHandler")
	}
	s, err := newServer(*d)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// patternToOperation turns a ServeMux pattern ("DELETE /auth/sessions/{id}")
// into an OpenAPI method and path ("DELETE /auth/sessions/{id}"). Wildcards have
// the same syntax in both; "{name...}" becomes "{name}" and "{$}" goes.
func patternToOperation(pattern string) (string, error) {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok || method == "" || !strings.HasPrefix(path, "/") {
		return "", fmt.Errorf("pattern %q is not \"METHOD /path\"", pattern)
	}
	path = strings.ReplaceAll(path, "{$}", "")
	path = regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*)\.\.\.\}`).ReplaceAllString(path, "{$1}")
	return strings.ToUpper(method) + " " + path, nil
}

func loadOpenAPI(t *testing.T) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(openAPIPath)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil { // also refuses duplicate keys
		t.Fatalf("%s: %v", openAPIPath, err)
	}
	if doc == nil {
		t.Fatalf("%s is empty", openAPIPath)
	}
	return doc
}

type operation struct {
	method, path string
	item, op     map[string]any
}

// operations lists the document's operations, sorted by path and method.
func operations(t *testing.T, doc map[string]any) []operation {
	t.Helper()
	paths, ok := doc["paths"].(map[string]any)
	if !ok {
		t.Fatal("the document has no paths")
	}
	var out []operation
	for path, v := range paths {
		item, ok := v.(map[string]any)
		if !ok {
			t.Errorf("paths[%q] is not a path item", path)
			continue
		}
		for key, v := range item {
			if !slices.Contains(openAPIMethods, key) {
				continue // summary, description, parameters, servers
			}
			op, ok := v.(map[string]any)
			if !ok {
				t.Errorf("%s %s is not an operation", strings.ToUpper(key), path)
				continue
			}
			out = append(out, operation{method: key, path: path, item: item, op: op})
		}
	}
	slices.SortFunc(out, func(a, b operation) int {
		return strings.Compare(a.path+" "+a.method, b.path+" "+b.method)
	})
	return out
}

const problemRef = "#/components/schemas/Problem"

// checkResponses: at least one response, and every 4xx, 5xx and default
// response has content, all of it of the Problem schema.
func checkResponses(t *testing.T, doc map[string]any, where string, op map[string]any) {
	t.Helper()
	responses, _ := op["responses"].(map[string]any)
	if len(responses) == 0 {
		t.Errorf("%s: no responses", where)
		return
	}
	for code, v := range responses {
		if !isErrorStatus(code) {
			continue
		}
		resp, err := deref(doc, v)
		if err != nil {
			t.Errorf("%s: response %s: %v", where, code, err)
			continue
		}
		content, _ := resp["content"].(map[string]any)
		if len(content) == 0 {
			t.Errorf("%s: response %s has no content; want application/problem+json of %s", where, code, problemRef)
			continue
		}
		for mt, v := range content {
			media, _ := v.(map[string]any)
			schema, _ := media["schema"].(map[string]any)
			if mt != httpauth.ProblemContentType || schema["$ref"] != problemRef {
				t.Errorf("%s: response %s: content %s with schema %v; want %s with $ref %s",
					where, code, mt, schema, httpauth.ProblemContentType, problemRef)
			}
		}
	}
}

// isErrorStatus reports whether a responses key is 4xx or 5xx ("404",
// "4XX") or default.
func isErrorStatus(code string) bool {
	if code == "default" {
		return true
	}
	if strings.HasSuffix(code, "XX") {
		return code[0] == '4' || code[0] == '5'
	}
	n, err := strconv.Atoi(code)
	return err == nil && n >= 400 && n <= 599
}

var templateParam = regexp.MustCompile(`\{([^{}]+)\}`)

// checkPathParams: every {param} of the path template is declared in: path,
// required, on the operation or its path item; and no path parameter is
// declared that the template lacks.
func checkPathParams(t *testing.T, doc map[string]any, where string, o operation) {
	t.Helper()
	declared := map[string]bool{}
	for _, list := range []any{o.item["parameters"], o.op["parameters"]} {
		params, _ := list.([]any)
		for i, v := range params {
			p, err := deref(doc, v)
			if err != nil {
				t.Errorf("%s: parameter %d: %v", where, i, err)
				continue
			}
			if p["in"] != "path" {
				continue
			}
			name, _ := p["name"].(string)
			if p["required"] != true {
				t.Errorf("%s: path parameter %q must be required: true", where, name)
			}
			declared[name] = true
		}
	}
	inTemplate := map[string]bool{}
	for _, m := range templateParam.FindAllStringSubmatch(o.path, -1) {
		inTemplate[m[1]] = true
		if !declared[m[1]] {
			t.Errorf("%s: path parameter {%s} is not declared", where, m[1])
		}
	}
	for name := range declared {
		if !inTemplate[name] {
			t.Errorf("%s: path parameter %q is declared but not in the path", where, name)
		}
	}
}

// checkSecurity: every security requirement names a declared scheme.
func checkSecurity(t *testing.T, doc map[string]any, where string, op map[string]any) {
	t.Helper()
	components, _ := doc["components"].(map[string]any)
	schemes, _ := components["securitySchemes"].(map[string]any)
	reqs, _ := op["security"].([]any)
	for _, v := range reqs {
		req, _ := v.(map[string]any)
		for name := range req {
			if _, ok := schemes[name]; !ok {
				t.Errorf("%s: security scheme %q is not in components.securitySchemes", where, name)
			}
		}
	}
}

// deref follows v's $ref chain to the object it names.
func deref(doc map[string]any, v any) (map[string]any, error) {
	for range 16 {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("not an object: %v", v)
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return m, nil
		}
		next, err := resolvePointer(doc, ref)
		if err != nil {
			return nil, fmt.Errorf("$ref %q: %w", ref, err)
		}
		v = next
	}
	return nil, fmt.Errorf("$ref chain too long (a cycle?)")
}

// resolvePointer resolves a local reference "#/a/b~1c" (RFC 6901) in doc.
func resolvePointer(doc map[string]any, ref string) (any, error) {
	rest, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, fmt.Errorf("not a reference inside the document")
	}
	var cur any = doc
	for _, tok := range strings.Split(rest, "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch c := cur.(type) {
		case map[string]any:
			next, ok := c[tok]
			if !ok {
				return nil, fmt.Errorf("no %q", tok)
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil, fmt.Errorf("no index %q", tok)
			}
			cur = c[i]
		default:
			return nil, fmt.Errorf("%q is inside a scalar", tok)
		}
	}
	return cur, nil
}

// walk calls fn on every object in v, with its JSON pointer.
func walk(v any, at string, fn func(at string, m map[string]any)) {
	switch c := v.(type) {
	case map[string]any:
		fn(at, c)
		for k, v := range c {
			walk(v, at+"/"+strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1"), fn)
		}
	case []any:
		for i, v := range c {
			walk(v, at+"/"+strconv.Itoa(i), fn)
		}
	}
}
