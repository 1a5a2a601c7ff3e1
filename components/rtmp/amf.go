package main

import (
	"errors"
	"fmt"
	"math"

	"github.com/bluenviron/gortmplib/pkg/amf0"
)

// maxAMFDepth bounds the nesting of AMF0 values we decode: connect's object holds at most an
// array (fourCcList), so 8 is plenty, and amf0.Unmarshal recurses per level.
const maxAMFDepth = 8

var errAMF = errors.New("malformed AMF0")

// amfSkip returns the position after the AMF0 value at pos, or an error when the value is
// truncated, of an unknown type or nested deeper than depth.
func amfSkip(b []byte, pos, depth int) (int, error) {
	if depth <= 0 || pos >= len(b) {
		return 0, errAMF
	}
	need := func(p, n int) (int, error) {
		if n < 0 || p+n > len(b) || p+n < p {
			return 0, errAMF
		}
		return p + n, nil
	}
	u16 := func(p int) (int, error) {
		if p+2 > len(b) {
			return 0, errAMF
		}
		return int(b[p])<<8 | int(b[p+1]), nil
	}
	u32 := func(p int) (int, error) {
		if p+4 > len(b) {
			return 0, errAMF
		}
		return int(b[p])<<24 | int(b[p+1])<<16 | int(b[p+2])<<8 | int(b[p+3]), nil
	}
	marker, p := b[pos], pos+1
	switch marker {
	case 0x00: // number
		return need(p, 8)
	case 0x01: // boolean
		return need(p, 1)
	case 0x02, 0x0F: // string; 0x0F XML document has a 32-bit length
		if marker == 0x0F {
			n, err := u32(p)
			if err != nil {
				return 0, err
			}
			return need(p+4, n)
		}
		n, err := u16(p)
		if err != nil {
			return 0, err
		}
		return need(p+2, n)
	case 0x0C: // long string
		n, err := u32(p)
		if err != nil {
			return 0, err
		}
		return need(p+4, n)
	case 0x05, 0x06, 0x0D: // null, undefined, unsupported
		return p, nil
	case 0x07: // reference
		return need(p, 2)
	case 0x0B: // date: number + time zone
		return need(p, 10)
	case 0x03, 0x08, 0x10: // object, ECMA array (count first), typed object (class name first)
		var err error
		if marker == 0x08 {
			if p, err = need(p, 4); err != nil {
				return 0, err
			}
		}
		if marker == 0x10 {
			n, err := u16(p)
			if err != nil {
				return 0, err
			}
			if p, err = need(p+2, n); err != nil {
				return 0, err
			}
		}
		return amfSkipProperties(b, p, depth-1)
	case 0x0A: // strict array: a count, then that many values (each at least a byte)
		n, err := u32(p)
		if err != nil {
			return 0, err
		}
		p += 4
		for i := 0; i < n; i++ {
			if p, err = amfSkip(b, p, depth-1); err != nil {
				return 0, err
			}
		}
		return p, nil
	}
	return 0, errAMF
}

// amfSkipProperties skips an object's key/value pairs up to and including the end marker.
func amfSkipProperties(b []byte, p, depth int) (int, error) {
	for {
		if p+2 > len(b) {
			return 0, errAMF
		}
		n := int(b[p])<<8 | int(b[p+1])
		p += 2
		if n == 0 {
			if p >= len(b) || b[p] != 0x09 {
				return 0, errAMF
			}
			return p + 1, nil
		}
		if p+n > len(b) {
			return 0, errAMF
		}
		var err error
		if p, err = amfSkip(b, p+n, depth); err != nil {
			return 0, err
		}
	}
}

// amfString reads the AMF0 string at pos: its value and the position after it.
func amfString(b []byte, pos int) ([]byte, int, bool) {
	if pos+3 > len(b) || b[pos] != 0x02 {
		return nil, 0, false
	}
	n := int(b[pos+1])<<8 | int(b[pos+2])
	if pos+3+n > len(b) {
		return nil, 0, false
	}
	return b[pos+3 : pos+3+n], pos + 3 + n, true
}

// command is a decoded AMF0 command message.
type command struct {
	name string
	tx   float64
	args []any // after the transaction ID: the command object (often null), then the rest
}

// parseCommand decodes an AMF0 command body: name, transaction ID, arguments. The nesting is
// checked first (amf0.Unmarshal recurses per level, without a bound).
func parseCommand(body []byte) (command, error) {
	for p := 0; p < len(body); {
		var err error
		if p, err = amfSkip(body, p, maxAMFDepth); err != nil {
			return command{}, err
		}
	}
	data, err := amf0.Unmarshal(body)
	if err != nil {
		return command{}, errAMF
	}
	if len(data) < 2 {
		return command{}, fmt.Errorf("%w: a command needs a name and a transaction ID", errAMF)
	}
	name, ok := data[0].(string)
	if !ok {
		return command{}, fmt.Errorf("%w: the command name is not a string", errAMF)
	}
	tx, ok := data[1].(float64)
	if !ok || math.IsNaN(tx) {
		return command{}, fmt.Errorf("%w: the transaction ID is not a number", errAMF)
	}
	return command{name: name, tx: tx, args: data[2:]}, nil
}

// arg returns the i-th argument after the transaction ID (0: the command object), nil if absent.
func (c command) arg(i int) any {
	if i < len(c.args) {
		return c.args[i]
	}
	return nil
}

// txID is the transaction ID as the writer wants it (an int; a client's odd value maps to 0).
func (c command) txID() int {
	if c.tx < 0 || c.tx > 1<<31 {
		return 0
	}
	return int(c.tx)
}
