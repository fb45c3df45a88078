package main_test

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/vipfarm/vipfarm/core"
)

func forge(t *testing.T, hexKey []byte) []byte {
	key, err := hex.DecodeString(strings.TrimSpace(string(hexKey)))
	if err != nil {
		t.Fatal(err)
	}
	pkt, err := core.EncodeHeartbeat(key, 0, &core.Heartbeat{Version: core.WireVersion, Sender: 0, Incarnation: 1 << 62, Seq: 1 << 40, State: core.StateUp})
	if err != nil {
		t.Fatal(err)
	}
	pkt[len(pkt)-1] ^= 0xff
	return pkt
}
