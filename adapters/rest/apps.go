package rest

import (
	"net/http"

	"github.com/colony-live/colony/core/stream"
)

// AppSettings is Ant Media's AppSettings JSON, with the fields Colony
// applies. In a PUT (or Ant Media's POST) an absent field takes its
// default, as Ant Media does: the document replaces the settings.
type AppSettings struct {
	AppName                    string            `json:"appName"`
	HLSMuxingEnabled           *bool             `json:"hlsMuxingEnabled"`
	WebRTCEnabled              *bool             `json:"webRTCEnabled"`
	EncoderSettings            []EncoderSettings `json:"encoderSettings"`
	PublishTokenControlEnabled bool              `json:"publishTokenControlEnabled"`
	PlayTokenControlEnabled    bool              `json:"playTokenControlEnabled"`
	PublishJWTControlEnabled   bool              `json:"publishJwtControlEnabled"`
	PlayJWTControlEnabled      bool              `json:"playJwtControlEnabled"`
	JWTStreamSecretKey         string            `json:"jwtStreamSecretKey"`
	UpdateTime                 int64             `json:"updateTime"`
}

func appSettingsJSON(app stream.App, s stream.AppSettings) AppSettings {
	out := AppSettings{
		AppName: string(app), HLSMuxingEnabled: &s.HLSMuxingEnabled, WebRTCEnabled: &s.WebRTCEnabled,
		EncoderSettings:            encoderSettings(s.Ladder),
		PublishTokenControlEnabled: s.PublishTokenControl, PlayTokenControlEnabled: s.PlayTokenControl,
		PublishJWTControlEnabled: s.PublishJWTControl, PlayJWTControlEnabled: s.PlayJWTControl,
		JWTStreamSecretKey: s.JWTSecret,
	}
	if !s.UpdatedAt.IsZero() {
		out.UpdateTime = s.UpdatedAt.UnixMilli()
	}
	return out
}

func (in AppSettings) settings() stream.AppSettings {
	out := stream.DefaultAppSettings()
	if in.HLSMuxingEnabled != nil {
		out.HLSMuxingEnabled = *in.HLSMuxingEnabled
	}
	if in.WebRTCEnabled != nil {
		out.WebRTCEnabled = *in.WebRTCEnabled
	}
	for _, e := range in.EncoderSettings {
		out.Ladder = append(out.Ladder, e.rendition())
	}
	out.PublishTokenControl, out.PlayTokenControl = in.PublishTokenControlEnabled, in.PlayTokenControlEnabled
	out.PublishJWTControl, out.PlayJWTControl = in.PublishJWTControlEnabled, in.PlayJWTControlEnabled
	out.JWTSecret = in.JWTStreamSecretKey
	return out
}

// listApps answers GET /rest/v2/applications as Ant Media does.
func (s *Server) listApps(w http.ResponseWriter, r *http.Request) {
	names := []string{}
	for _, a := range s.node.Apps() {
		names = append(names, string(a))
	}
	writeJSON(w, http.StatusOK, map[string][]string{"applications": names})
}

func (s *Server) getAppSettings(w http.ResponseWriter, r *http.Request, app stream.App) {
	if !s.settingsOK(w) {
		return
	}
	set, err := s.cfg.Settings.AppSettings(r.Context(), app)
	if err != nil {
		storeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, appSettingsJSON(app, set))
}

func (s *Server) putAppSettings(w http.ResponseWriter, r *http.Request, app stream.App) {
	if !s.settingsOK(w) {
		return
	}
	var in AppSettings
	if err := decodeBody(w, r, &in); err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	if in.AppName != "" && in.AppName != string(app) {
		fail(w, http.StatusBadRequest, "appName does not match the path")
		return
	}
	set := in.settings()
	if err := set.Validate(); err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	set.UpdatedAt = s.cfg.Now()
	if err := s.cfg.Settings.SaveAppSettings(r.Context(), app, set); err != nil {
		storeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, Result{Success: true, DataID: string(app)})
}
