package grafanads_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	grafanads "github.com/vigil-soc/vigil/services/grafana-datasource"
)

// The dashboards (dashboards/*.json) and their provisioning
// (deploy/grafana) as docker-compose.yml runs them.
const (
	dashboardsDir   = "../../dashboards"
	provisioningDir = "../../deploy/grafana/provisioning"
	composeFile     = "../../docker-compose.yml"
)

type dsRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type gridPos struct{ X, Y, W, H int }

type dashPanel struct {
	ID          int               `json:"id"`
	Type        string            `json:"type"`
	Title       string            `json:"title"`
	Description string            `json:"description"`
	GridPos     gridPos           `json:"gridPos"`
	Datasource  *dsRef            `json:"datasource"`
	Targets     []json.RawMessage `json:"targets"`
}

type dashVariable struct {
	Name       string `json:"name"`
	Type       string `json:"type"`
	Query      any    `json:"query"`
	Datasource *dsRef `json:"datasource"`
}

type dashboardJSON struct {
	UID           string `json:"uid"`
	Title         string `json:"title"`
	Description   string `json:"description"`
	SchemaVersion int    `json:"schemaVersion"`
	Time          struct {
		From string `json:"from"`
		To   string `json:"to"`
	} `json:"time"`
	Templating struct {
		List []dashVariable `json:"list"`
	} `json:"templating"`
	Panels []dashPanel `json:"panels"`
}

type loadedDashboard struct {
	file string
	raw  map[string]any
	dashboardJSON
}

func loadDashboards(t *testing.T) []loadedDashboard {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dashboardsDir, "*.json"))
	require.NoError(t, err)
	require.Len(t, files, 4, "SOC overview, entity, forensics, pipeline health")
	var out []loadedDashboard
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		d := loadedDashboard{file: filepath.Base(f)}
		dec := json.NewDecoder(strings.NewReader(string(b)))
		require.NoError(t, dec.Decode(&d.raw), f)
		require.NoError(t, json.Unmarshal(b, &d.dashboardJSON), f)
		out = append(out, d)
	}
	return out
}

// provisionedSources reads the data sources deploy/grafana provisions, by
// uid, and checks the Vigil one's settings are ones the plugin accepts.
func provisionedSources(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(provisioningDir, "datasources", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	out := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var doc struct {
			APIVersion  int `yaml:"apiVersion"`
			Datasources []struct {
				Name, UID, Type string
				JSONData        map[string]any    `yaml:"jsonData"`
				Secure          map[string]string `yaml:"secureJsonData"`
			} `yaml:"datasources"`
		}
		require.NoError(t, yaml.Unmarshal(b, &doc), f)
		require.Equal(t, 1, doc.APIVersion, f)
		for _, ds := range doc.Datasources {
			require.NotEmpty(t, ds.UID, "%s: %s has a uid, which panels refer to", f, ds.Name)
			out[ds.UID] = ds.Type
			if ds.Type == grafanads.PluginID {
				js, err := json.Marshal(ds.JSONData)
				require.NoError(t, err)
				_, err = grafanads.ParseSettings(backend.DataSourceInstanceSettings{JSONData: js, DecryptedSecureJSONData: ds.Secure})
				require.NoError(t, err, "%s: %s's jsonData", f, ds.Name)
			}
		}
	}
	return out
}

var panelTypes = []string{"timeseries", "table", "stat", "barchart", "text", "row", "piechart", "bargauge", "gauge", "state-timeline"}

// varRef finds dashboard variable references: $name, ${name}, ${name:format}, [[name]].
var varRef = regexp.MustCompile(`\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]`)

func varNames(s string) []string {
	var out []string
	for _, m := range varRef.FindAllStringSubmatch(s, -1) {
		name := m[1] + m[2] + m[3]
		if !strings.HasPrefix(name, "__") { // Grafana's own ($__interval, ${__data…}) and Vigil's macros
			out = append(out, name)
		}
	}
	return out
}

// strs returns every string in a JSON value.
func strs(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case map[string]any:
		var out []string
		for _, x := range v {
			out = append(out, strs(x)...)
		}
		return out
	case []any:
		var out []string
		for _, x := range v {
			out = append(out, strs(x)...)
		}
		return out
	}
	return nil
}

// TestDashboardsValidate checks every dashboard parses and holds
// together: unique uids and panel ids, known panel types, panels inside
// the 24-column grid without overlaps, a description on each, targets
// with unique refIds on a provisioned data source of the right type,
// variables defined where used, links to dashboards that exist, and raw
// SQL that takes no dashboard variables (values go through bound fields).
func TestDashboardsValidate(t *testing.T) {
	sources := provisionedSources(t)
	dashboards := loadDashboards(t)
	uids := map[string]bool{}
	for _, d := range dashboards {
		require.False(t, uids[d.UID], "uid %s twice", d.UID)
		uids[d.UID] = true
	}
	for _, d := range dashboards {
		t.Run(d.file, func(t *testing.T) {
			require.NotEmpty(t, d.UID)
			require.LessOrEqual(t, len(d.UID), 40)
			require.NotEmpty(t, d.Title)
			require.NotEmpty(t, d.Description)
			require.GreaterOrEqual(t, d.SchemaVersion, 36)
			require.NotEmpty(t, d.Time.From)
			require.NotEmpty(t, d.Panels)
			vars := map[string]bool{}
			for _, v := range d.Templating.List {
				require.NotEmpty(t, v.Name)
				require.Contains(t, []string{"query", "custom", "textbox", "constant", "interval"}, v.Type, v.Name)
				vars[v.Name] = true
				if v.Type == "query" {
					require.NotNil(t, v.Datasource, v.Name)
					require.Equal(t, v.Datasource.Type, sources[v.Datasource.UID], "variable %s: provisioned data source", v.Name)
				}
			}
			ids := map[int]bool{}
			var cells []gridPos
			for _, p := range d.Panels {
				require.False(t, ids[p.ID], "panel id %d twice", p.ID)
				ids[p.ID] = true
				require.Contains(t, panelTypes, p.Type, p.Title)
				require.NotEmpty(t, p.Title)
				require.NotEmpty(t, p.Description, "%s says what it answers", p.Title)
				g := p.GridPos
				require.True(t, g.W >= 1 && g.H >= 1 && g.X >= 0 && g.Y >= 0 && g.X+g.W <= 24, "%s: grid %+v", p.Title, g)
				for _, c := range cells {
					overlap := g.X < c.X+c.W && c.X < g.X+g.W && g.Y < c.Y+c.H && c.Y < g.Y+g.H
					require.False(t, overlap, "%s overlaps another panel", p.Title)
				}
				cells = append(cells, g)
				require.NotNil(t, p.Datasource, p.Title)
				require.Equal(t, p.Datasource.Type, sources[p.Datasource.UID], "%s: a provisioned data source", p.Title)
				require.NotEmpty(t, p.Targets, p.Title)
				refs := map[string]bool{}
				for _, raw := range p.Targets {
					var tg struct {
						RefID      string `json:"refId"`
						Datasource *dsRef `json:"datasource"`
						QueryType  string `json:"queryType"`
						RawSQL     string `json:"rawSql"`
						Expr       string `json:"expr"`
					}
					require.NoError(t, json.Unmarshal(raw, &tg))
					require.False(t, refs[tg.RefID], "%s: refId %s twice", p.Title, tg.RefID)
					refs[tg.RefID] = true
					require.NotNil(t, tg.Datasource, p.Title)
					require.Equal(t, *p.Datasource, *tg.Datasource, "%s: target on the panel's data source", p.Title)
					switch tg.Datasource.Type {
					case grafanads.PluginID:
						require.Contains(t, grafanads.QueryTypes, tg.QueryType, p.Title)
						require.Empty(t, varNames(tg.RawSQL), "%s: raw SQL takes no variables", p.Title)
					case "prometheus":
						require.NotEmpty(t, tg.Expr, p.Title)
					}
				}
			}
			for _, s := range strs(d.raw) {
				for _, name := range varNames(s) {
					require.True(t, vars[name], "$%s is used in %q and not defined", name, s)
				}
				for _, m := range regexp.MustCompile(`/d/([\w-]+)`).FindAllStringSubmatch(s, -1) {
					require.True(t, uids[m[1]], "link to dashboard %s, which does not exist", m[1])
				}
			}
		})
	}
}

// TestDashboardsProvisioned checks docker-compose.yml runs Grafana with
// the plugin, the provisioning and the dashboards where the provisioning
// looks for them.
func TestDashboardsProvisioned(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(provisioningDir, "dashboards", "vigil.yaml"))
	require.NoError(t, err)
	var providers struct {
		Providers []struct {
			Type    string
			Options struct{ Path string }
		}
	}
	require.NoError(t, yaml.Unmarshal(b, &providers))
	require.Len(t, providers.Providers, 1)
	require.Equal(t, "file", providers.Providers[0].Type)

	b, err = os.ReadFile(composeFile)
	require.NoError(t, err)
	var compose struct {
		Services map[string]struct {
			Volumes     []string          `yaml:"volumes"`
			Environment map[string]string `yaml:"environment"`
		}
	}
	require.NoError(t, yaml.Unmarshal(b, &compose))
	g, ok := compose.Services["grafana"]
	require.True(t, ok, "docker-compose.yml runs grafana")
	mounts := map[string]string{}
	for _, v := range g.Volumes {
		parts := strings.Split(v, ":")
		mounts[parts[0]] = parts[1]
	}
	require.Equal(t, providers.Providers[0].Options.Path, mounts["./dashboards"])
	require.Equal(t, "/etc/grafana/provisioning", mounts["./deploy/grafana/provisioning"])
	require.Equal(t, "/var/lib/grafana/plugins/"+grafanads.PluginID, mounts["./services/grafana-datasource/dist"])
	require.Contains(t, strings.Split(g.Environment["GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS"], ","), grafanads.PluginID)
	_, ok = compose.Services["prometheus"]
	require.True(t, ok, "docker-compose.yml runs the Prometheus the pipeline dashboard reads")
}

// seededVars are dashboard variables set to values of the seeded history.
func seededVars() map[string]string {
	return map[string]string{
		"tenant": "acme", "entity": attacker, "entity_field": "source.ip",
		"ip": attacker, "user": "admin", "host": "", "text": "", "outcome": "", "alert": firstAlertID(),
		"failures": "5", "window": "10m", "by": "events",
	}
}

func interpolate(s string, vars map[string]string) string {
	return varRef.ReplaceAllStringFunc(s, func(m string) string {
		sub := varRef.FindStringSubmatch(m)
		if v, ok := vars[sub[1]+sub[2]+sub[3]]; ok {
			return v
		}
		return m
	})
}

// TestDashboardQueriesRun runs every panel's query of the Vigil data
// source, its variables set to values of the seeded history, as Grafana
// would send it (the frontend replaces variables; the backend expands
// macros), against ClickHouse: each answers without error and with rows.
// Prometheus panels name metrics the services define. Query variables run
// too, and list the seeded value.
func TestDashboardQueriesRun(t *testing.T) {
	cfg := seed(t)
	d := newDS(t, cfg, "vigil", "")
	vars := seededVars()
	metrics := definedMetrics(t)
	for _, db := range loadDashboards(t) {
		for _, v := range db.Templating.List {
			if v.Type != "query" {
				continue
			}
			q, _ := v.Query.(string)
			r := ask(t, d, q, map[string]any{"tenant": vars["tenant"]})
			require.NoError(t, r.Error, "%s: variable %s", db.file, v.Name)
			require.Contains(t, frameStrings(r.Frames), vars[v.Name], "%s: variable %s lists the seeded value", db.file, v.Name)
		}
		for _, p := range db.Panels {
			for _, raw := range p.Targets {
				var model map[string]any
				require.NoError(t, json.Unmarshal([]byte(interpolate(string(raw), vars)), &model))
				if expr, ok := model["expr"].(string); ok {
					names := regexp.MustCompile(`\bvigil_\w+`).FindAllString(expr, -1)
					require.NotEmpty(t, names, "%s / %s", db.file, p.Title)
					for _, n := range names {
						require.True(t, metrics.defines(n), "%s / %s: %s is not a metric Vigil defines", db.file, p.Title, n)
					}
					require.Equal(t, strings.Count(expr, "("), strings.Count(expr, ")"), expr)
					continue
				}
				qt, _ := model["queryType"].(string)
				r := ask(t, d, qt, model)
				require.NoError(t, r.Error, "%s / %s", db.file, p.Title)
				require.NotZero(t, rowCount(r.Frames), "%s / %s answers with rows", db.file, p.Title)
			}
		}
	}
}

// metricSet is the Prometheus metric names the services and pkg define;
// names ending in _ are prefixes.
type metricSet map[string]bool

func (m metricSet) defines(name string) bool {
	for _, n := range []string{name, strings.TrimSuffix(name, "_bucket"), strings.TrimSuffix(name, "_sum"),
		strings.TrimSuffix(name, "_count")} {
		if m[n] {
			return true
		}
	}
	for p := range m {
		if strings.HasSuffix(p, "_") && strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

func definedMetrics(t *testing.T) metricSet {
	t.Helper()
	out := metricSet{}
	re := regexp.MustCompile(`"(vigil_[a-z0-9_]+)"`)
	for _, root := range []string{"../../services", "../../pkg"} {
		err := filepath.WalkDir(root, func(path string, e os.DirEntry, err error) error {
			if err != nil || e.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range re.FindAllStringSubmatch(string(b), -1) {
				out[m[1]] = true
			}
			return nil
		})
		require.NoError(t, err)
	}
	require.True(t, slices.ContainsFunc([]string{"vigil_archiver_insert_seconds"}, func(s string) bool { return out[s] }))
	return out
}
