package main

import (
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// Traefik and Envoy are not in Debian's packages, so their configurations
// in deploy/ cannot be driven end to end as deploy/nginx is. What can be
// checked without them is checked here: the properties that make a
// gateway safe in front of Relay Auth, read from the very files operators
// deploy, and every requirement they hold sent to the real server.

const (
	traefikConf = "../../deploy/traefik/relayauth.yml"
	envoyConf   = "../../deploy/envoy/relayauth.yaml"
)

// requirement is one set of requirements a gateway file sends.
type requirement struct {
	where, raw string
}

// checkRequirements sends each requirement to a real server, with a
// platform admin's token and an original URI inside tenant acme: a typo
// would be a 400 on every request through the gateway.
func checkRequirements(t *testing.T, reqs []requirement) {
	t.Helper()
	relay, _, _ := startRun(t, baseEnv())
	admin, _ := client{t, relay}.login(e2ePassword)
	for _, r := range reqs {
		req, err := http.NewRequest("GET", relay+"/auth/forward", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+admin)
		req.Header.Set("X-Relay-Require", r.raw)
		req.Header.Set("X-Original-URI", "/tenants/acme/orders/1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: requirements %q: the server answers a platform admin %d", r.where, r.raw, resp.StatusCode)
		}
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// credentialHeaders are the only client headers a gateway may send to
// Relay Auth (besides the original URI it sets itself).
var credentialHeaders = []string{"authorization", "x-api-key"}

func TestGatewayConfigTraefik(t *testing.T) {
	var conf struct {
		HTTP struct {
			Middlewares map[string]struct {
				ForwardAuth *struct {
					Address                  string   `yaml:"address"`
					TrustForwardHeader       bool     `yaml:"trustForwardHeader"`
					AuthRequestHeaders       []string `yaml:"authRequestHeaders"`
					AuthResponseHeadersRegex string   `yaml:"authResponseHeadersRegex"`
				} `yaml:"forwardAuth"`
				Headers *struct {
					CustomRequestHeaders map[string]string `yaml:"customRequestHeaders"`
				} `yaml:"headers"`
			} `yaml:"middlewares"`
			Routers map[string]struct {
				Rule        string   `yaml:"rule"`
				Middlewares []string `yaml:"middlewares"`
			} `yaml:"routers"`
		} `yaml:"http"`
	}
	readYAML(t, traefikConf, &conf)

	var reqs []requirement
	for name, m := range conf.HTTP.Middlewares {
		if fa := m.ForwardAuth; fa != nil {
			u, err := url.Parse(fa.Address)
			if err != nil || u.Path != "/auth/forward" {
				t.Errorf("middleware %s: address %q is not Relay Auth's /auth/forward", name, fa.Address)
				continue
			}
			if fa.TrustForwardHeader {
				t.Errorf("middleware %s trusts the client's X-Forwarded-* (X-Forwarded-Uri is the request judged)", name)
			}
			var sent []string
			for _, h := range fa.AuthRequestHeaders {
				sent = append(sent, strings.ToLower(h))
			}
			slices.Sort(sent)
			if !slices.Equal(sent, credentialHeaders) {
				t.Errorf("middleware %s sends the client's %q to Relay Auth, want exactly %q", name, fa.AuthRequestHeaders, credentialHeaders)
			}
			// Traefik removes every request header the regex matches,
			// then copies Relay Auth's in.
			if fa.AuthResponseHeadersRegex != "^X-Relay-" {
				t.Errorf("middleware %s: authResponseHeadersRegex %q, want ^X-Relay- (strips every client X-Relay-*)", name, fa.AuthResponseHeadersRegex)
			}
			reqs = append(reqs, requirement{"traefik middleware " + name, u.RawQuery})
		}
	}
	for name, r := range conf.HTTP.Routers {
		protected, public := false, false
		for _, mw := range r.Middlewares {
			m, ok := conf.HTTP.Middlewares[mw]
			if !ok {
				t.Errorf("router %s uses the undefined middleware %s", name, mw)
			}
			protected = protected || m.ForwardAuth != nil
			if m.Headers != nil {
				public = true
				for _, h := range append(slices.Clone(relayHeaders), "X-Relay-Require") {
					if v, ok := m.Headers.CustomRequestHeaders[h]; !ok || v != "" {
						t.Errorf("router %s is public but middleware %s does not remove the client's %s", name, mw, h)
					}
				}
			}
		}
		if !protected && !public {
			t.Errorf("router %s (%s) is neither protected by forward auth nor public without identity headers", name, r.Rule)
		}
	}
	if len(reqs) == 0 {
		t.Fatal("no forwardAuth middleware")
	}
	checkRequirements(t, reqs)
}

// envoyExtAuthz is the part of an ext_authz filter's configuration the
// test judges.
type envoyExtAuthz struct {
	FailureModeAllow bool `yaml:"failure_mode_allow"`
	StatusOnError    struct {
		Code string `yaml:"code"`
	} `yaml:"status_on_error"`
	HTTPService struct {
		PathPrefix           string `yaml:"path_prefix"`
		AuthorizationRequest struct {
			AllowedHeaders struct {
				Patterns []map[string]any `yaml:"patterns"`
			} `yaml:"allowed_headers"`
			HeadersToAdd []struct {
				Key   string `yaml:"key"`
				Value string `yaml:"value"`
			} `yaml:"headers_to_add"`
		} `yaml:"authorization_request"`
		AuthorizationResponse struct {
			AllowedUpstreamHeaders struct {
				Patterns []map[string]any `yaml:"patterns"`
			} `yaml:"allowed_upstream_headers"`
		} `yaml:"authorization_response"`
	} `yaml:"http_service"`
}

func TestGatewayConfigEnvoy(t *testing.T) {
	type perFilter map[string]struct {
		Disabled bool           `yaml:"disabled"`
		Config   map[string]any `yaml:"config"`
	}
	var conf struct {
		StaticResources struct {
			Listeners []struct {
				FilterChains []struct {
					Filters []struct {
						TypedConfig struct {
							RouteConfig struct {
								VirtualHosts []struct {
									Routes []struct {
										Match                map[string]string `yaml:"match"`
										TypedPerFilterConfig perFilter         `yaml:"typed_per_filter_config"`
									} `yaml:"routes"`
								} `yaml:"virtual_hosts"`
							} `yaml:"route_config"`
							HTTPFilters []struct {
								Name        string    `yaml:"name"`
								Disabled    bool      `yaml:"disabled"`
								TypedConfig yaml.Node `yaml:"typed_config"`
							} `yaml:"http_filters"`
						} `yaml:"typed_config"`
					} `yaml:"filters"`
				} `yaml:"filter_chains"`
			} `yaml:"listeners"`
		} `yaml:"static_resources"`
	}
	readYAML(t, envoyConf, &conf)
	hcm := conf.StaticResources.Listeners[0].FilterChains[0].Filters[0].TypedConfig

	stripped := false
	authz := map[string]bool{} // ext_authz filter name → on by default
	var reqs []requirement
	for _, f := range hcm.HTTPFilters {
		var typ struct {
			Type     string `yaml:"@type"`
			Mutation struct {
				Request []struct {
					Remove string `yaml:"remove"`
				} `yaml:"request_mutations"`
			} `yaml:"mutations"`
		}
		if err := f.TypedConfig.Decode(&typ); err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.HasSuffix(typ.Type, "header_mutation.v3.HeaderMutation"):
			var removed []string
			for _, m := range typ.Mutation.Request {
				removed = append(removed, m.Remove)
			}
			for _, h := range append(slices.Clone(relayHeaders), "X-Relay-Require") {
				if !slices.Contains(removed, strings.ToLower(h)) {
					t.Errorf("filter %s does not remove the client's %s", f.Name, h)
				}
			}
			stripped = !f.Disabled
		case strings.HasSuffix(typ.Type, "ext_authz.v3.ExtAuthz"):
			if !stripped {
				t.Errorf("ext_authz filter %s runs before the client's X-Relay-* headers are removed", f.Name)
			}
			var a envoyExtAuthz
			if err := f.TypedConfig.Decode(&a); err != nil {
				t.Fatal(err)
			}
			if a.FailureModeAllow || a.StatusOnError.Code != "ServiceUnavailable" {
				t.Errorf("filter %s: failure_mode_allow %v, status_on_error %q; want false and ServiceUnavailable", f.Name, a.FailureModeAllow, a.StatusOnError.Code)
			}
			if a.HTTPService.PathPrefix != "/auth/forward" {
				t.Errorf("filter %s: path_prefix %q, want /auth/forward", f.Name, a.HTTPService.PathPrefix)
			}
			var sent []string
			for _, p := range a.HTTPService.AuthorizationRequest.AllowedHeaders.Patterns {
				exact, _ := p["exact"].(string)
				if exact == "" || len(p) > 2 {
					t.Errorf("filter %s: allowed_headers pattern %v is not an exact name", f.Name, p)
				}
				sent = append(sent, strings.ToLower(exact))
			}
			slices.Sort(sent)
			// And Envoy's own request id, under which Relay Auth logs the decision.
			want := slices.Sorted(slices.Values(append(slices.Clone(credentialHeaders), "x-request-id")))
			if !slices.Equal(sent, want) {
				t.Errorf("filter %s sends the client's %q to Relay Auth, want exactly %q", f.Name, sent, want)
			}
			up := a.HTTPService.AuthorizationResponse.AllowedUpstreamHeaders.Patterns
			if len(up) != 1 || up[0]["prefix"] != "x-relay-" {
				t.Errorf("filter %s: allowed_upstream_headers %v, want the prefix x-relay-", f.Name, up)
			}
			raw := ""
			for _, h := range a.HTTPService.AuthorizationRequest.HeadersToAdd {
				if !strings.EqualFold(h.Key, "X-Relay-Require") {
					t.Errorf("filter %s adds %s to the check, not a requirement", f.Name, h.Key)
				}
				raw = h.Value
			}
			reqs = append(reqs, requirement{"envoy filter " + f.Name, raw})
			authz[f.Name] = !f.Disabled
		}
	}
	if len(authz) == 0 {
		t.Fatal("no ext_authz filter")
	}
	for _, vh := range hcm.RouteConfig.VirtualHosts {
		for _, r := range vh.Routes {
			checked := 0
			for name, on := range authz {
				if pf, ok := r.TypedPerFilterConfig[name]; ok {
					on = !pf.Disabled
				}
				if on {
					checked++
				}
			}
			public := r.Match["path"] == "/healthz"
			switch {
			case public && checked != 0:
				t.Errorf("route %v is public but checked", r.Match)
			case !public && checked == 0:
				t.Errorf("route %v is checked by no ext_authz filter", r.Match)
			case checked > 1:
				t.Errorf("route %v asks Relay Auth %d times per request", r.Match, checked)
			}
		}
	}
	checkRequirements(t, reqs)
}
