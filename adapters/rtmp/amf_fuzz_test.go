package rtmp

import (
	"bytes"
	"testing"

	"github.com/yutopp/go-rtmp/message"
)

// FuzzRTMPMessage decodes a message body the way go-rtmp's server does for
// every client message (the message, then a command's or data message's
// AMF0 body): hostile input must give an error, never a panic, a huge
// allocation or unbounded recursion (go-amf0 did all three before the patch
// in third_party/go-amf0). go-rtmp recovers panics per connection, but not
// an out-of-memory or a stack overflow, which end the whole server.
func FuzzRTMPMessage(f *testing.F) {
	head := amfConnectHead()
	f.Add(uint8(message.TypeIDCommandMessageAMF0), append(append([]byte{}, head...), 0x03, 0, 3, 'a', 'p', 'p', 0x02, 0, 7, 'L', 'i', 'v', 'e', 'A', 'p', 'p', 0, 0, 0x09))
	f.Add(uint8(message.TypeIDCommandMessageAMF0), append(append([]byte{}, head...), 0x03, 0, 1, 'x', 0x0a, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0x09))
	f.Add(uint8(message.TypeIDCommandMessageAMF0), append(append([]byte{}, head...), 0x03, 0, 1, 'x', 0x08, 0, 0, 0, 2, 0, 1, 'a', 0x00, 0x40, 0x1c, 0, 0, 0, 0, 0, 0, 0, 1, 'x', 0x08, 0, 0, 0, 0, 0, 0, 0x09, 0, 0, 0x09, 0, 0, 0x09))
	f.Add(uint8(message.TypeIDDataMessageAMF0), []byte{0x02, 0, 13, '@', 's', 'e', 't', 'D', 'a', 't', 'a', 'F', 'r', 'a', 'm', 'e', 0x02, 0, 10, 'o', 'n', 'M', 'e', 't', 'a', 'D', 'a', 't', 'a', 0x08, 0, 0, 0, 0, 0, 0, 0x09})
	f.Add(uint8(message.TypeIDCommandMessageAMF0), []byte{0x02, 0, 7, 'p', 'u', 'b', 'l', 'i', 's', 'h', 0x00, 0x40, 0x08, 0, 0, 0, 0, 0, 0, 0x05, 0x02, 0, 1, 's', 0x02, 0, 4, 'l', 'i', 'v', 'e'})
	f.Fuzz(func(t *testing.T, typeID uint8, body []byte) {
		var msg message.Message
		if err := message.NewDecoder(bytes.NewReader(body)).Decode(message.TypeID(typeID), &msg); err != nil {
			return
		}
		var value message.AMFConvertible
		switch m := msg.(type) {
		case *message.CommandMessage:
			_ = message.CmdBodyDecoderFor(m.CommandName, m.TransactionID)(m.Body, message.NewAMFDecoder(m.Body, m.Encoding), &value)
		case *message.DataMessage:
			_ = message.DataBodyDecoderFor(m.Name)(m.Body, message.NewAMFDecoder(m.Body, m.Encoding), &value)
		}
	})
}
