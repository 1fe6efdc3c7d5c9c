package rest

import (
	_ "embed"
	"net/http"
)

// openAPIDoc is the API's OpenAPI 3 document, written by hand; a test
// checks that it lists exactly the routes of routes().
//
//go:embed openapi.json
var openAPIDoc []byte

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPIDoc)
}
