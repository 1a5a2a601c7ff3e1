package main

import "testing"

// TestPESFillsWholePackets: every PES size, key or not, comes out as whole 188-byte packets.
func TestPESFillsWholePackets(t *testing.T) {
	for _, key := range []bool{false, true} {
		for size := 1; size < 2000; size++ {
			w := newTSWriter(true)
			w.writePES(audioPID, 0xc0, 900, 900, key, make([]byte, size))
			if len(w.buf)%188 != 0 {
				t.Fatalf("key %v size %d: %d bytes", key, size, len(w.buf))
			}
			for i := 0; i < len(w.buf); i += 188 {
				if w.buf[i] != 0x47 {
					t.Fatalf("key %v size %d: no sync at %d", key, size, i)
				}
			}
		}
	}
}
