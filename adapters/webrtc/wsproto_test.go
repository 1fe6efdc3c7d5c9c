package webrtc

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/colony-live/colony/ports"
)

func TestDecodeRequest(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want wsRequest
		err  bool
	}{
		{name: "ping", in: `{"command":"ping"}`, want: wsRequest{Command: "ping"}},
		{
			name: "publish from the SDK",
			in:   `{"command":"publish","streamId":"s1","token":"t","subscriberId":"","video":true,"audio":true,"metaData":"","role":""}`,
			want: wsRequest{Command: "publish", StreamID: "s1", Token: "t"},
		},
		{
			name: "candidate",
			in:   `{"command":"takeCandidate","streamId":"s1","label":0,"id":"0","candidate":"candidate:1 1 udp 1 127.0.0.1 5000 typ host"}`,
			want: wsRequest{Command: "takeCandidate", StreamID: "s1", Label: lenientInt{V: 0, Set: true}, ID: "0", Candidate: "candidate:1 1 udp 1 127.0.0.1 5000 typ host"},
		},
		{name: "null label", in: `{"command":"takeCandidate","label":null,"id":null}`, want: wsRequest{Command: "takeCandidate"}},
		{name: "numeric stream id and token", in: `{"command":"play","streamId":42,"token":7}`, want: wsRequest{Command: "play", StreamID: "42", Token: "7"}},
		{name: "quality", in: `{"command":"forceStreamQuality","streamId":"s","streamHeight":480}`, want: wsRequest{Command: "forceStreamQuality", StreamID: "s", StreamHeight: "480"}},
		{name: "not json", in: `{bad`, err: true},
		{name: "array", in: `[1,2]`, err: true},
		{name: "empty", in: ``, err: true},
		{name: "no command", in: `{"streamId":"s"}`, err: true},
		{name: "object stream id", in: `{"command":"play","streamId":{}}`, err: true},
		{name: "label out of range", in: `{"command":"takeCandidate","label":70000}`, err: true},
		{name: "command not a string", in: `{"command":5}`, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeRequest([]byte(tt.in))
			if tt.err {
				if !errors.Is(err, errMalformedMessage) {
					t.Fatalf("err = %v, want errMalformedMessage", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestCheckStreamID(t *testing.T) {
	for in, want := range map[string]string{
		"":           defNoStreamName,
		"ok_1.2-3":   "",
		"bad/id":     defInvalidStreamName,
		"../x":       defInvalidStreamName,
		"has space":  defInvalidStreamName,
		"<script>":   defInvalidStreamName,
		"stream1234": "",
	} {
		if _, def := checkStreamID(in); def != want {
			t.Errorf("checkStreamID(%q) = %q, want %q", in, def, want)
		}
	}
}

func TestErrorDefinition(t *testing.T) {
	for err, want := range map[error]string{
		ports.ErrStreamBusy:      defStreamIDInUse,
		ports.ErrUnauthorized:    defUnauthorized,
		ports.ErrStreamNotFound:  defNoStreamExist,
		ports.ErrOverloaded:      defHighResourceUsage,
		ports.ErrUnknownApp:      defApplicationUnknown,
		ports.ErrRoleRefused:     defRoleRefused,
		errNoPlayableTrack:       defUnsupportedCodec,
		errBadSDP:                defNotSetRemoteDescription,
		errors.New("disk fault"): defServerError,
	} {
		if got := errorDefinition(fmt.Errorf("wrapped: %w", err)); got != want {
			t.Errorf("errorDefinition(%v) = %q, want %q", err, got, want)
		}
	}
}

func TestMessagesEncodeLikeAntMedia(t *testing.T) {
	label, mid := uint16(0), "0"
	tests := []struct {
		msg  wsMessage
		want string
	}{
		{notification(defPublishStarted, "s1"), `{"command":"notification","definition":"publish_started","streamId":"s1"}`},
		{errorMessage(defNoStreamExist, "s1", ""), `{"command":"error","definition":"no_stream_exist","streamId":"s1","error_code":"404"}`},
		{wsMessage{Command: cmdTakeCandidate, StreamID: "s1", Candidate: "candidate:x", Label: &label, ID: &mid},
			`{"command":"takeCandidate","streamId":"s1","candidate":"candidate:x","label":0,"id":"0"}`},
		{iceServerConfig([]ICEServer{{URLs: []string{"turn:t.example:3478"}, Username: "u", Credential: "c"}}),
			`{"command":"iceServerConfig","stunServerUri":"turn:t.example:3478","turnServerUsername":"u","turnServerCredential":"c"}`},
		{iceServerConfig(nil), `{"command":"iceServerConfig"}`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(tt.msg)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != tt.want {
			t.Errorf("got  %s\nwant %s", b, tt.want)
		}
	}
}

func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"command":"ping"}`,
		`{"command":"publish","streamId":"s1","token":"t","video":true}`,
		`{"command":"takeConfiguration","streamId":"s1","type":"offer","sdp":"v=0\r\n"}`,
		`{"command":"takeCandidate","streamId":"s1","label":0,"id":"0","candidate":"candidate:1"}`,
		`{"command":"forceStreamQuality","streamId":"s1","streamHeight":"auto"}`,
		`{bad`, `[]`, `null`, `{"command":null}`, `{"label":-1,"command":"x"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := decodeRequest(b)
		if err != nil {
			if !errors.Is(err, errMalformedMessage) {
				t.Fatalf("error %v is not errMalformedMessage", err)
			}
			return
		}
		if req.Command == "" {
			t.Fatal("decoded a request without a command")
		}
		if req.Label.Set && (req.Label.V < 0 || req.Label.V > 0xffff) {
			t.Fatalf("label %d out of range", req.Label.V)
		}
		if needsStreamID(req.Command) {
			id, def := checkStreamID(string(req.StreamID))
			if def == "" && (id == "" || strings.Contains(string(id), "/")) {
				t.Fatalf("accepted stream id %q", id)
			}
		}
	})
}
