package metrics

import (
	"encoding/json"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"
)

// The operator artefacts built on these metrics. The rules file is YAML,
// not the JSON subset of it, so operators keep its comments and multi-line
// expressions; go.yaml.in/yaml/v3 is already in the module graph (through
// go.uber.org/atomic), so parsing it here adds no module.
const (
	dashboardFile = "../deploy/grafana/relayauth-dashboard.json"
	alertsFile    = "../deploy/prometheus/relayauth-alerts.yml"
)

// notVisualised lists metrics that no panel or alert uses yet, each with
// the reason. Empty: every metric is on the dashboard or in an alert.
var notVisualised = map[string]string{}

// metricRef finds metric names in PromQL. \b keeps it from matching inside
// a longer word.
var metricRef = regexp.MustCompile(`\bauth_[a-z_]+`)

// matcherRef finds exact label matchers (label="value", label!="value").
var matcherRef = regexp.MustCompile(`\b([a-z_]+)\s*!?=\s*"([^"$]*)"`)

// groupingRef finds the labels of by (...) and without (...).
var groupingRef = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)

// targetLabels are the labels Prometheus adds or a histogram carries,
// which expressions may use besides the package's own.
var targetLabels = []string{"job", "instance", "le"}

type alertRules struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func loadAlerts(t *testing.T) alertRules {
	t.Helper()
	f, err := os.Open(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true) // a misspelt "anotations" is an error, not an alert without text
	var r alertRules
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("%s: %v", alertsFile, err)
	}
	return r
}

type panel struct {
	ID          int    `json:"id"`
	Type        string `json:"type"`
	Title       string `json:"title"`
	Description string `json:"description"`
	Datasource  struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ X, Y, W, H int } `json:"gridPos"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's
}

type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Definition string `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// allPanels flattens rows.
func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

// expressions returns every PromQL expression of both artefacts, each
// keyed by where it is, for messages.
func expressions(t *testing.T) map[string]string {
	t.Helper()
	exprs := map[string]string{}
	for _, g := range loadAlerts(t).Groups {
		for _, r := range g.Rules {
			exprs["alert "+r.Alert] = r.Expr
		}
	}
	d := loadDashboard(t)
	for _, p := range allPanels(d.Panels) {
		for _, tg := range p.Targets {
			exprs["panel "+p.Title+" "+tg.RefID] = tg.Expr
		}
	}
	for _, v := range d.Templating.List {
		if v.Definition != "" {
			exprs["variable "+v.Name] = v.Definition
		}
	}
	return exprs
}

// registered returns the type of every metric New registers, from a fresh
// registry after every method has recorded.
func registered(t *testing.T) map[string]string {
	t.Helper()
	reg := prometheus.NewRegistry()
	touchAll(New(reg))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]string{}
	for _, mf := range mfs {
		types[mf.GetName()] = mf.GetType().String()
	}
	return types
}

// baseName maps a referenced name to the metric it belongs to: a
// histogram's _bucket, _sum and _count series are the histogram's.
func baseName(types map[string]string, ref string) (string, bool) {
	if _, ok := types[ref]; ok {
		return ref, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(ref, suffix); ok && types[base] == "HISTOGRAM" {
			return base, true
		}
	}
	return "", false
}

// Every metric a panel, an alert or a dashboard variable names exists, and
// every one of their label matchers and groupings uses a label and value
// that exist: a typo would otherwise be a panel that is always empty or an
// alert that never fires.
func TestArtefactsUseOnlyRegisteredMetrics(t *testing.T) {
	types := registered(t)
	exprs := expressions(t)
	if len(exprs) < 20 {
		t.Fatalf("only %d expressions found in the artefacts", len(exprs))
	}
	for where, expr := range exprs {
		refs := metricRef.FindAllString(expr, -1)
		if len(refs) == 0 {
			t.Errorf("%s: no auth_ metric in %q", where, expr)
		}
		for _, ref := range refs {
			if _, ok := baseName(types, ref); !ok {
				t.Errorf("%s: %s is not a metric New registers", where, ref)
			}
		}
		for _, m := range matcherRef.FindAllStringSubmatch(expr, -1) {
			label, value := m[1], m[2]
			if slices.Contains(targetLabels, label) {
				continue
			}
			if values, ok := allowedValues[label]; !ok {
				t.Errorf("%s: no metric has a label %q", where, label)
			} else if !slices.Contains(values, value) {
				t.Errorf("%s: %s=%q is not a value the label takes", where, label, value)
			}
		}
		for _, m := range groupingRef.FindAllStringSubmatch(expr, -1) {
			for l := range strings.SplitSeq(m[1], ",") {
				l = strings.TrimSpace(l)
				if _, ok := allowedValues[l]; !ok && !slices.Contains(targetLabels, l) {
					t.Errorf("%s: groups by %q, which no metric has", where, l)
				}
			}
		}
	}
}

// And the other way: every metric is shown on the dashboard or alerted on,
// or listed in notVisualised with the reason.
func TestEveryMetricIsShownOrAlerted(t *testing.T) {
	types := registered(t)
	used := map[string][]string{}
	for where, expr := range expressions(t) {
		for _, ref := range metricRef.FindAllString(expr, -1) {
			if base, ok := baseName(types, ref); ok {
				used[base] = append(used[base], where)
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(types)) {
		reason, listed := notVisualised[name]
		switch {
		case len(used[name]) == 0 && !listed:
			t.Errorf("%s is on no panel and in no alert; use it, or list it in notVisualised with the reason", name)
		case len(used[name]) > 0 && listed:
			t.Errorf("%s is listed as not visualised (%s) but %v use it", name, reason, used[name])
		case listed && strings.TrimSpace(reason) == "":
			t.Errorf("%s is listed as not visualised without a reason", name)
		}
	}
	for name := range notVisualised {
		if _, ok := types[name]; !ok {
			t.Errorf("notVisualised lists %s, which New does not register", name)
		}
	}
}

func TestAlertRulesAreComplete(t *testing.T) {
	r := loadAlerts(t)
	want := []string{
		"RelayAuthLoginFailureSpike", "RelayAuthRefreshTokenReuse", "RelayAuthStoreErrors",
		"RelayAuthSigningErrors", "RelayAuthVerificationUnavailable",
	}
	seen := map[string]bool{}
	for _, g := range r.Groups {
		if g.Name == "" {
			t.Error("a rule group without a name")
		}
		for _, rule := range g.Rules {
			name := rule.Alert
			switch {
			case name == "":
				t.Errorf("group %s: a rule that is not an alert (expr %q)", g.Name, rule.Expr)
				continue
			case seen[name]:
				t.Errorf("%s is defined twice", name)
			}
			seen[name] = true
			if strings.TrimSpace(rule.Expr) == "" {
				t.Errorf("%s: no expr", name)
			}
			if _, err := time.ParseDuration(rule.For); err != nil {
				t.Errorf("%s: for %q: %v", name, rule.For, err)
			}
			if s := rule.Labels["severity"]; s != "critical" && s != "warning" {
				t.Errorf("%s: severity %q, want critical or warning", name, s)
			}
			for _, a := range []string{"summary", "description"} {
				if strings.TrimSpace(rule.Annotations[a]) == "" {
					t.Errorf("%s: no %s annotation", name, a)
				}
			}
		}
	}
	for _, name := range want {
		if !seen[name] {
			t.Errorf("no alert %s", name)
		}
	}
	// The login alert needs both a failure ratio and a floor on the rate,
	// or one person mistyping at night pages.
	for _, g := range r.Groups {
		for _, rule := range g.Rules {
			expr := strings.Join(strings.Fields(rule.Expr), " ")
			if rule.Alert == "RelayAuthLoginFailureSpike" && (!strings.Contains(expr, " / ") || !strings.Contains(expr, " and ")) {
				t.Errorf("RelayAuthLoginFailureSpike lacks the ratio or the rate floor: %q", rule.Expr)
			}
		}
	}
}

func TestDashboardIsWellFormed(t *testing.T) {
	d := loadDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Error("the dashboard needs a uid and a title")
	}
	if d.SchemaVersion < 36 {
		t.Errorf("schemaVersion %d; panels here use the data source by uid (36 or later)", d.SchemaVersion)
	}
	var vars []string
	for _, v := range d.Templating.List {
		vars = append(vars, v.Name)
	}
	if !slices.Contains(vars, "datasource") {
		t.Error("no datasource variable: the dashboard would be tied to one data source's uid")
	}

	ids := map[int]bool{}
	type rect struct {
		title      string
		x, y, w, h int
	}
	var rects []rect
	for _, p := range allPanels(d.Panels) {
		if ids[p.ID] {
			t.Errorf("panel id %d is used twice", p.ID)
		}
		ids[p.ID] = true
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("%s: gridPos %+v is off the 24-column grid", p.Title, g)
		}
		for _, r := range rects {
			if g.X < r.x+r.w && r.x < g.X+g.W && g.Y < r.y+r.h && r.y < g.Y+g.H {
				t.Errorf("panels %q and %q overlap", p.Title, r.title)
			}
		}
		rects = append(rects, rect{p.Title, g.X, g.Y, g.W, g.H})
		if p.Type == "row" {
			continue
		}
		if p.Title == "" || p.Description == "" {
			t.Errorf("panel %d needs a title and a description", p.ID)
		}
		if p.Datasource.UID != "${datasource}" {
			t.Errorf("%s: data source %q, want the ${datasource} variable", p.Title, p.Datasource.UID)
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s: no query", p.Title)
		}
		for _, tg := range p.Targets {
			if !strings.Contains(tg.Expr, `job=~"$job"`) || !strings.Contains(tg.Expr, `instance=~"$instance"`) {
				t.Errorf("%s %s: ignores the job and instance variables: %q", p.Title, tg.RefID, tg.Expr)
			}
		}
	}
}
