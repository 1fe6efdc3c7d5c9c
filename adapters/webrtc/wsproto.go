package webrtc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// Commands of Ant Media's WebSocket signalling (@antmedia/webrtc_adaptor).
const (
	cmdPublish            = "publish"
	cmdPlay               = "play"
	cmdStop               = "stop"
	cmdTakeConfiguration  = "takeConfiguration"
	cmdTakeCandidate      = "takeCandidate"
	cmdPing               = "ping"
	cmdPong               = "pong"
	cmdGetStreamInfo      = "getStreamInfo"
	cmdStreamInformation  = "streamInformation"
	cmdGetIceServerConfig = "getIceServerConfig"
	cmdIceServerConfig    = "iceServerConfig"
	cmdForceStreamQuality = "forceStreamQuality"
	cmdStart              = "start"
	cmdNotification       = "notification"
	cmdError              = "error"
)

// Definitions of notifications and errors. The first ones are Ant Media's;
// the last ones are Colony's, for cases Ant Media has no name for.
const (
	defPublishStarted          = "publish_started"
	defPublishFinished         = "publish_finished"
	defPlayStarted             = "play_started"
	defPlayFinished            = "play_finished"
	defNoStreamName            = "noStreamNameSpecified"
	defInvalidStreamName       = "invalidStreamName"
	defNoStreamExist           = "no_stream_exist"
	defStreamIDInUse           = "streamIdInUse"
	defAlreadyPublishing       = "already_publishing"
	defAlreadyPlaying          = "already_playing"
	defUnauthorized            = "unauthorized_access"
	defNotSetRemoteDescription = "notSetRemoteDescription"
	defHighResourceUsage       = "highResourceUsage"
	defServerError             = "server_error_check_logs"
	// defResolutionChangeInfo: the video a viewer gets changed rendition
	// (streamHeight), after forceStreamQuality or the automatic choice.
	defResolutionChangeInfo = "resolutionChangeInfo"

	defUnknownCommand     = "unknown_command"
	defMalformedMessage   = "malformed_message"
	defTooManySessions    = "too_many_sessions"
	defNoSession          = "no_session_for_stream"
	defApplicationUnknown = "application_not_found"
	defRoleRefused        = "not_served_by_this_node"
	defUnsupportedCodec   = "unsupported_stream_codec"
	defNoSuchQuality      = "stream_quality_not_found"
)

// errMalformedMessage is returned (wrapped) for a message that is not a
// JSON object with a command.
var errMalformedMessage = errors.New("malformed signalling message")

// wsRequest is a decoded client message. Unknown fields are ignored.
type wsRequest struct {
	Command      string        `json:"command"`
	StreamID     lenientString `json:"streamId"`
	Token        lenientString `json:"token"`
	Type         string        `json:"type"`
	SDP          string        `json:"sdp"`
	Candidate    string        `json:"candidate"`
	Label        lenientInt    `json:"label"`
	ID           lenientString `json:"id"`
	StreamHeight lenientString `json:"streamHeight"`
}

// decodeRequest decodes one WebSocket text message.
func decodeRequest(b []byte) (wsRequest, error) {
	var req wsRequest
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return req, fmt.Errorf("%w: not a JSON object", errMalformedMessage)
	}
	if err := json.Unmarshal(b, &req); err != nil {
		return wsRequest{}, fmt.Errorf("%w: %w", errMalformedMessage, err)
	}
	if req.Command == "" {
		return wsRequest{}, fmt.Errorf("%w: no command", errMalformedMessage)
	}
	return req, nil
}

// needsStreamID reports whether a command names a stream.
func needsStreamID(cmd string) bool {
	switch cmd {
	case cmdPublish, cmdPlay, cmdStop, cmdTakeConfiguration, cmdTakeCandidate, cmdGetStreamInfo, cmdForceStreamQuality:
		return true
	}
	return false
}

// checkStreamID validates a command's stream id; on failure it returns the
// error definition to answer.
func checkStreamID(s string) (stream.ID, string) {
	if s == "" {
		return "", defNoStreamName
	}
	id, err := stream.ParseID(s)
	if err != nil {
		return "", defInvalidStreamName
	}
	return id, ""
}

// errorDefinition maps a publish or play failure to its error definition.
func errorDefinition(err error) string {
	switch {
	case errors.Is(err, errNoRendition): // before ErrStreamNotFound, which it may wrap
		return defNoSuchQuality
	case errors.Is(err, ports.ErrStreamBusy):
		return defStreamIDInUse
	case errors.Is(err, ports.ErrUnauthorized):
		return defUnauthorized
	case errors.Is(err, ports.ErrStreamNotFound):
		return defNoStreamExist
	case errors.Is(err, ports.ErrOverloaded), errors.Is(err, errServerClosed):
		return defHighResourceUsage
	case errors.Is(err, ports.ErrUnknownApp):
		return defApplicationUnknown
	case errors.Is(err, ports.ErrRoleRefused):
		return defRoleRefused
	case errors.Is(err, errNoPlayableTrack):
		return defUnsupportedCodec
	case errors.Is(err, errBadSDP):
		return defNotSetRemoteDescription
	}
	return defServerError
}

// wsMessage is a server message. Empty fields are left out.
type wsMessage struct {
	Command    string `json:"command"`
	Definition string `json:"definition,omitempty"`
	StreamID   string `json:"streamId,omitempty"`
	Message    string `json:"message,omitempty"`
	ErrorCode  string `json:"error_code,omitempty"`

	Type      string            `json:"type,omitempty"`
	SDP       string            `json:"sdp,omitempty"`
	IDMapping map[string]string `json:"idMapping,omitempty"`

	Candidate string  `json:"candidate,omitempty"`
	Label     *uint16 `json:"label,omitempty"`
	ID        *string `json:"id,omitempty"`

	StreamInfo   []streamInfo `json:"streamInfo,omitempty"`
	StreamHeight int          `json:"streamHeight,omitempty"`

	StunServerURI        string `json:"stunServerUri,omitempty"`
	TurnServerUsername   string `json:"turnServerUsername,omitempty"`
	TurnServerCredential string `json:"turnServerCredential,omitempty"`
}

// streamInfo is one rendition in a streamInformation answer.
type streamInfo struct {
	StreamWidth  int    `json:"streamWidth"`
	StreamHeight int    `json:"streamHeight"`
	VideoBitrate int    `json:"videoBitrate"`
	AudioBitrate int    `json:"audioBitrate"`
	VideoCodec   string `json:"videoCodec,omitempty"`
	AudioCodec   string `json:"audioCodec,omitempty"`
}

func errorMessage(def, streamID, msg string) wsMessage {
	m := wsMessage{Command: cmdError, Definition: def, StreamID: streamID, Message: msg}
	if def == defNoStreamExist {
		m.ErrorCode = "404"
	}
	return m
}

func notification(def, streamID string) wsMessage {
	return wsMessage{Command: cmdNotification, Definition: def, StreamID: streamID}
}

// iceServerConfig answers getIceServerConfig with the first configured
// server: the SDK takes one STUN or TURN URI.
func iceServerConfig(servers []ICEServer) wsMessage {
	m := wsMessage{Command: cmdIceServerConfig}
	if len(servers) > 0 && len(servers[0].URLs) > 0 {
		m.StunServerURI = servers[0].URLs[0]
		m.TurnServerUsername = servers[0].Username
		m.TurnServerCredential = servers[0].Credential
	}
	return m
}

// lenientString accepts a JSON string, number, boolean or null.
type lenientString string

func (s *lenientString) UnmarshalJSON(b []byte) error {
	switch {
	case bytes.Equal(b, []byte("null")):
		*s = ""
	case len(b) > 0 && b[0] == '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = lenientString(v)
	case len(b) > 0 && (b[0] == '-' || b[0] >= '0' && b[0] <= '9' || b[0] == 't' || b[0] == 'f'):
		*s = lenientString(b)
	default:
		return fmt.Errorf("expected a string, got %.20s", b)
	}
	return nil
}

// lenientInt accepts a JSON integer, a string holding one, or null (unset).
type lenientInt struct {
	V   int
	Set bool
}

func (n *lenientInt) UnmarshalJSON(b []byte) error {
	var s lenientString
	if err := s.UnmarshalJSON(b); err != nil {
		return err
	}
	if s == "" {
		*n = lenientInt{}
		return nil
	}
	v, err := strconv.Atoi(string(s))
	if err != nil || v < 0 || v > 0xffff {
		return fmt.Errorf("bad integer %.20s", b)
	}
	*n = lenientInt{V: v, Set: true}
	return nil
}

func strconvQuote(s string) string { return strconv.Quote(s) }
