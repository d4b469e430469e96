package protocol

import "encoding/json"

// decodePublicationFast reads the frame a client receives most, a message
// frame or a bare publication (SSE, history replies) without info, with
// the same scanner as DecodeCommand instead of encoding/json, which spends
// most of its time on reflection here. ok is false for anything else and
// for anything doubtful (an unknown key, a key in another case, a value of
// the wrong type, malformed JSON): DecodeFrame then decodes the frame with
// encoding/json, so results and error messages stay exactly its own.
func decodePublicationFast(b []byte) (f Frame, ok bool) {
	r := reader{b: b}
	r.ws()
	if r.peek() != '{' {
		return Frame{}, false
	}
	more, err := r.openObject()
	for more && err == nil {
		var key []byte
		if key, err = r.key(); err != nil {
			return Frame{}, false
		}
		switch string(key) {
		case "type":
			err = r.stringField("type", &f.Type)
		case "channel":
			err = r.stringField("channel", &f.Channel)
		case "epoch":
			err = r.stringField("epoch", &f.Epoch)
		case "key":
			err = r.stringField("key", &f.Key)
		case "offset":
			err = r.uintField("offset", &f.Offset)
		case "time":
			v, neg, ok, e := r.integer("time", "an integer", true)
			switch {
			case e != nil:
				err = e
			case !ok && r.typeErr == nil: // null leaves it alone
			case !ok || v > 1<<63-1:
				return Frame{}, false
			case neg:
				f.Time = -int64(v)
			default:
				f.Time = int64(v)
			}
		case "data":
			start := r.i
			if err = r.skip(); err == nil {
				// Copied, as encoding/json copies a RawMessage: the
				// caller may reuse b.
				f.Data = append(json.RawMessage(nil), b[start:r.i]...)
			}
		default:
			return Frame{}, false
		}
		if err == nil && r.typeErr != nil {
			return Frame{}, false
		}
		if err == nil {
			more, err = r.next('}')
		}
	}
	if err != nil {
		return Frame{}, false
	}
	r.ws()
	if r.i < len(r.b) || (f.Type != TypeMessage && f.Type != "") {
		return Frame{}, false
	}
	return f, true
}
