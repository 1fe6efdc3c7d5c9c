package rest

import "net/http"

// route is one entry of the API: the OpenAPI document lists exactly these.
type route struct {
	method, path string
	handler      http.HandlerFunc
	open         bool // served without access control
}

// routes is the API's route table.
func (s *Server) routes() []route {
	const app = "/{app}/rest/v2/broadcasts"
	return []route{
		{"GET", "/rest/v2/liveness", s.liveness, true},
		{"GET", "/rest/v2/openapi.json", s.openAPI, true},
		{"POST", "/rest/v2/users/authenticate", s.authenticate, true},
		{"GET", "/rest/v2/version", s.version, false},
		{"GET", "/rest/v2/system-status", s.systemStatus, false},
		{"GET", "/rest/v2/applications", s.listApps, false},
		{"GET", "/rest/v2/applications/settings/{app}", s.app(s.getAppSettings), false},
		{"PUT", "/rest/v2/applications/settings/{app}", s.app(s.putAppSettings), false},
		{"POST", "/rest/v2/applications/settings/{app}", s.app(s.putAppSettings), false}, // Ant Media's method
		{"GET", "/rest/v2/cluster/node-count", s.nodeCount, false},
		{"GET", "/rest/v2/cluster/nodes/{offset}/{size}", s.listNodes, false},
		{"DELETE", "/rest/v2/cluster/node/{id}", s.deleteNode, false},
		{"GET", "/rest/v2/plugins", s.plugins(s.listPlugins), false},
		{"GET", "/rest/v2/plugins/{name}/probe", s.plugins(s.probePlugin), false},
		{"PUT", "/rest/v2/plugins/active", s.plugins(s.activatePlugin), false},
		{"POST", app + "/create", s.app(s.createBroadcast), false},
		{"GET", app + "/list/{offset}/{size}", s.app(s.listBroadcasts), false},
		{"GET", app + "/count", s.app(s.countBroadcasts), false},
		{"GET", app + "/active-live-stream-count", s.app(s.activeCount), false},
		{"GET", app + "/{id}", s.stream(s.getBroadcast), false},
		{"PUT", app + "/{id}", s.stream(s.updateBroadcast), false},
		{"DELETE", app + "/{id}", s.stream(s.deleteBroadcast), false},
		{"POST", app + "/{id}/stop", s.stream(s.stopBroadcast), false},
		{"GET", app + "/{id}/stream-info", s.stream(s.atOrigin(s.streamInfo)), false},
		{"GET", app + "/{id}/broadcast-statistics", s.stream(s.broadcastStatistics), false},
		{"GET", app + "/{id}/token", s.stream(s.createToken), false},
		{"GET", app + "/{id}/jwt-token", s.stream(s.createJWTToken), false},
		{"DELETE", app + "/{id}/tokens", s.stream(s.revokeTokens), false},
	}
}
