package core

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"reflect"
	"testing"

	"pgregory.net/rapid"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

func sampleHeartbeat() *Heartbeat {
	hb := &Heartbeat{
		Version: WireVersion, Sender: 2, Incarnation: 7, Seq: 42, State: StateUp,
		Ready: true, Member: true, Applied: 3<<8 | 1, Hears: []uint64{0b1011, 0b0011},
		Claims: make([]Bitmap, 2),
	}
	for b := 0; b < Buckets; b += 3 {
		hb.Claims[0].Set(b)
	}
	hb.Claims[1].Set(255)
	t := &Target{Epoch: 3<<8 | 2, Owners: make([][Buckets]uint8, 2)}
	for b := range Buckets {
		t.Owners[0][b] = uint8(b % 3)
		t.Owners[1][b] = NoOwner
	}
	hb.Target = t
	// Relayed: node0 claims what the target gives it (no bitmap on the
	// wire), node1 a bitmap of its own in group 0 and nothing in group 1.
	hb.Relay = []PeerInfo{
		{Node: 0, Incarnation: 3, Seq: 99, State: StateUp, Ready: true, Member: true, Applied: t.Epoch, Hears: []uint64{0b110, 0b100},
			Claims: []Bitmap{ownedBy(&t.Owners[0], 0), {}}},
		{Node: 1, Incarnation: 5, Seq: 7, State: StateWait, Leaving: true, Applied: 2<<8 | 0, Hears: []uint64{0b100, 0},
			Claims: []Bitmap{{1, 2, 3, 4}, {}}},
	}
	return hb
}

func mustVerifier(t testing.TB) *Verifier {
	v, err := NewVerifier(testKey, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestWireRoundTrip(t *testing.T) {
	for _, hb := range []*Heartbeat{
		sampleHeartbeat(),
		{Version: WireVersion, Sender: 0, Incarnation: 1, Seq: 1, State: StateStop, Claims: []Bitmap{}},
		{Sender: 1, Incarnation: 1 << 60, Seq: 1<<64 - 1, State: StateWait, Leaving: true, Claims: make([]Bitmap, 1)},
	} {
		pkt, err := EncodeHeartbeat(testKey, 1, hb)
		if err != nil {
			t.Fatal(err)
		}
		got, lan, err := mustVerifier(t).Decode(pkt)
		if err != nil {
			t.Fatal(err)
		}
		want := *hb
		want.Version = WireVersion
		if lan != 1 || !reflect.DeepEqual(got, &want) {
			t.Fatalf("round trip on LAN %d:\n got %+v\nwant %+v", lan, got, &want)
		}
		again, _ := EncodeHeartbeat(testKey, 1, got)
		if !bytes.Equal(again, pkt) {
			t.Fatal("encoding is not deterministic")
		}
	}
}

func TestWireRejects(t *testing.T) {
	good, err := EncodeHeartbeat(testKey, 1, sampleHeartbeat())
	if err != nil {
		t.Fatal(err)
	}
	// resign recomputes the HMAC after a change, so only the intended check fails.
	resign := func(p []byte) []byte {
		mac := hmac.New(sha256.New, testKey)
		body := p[:len(p)-wireMACLen]
		mac.Write(body)
		return mac.Sum(body)
	}
	mutate := func(f func(p []byte) []byte) []byte { return f(bytes.Clone(good)) }
	other, _ := EncodeHeartbeat([]byte("another cluster key"), 1, sampleHeartbeat())
	noTarget := sampleHeartbeat()
	noTarget.Target = nil
	short, _ := EncodeHeartbeat(testKey, 1, noTarget)

	for _, tc := range []struct {
		name string
		pkt  []byte
		want RejectReason
	}{
		{"empty", nil, RejectTruncated},
		{"header only", good[:wireHeaderLen], RejectTruncated},
		{"cut target", good[:len(good)-100], RejectTruncated},
		{"oversized", make([]byte, MaxHeartbeatLen+1), RejectOversized},
		{"magic", mutate(func(p []byte) []byte { p[0] = 'X'; return p }), RejectNotHeartbeat},
		{"version", mutate(func(p []byte) []byte { p[2] = 1; return resign(p) }), RejectWrongVersion},
		{"cluster", other, RejectWrongCluster},
		{"sender", mutate(func(p []byte) []byte { p[9] = 3; return resign(p) }), RejectUnknownSender},
		{"lan", mutate(func(p []byte) []byte { p[8] = 2; return resign(p) }), RejectUnknownLAN},
		{"groups", mutate(func(p []byte) []byte { p[11] = MaxWireGroups + 1; return p }), RejectMalformed},
		{"trailing", append(bytes.Clone(short), 0), RejectMalformed},
		{"flags", mutate(func(p []byte) []byte { p[3] |= 0x80; return resign(p) }), RejectMalformed},
		{"state", mutate(func(p []byte) []byte { p[10] = 9; return resign(p) }), RejectMalformed},
		{"owner", mutate(func(p []byte) []byte { p[targetOff(p)+8] = 0x05; return resign(p) }), RejectMalformed},
		{"owners in bytes", resign(bytesTarget(t)), RejectMalformed},
		{"relay count", mutate(func(p []byte) []byte { p[37] = 3; return p }), RejectMalformed},
		{"hears rows", mutate(func(p []byte) []byte { p[36] = 200; return p }), RejectTruncated},
		{"relay cut", mutate(func(p []byte) []byte {
			p[37] = 2
			return resign(append(p[:len(p)-wireMACLen-10], make([]byte, wireMACLen)...))
		}), RejectTruncated},
		{"relay order", mutate(func(p []byte) []byte { p[relayOff(p)] = 1; return resign(p) }), RejectMalformed},
		{"relay sender", mutate(func(p []byte) []byte { p[relayOff(p)] = 2; return resign(p) }), RejectMalformed},
		{"relay node", func() []byte {
			hb := sampleHeartbeat()
			hb.Relay = hb.Relay[1:]
			hb.Relay[0].Node = 0
			p, _ := EncodeHeartbeat(testKey, 1, hb)
			p[relayOff(p)] = 3
			return resign(p)
		}(), RejectMalformed},
		{"relay state", mutate(func(p []byte) []byte { p[relayOff(p)+1] = 9; return resign(p) }), RejectMalformed},
		{"relay flags", mutate(func(p []byte) []byte { p[relayOff(p)+2] = 0x40; return resign(p) }), RejectMalformed},
		{"claims mode", mutate(func(p []byte) []byte { p[claimsOff(p)+1] = 3; return resign(p) }), RejectMalformed},
		{"claims as no target", resign(claimsWithoutTarget(t)), RejectMalformed},
		{"claims not canonical", mutate(func(p []byte) []byte {
			// node0's empty group 1 sent as a bitmap of zeros
			at := relayOff(p) + wireEntryLen + 8*int(p[36])
			p[at+1] = claimsBitmap
			return resign(append(p[:at+2], append(make([]byte, bitmapWireBytes), p[at+2:]...)...))
		}), RejectMalformed},
		{"forged body", mutate(func(p []byte) []byte { p[50] ^= 1; return p }), RejectForged},
		{"forged mac", mutate(func(p []byte) []byte { p[len(p)-1] ^= 1; return p }), RejectForged},
		{"forged lan", mutate(func(p []byte) []byte { p[8] = 0; return p }), RejectForged},
	} {
		v := mustVerifier(t)
		hb, lan, err := v.Decode(tc.pkt)
		var re *RejectError
		if !errors.As(err, &re) || re.Reason != tc.want || hb != nil || lan != -1 {
			t.Errorf("%s: got (%v, %d, %v), want reject %v", tc.name, hb, lan, err, tc.want)
			continue
		}
		if r := v.Rejects(); r[tc.want] != 1 {
			t.Errorf("%s: rejects %v", tc.name, r)
		}
		// A rejected packet never advances replay state: the genuine one passes.
		if _, _, err := v.Decode(good); err != nil {
			t.Errorf("%s: the genuine heartbeat is refused afterwards: %v", tc.name, err)
		}
	}
}

// claimsOff is where the sender's claims block of an encoded sample starts.
func claimsOff(p []byte) int { return wireHeaderLen + 8*int(p[36]) }

// targetOff is where the target section of an encoded sample starts.
func targetOff(p []byte) int {
	return claimsOff(p) + claimsBlockLen(p, claimsOff(p), int(p[11]))
}

// relayOff is where the first relay entry of an encoded sample starts.
func relayOff(p []byte) int {
	off := targetOff(p)
	if p[3]&flagTarget != 0 {
		n := Buckets
		if p[3]&flagNibbles != 0 {
			n = Buckets / 2
		}
		off += 8 + int(p[11])*n
	}
	return off
}

// bytesTarget is the sample with its owners in bytes although they fit in
// nibbles (not canonical), MAC not yet recomputed.
func bytesTarget(t *testing.T) []byte {
	hb := sampleHeartbeat()
	hb.Relay = nil
	p, err := EncodeHeartbeat(testKey, 1, hb)
	if err != nil {
		t.Fatal(err)
	}
	off := targetOff(p)
	out := append([]byte(nil), p[:off+8]...)
	out[3] &^= flagNibbles
	for g := range hb.Target.Owners {
		out = append(out, hb.Target.Owners[g][:]...)
	}
	return append(out, make([]byte, wireMACLen)...)
}

// claimsWithoutTarget is a heartbeat whose claims say "as the target" with no
// target present, MAC not yet recomputed.
func claimsWithoutTarget(t *testing.T) []byte {
	hb := sampleHeartbeat()
	hb.Target, hb.Relay = nil, nil
	p, err := EncodeHeartbeat(testKey, 1, hb)
	if err != nil {
		t.Fatal(err)
	}
	// Group 0 is a bitmap: turn it into "as target" and drop its 32 bytes.
	at := claimsOff(p)
	out := append([]byte(nil), p[:at]...)
	out = append(out, claimsAsTarget, p[at+1])
	out = append(out, p[at+2+bitmapWireBytes:]...)
	return out
}

func TestWireReplay(t *testing.T) {
	v := mustVerifier(t)
	enc := func(lan int, inc, seq uint64) []byte {
		hb := sampleHeartbeat()
		hb.Incarnation, hb.Seq = inc, seq
		p, err := EncodeHeartbeat(testKey, lan, hb)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	want := func(p []byte, r RejectReason, ok bool) {
		t.Helper()
		_, _, err := v.Decode(p)
		var re *RejectError
		switch {
		case ok && err != nil:
			t.Fatalf("refused: %v", err)
		case !ok && (!errors.As(err, &re) || re.Reason != r):
			t.Fatalf("got %v, want %v", err, r)
		}
	}
	want(enc(0, 5, 10), 0, true)
	want(enc(0, 5, 10), RejectReplayed, false)
	want(enc(0, 5, 9), RejectReplayed, false)
	want(enc(1, 5, 10), 0, true) // the same heartbeat on the other LAN
	want(enc(0, 5, 11), 0, true)
	want(enc(0, 6, 1), 0, true) // the sender restarted
	want(enc(0, 5, 12), RejectStaleIncarnation, false)
	want(enc(1, 5, 11), 0, true) // LAN 1 has not seen incarnation 6 yet
	r := v.Rejects()
	if r[RejectReplayed] != 2 || r[RejectStaleIncarnation] != 1 {
		t.Fatalf("rejects %v", r)
	}
	for reason := range RejectReason(RejectReasonCount) {
		if s := reason.String(); s == "" || s[0] == 'r' && s != "replayed" {
			t.Errorf("reason %d has no name: %q", reason, s)
		}
	}
}

func TestWireEncodeErrors(t *testing.T) {
	hb := sampleHeartbeat()
	bad := *hb
	bad.Target = &Target{Owners: make([][Buckets]uint8, 1)}
	tooMany := Heartbeat{Claims: make([]Bitmap, MaxWireGroups+1)}
	relay := func(f func(r []PeerInfo)) *Heartbeat {
		h := sampleHeartbeat()
		f(h.Relay)
		return h
	}
	huge := &Heartbeat{Claims: make([]Bitmap, MaxWireGroups)}
	for g := range huge.Claims {
		huge.Claims[g] = Bitmap{1, 1, 1, 1}
	}
	for n := 1; n < MaxNodes; n++ {
		huge.Relay = append(huge.Relay, PeerInfo{Node: uint8(n), Claims: huge.Claims})
	}
	for name, f := range map[string]func() ([]byte, error){
		"key":     func() ([]byte, error) { return EncodeHeartbeat(nil, 0, hb) },
		"nil":     func() ([]byte, error) { return EncodeHeartbeat(testKey, 0, nil) },
		"lan":     func() ([]byte, error) { return EncodeHeartbeat(testKey, 256, hb) },
		"target":  func() ([]byte, error) { return EncodeHeartbeat(testKey, 0, &bad) },
		"groups":  func() ([]byte, error) { return EncodeHeartbeat(testKey, 0, &tooMany) },
		"state":   func() ([]byte, error) { return EncodeHeartbeat(testKey, 0, &Heartbeat{State: 7}) },
		"version": func() ([]byte, error) { return EncodeHeartbeat(testKey, 0, &Heartbeat{Version: 3}) },
		"relay order": func() ([]byte, error) {
			return EncodeHeartbeat(testKey, 0, relay(func(r []PeerInfo) { r[0], r[1] = r[1], r[0] }))
		},
		"relay sender": func() ([]byte, error) {
			return EncodeHeartbeat(testKey, 0, relay(func(r []PeerInfo) { r[1].Node = 2 }))
		},
		"relay groups": func() ([]byte, error) {
			return EncodeHeartbeat(testKey, 0, relay(func(r []PeerInfo) { r[1].Claims = nil }))
		},
		"relay state": func() ([]byte, error) {
			return EncodeHeartbeat(testKey, 0, relay(func(r []PeerInfo) { r[1].State = 5 }))
		},
		"oversized": func() ([]byte, error) { return EncodeHeartbeat(testKey, 0, huge) },
	} {
		if _, err := f(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := NewVerifier(nil, 2, 1); err == nil {
		t.Error("verifier with an empty key")
	}
	if _, err := NewVerifier(testKey, MaxNodes+1, 1); err == nil {
		t.Error("verifier with too many nodes")
	}
}

// A decoded heartbeat drives a Node exactly like the original.
func TestWireDecodedFeedsNode(t *testing.T) {
	cl, mod := testConfig(3, 2, nil)
	n, err := New(Config{Self: "node1", Cluster: cl, Module: mod, Incarnation: 1})
	if err != nil {
		t.Fatal(err)
	}
	hb := sampleHeartbeat()
	hb.Claims = hb.Claims[:1]
	hb.Target.Owners = hb.Target.Owners[:1]
	for i := range hb.Relay {
		hb.Relay[i].Claims = hb.Relay[i].Claims[:1]
	}
	pkt, err := EncodeHeartbeat(testKey, 1, hb)
	if err != nil {
		t.Fatal(err)
	}
	got, lan, err := mustVerifier(t).Decode(pkt)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Step(Recv{LAN: lan, Msg: got}); err != nil {
		t.Fatal(err)
	}
	if st := n.Status(); st.Peers[1].LastHeardTick[1] != 0 || st.Peers[1].State != StateUp {
		t.Fatalf("peer status %+v", st.Peers[1])
	}
}

func FuzzDecode(f *testing.F) {
	good, _ := EncodeHeartbeat(testKey, 1, sampleHeartbeat())
	f.Add(good)
	noTarget := sampleHeartbeat()
	noTarget.Target = nil
	p, _ := EncodeHeartbeat(testKey, 0, noTarget)
	f.Add(p)
	f.Add([]byte("VF\x02"))
	noRelay := sampleHeartbeat()
	noRelay.Relay = nil
	p, _ = EncodeHeartbeat(testKey, 1, noRelay)
	f.Add(p)
	wide := sampleHeartbeat()
	wide.Target.Owners[1][7] = 20 // owners in bytes
	wide.Relay[0].Claims[0] = Bitmap{}
	v21, _ := NewVerifier(testKey, 21, 2)
	p, _ = EncodeHeartbeat(testKey, 0, wide)
	f.Add(p)
	f.Fuzz(func(t *testing.T, pkt []byte) {
		v := mustVerifier(t)
		if len(pkt) > 3 && pkt[3]&flagTarget != 0 && pkt[3]&flagNibbles == 0 {
			v = v21 // owners in bytes need wider clusters
			v.last = make([]replayState, len(v.last))
		}
		hb, lan, err := v.Decode(pkt)
		if err != nil {
			var re *RejectError
			if !errors.As(err, &re) || hb != nil || lan != -1 {
				t.Fatalf("bad rejection (%v, %d, %v)", hb, lan, err)
			}
			return
		}
		// Accepted: it re-encodes to the very same bytes and is then a replay.
		again, err := EncodeHeartbeat(testKey, lan, hb)
		if err != nil || !bytes.Equal(again, pkt) {
			t.Fatalf("accepted packet does not re-encode identically: %v", err)
		}
		if _, _, err := v.Decode(pkt); err == nil {
			t.Fatal("the same packet was accepted twice")
		}
	})
}

// Any heartbeat the encoder accepts decodes to itself.
func TestWireRoundTripRapid(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		ng := rapid.IntRange(0, 4).Draw(rt, "groups")
		hb := &Heartbeat{
			Version:     WireVersion,
			Sender:      uint8(rapid.IntRange(0, 2).Draw(rt, "sender")),
			Incarnation: rapid.Uint64().Draw(rt, "inc"),
			Seq:         rapid.Uint64().Draw(rt, "seq"),
			State:       State(rapid.IntRange(0, 2).Draw(rt, "state")),
			Ready:       rapid.Bool().Draw(rt, "ready"),
			Member:      rapid.Bool().Draw(rt, "member"),
			Leaving:     rapid.Bool().Draw(rt, "leaving"),
			Applied:     rapid.Uint64().Draw(rt, "applied"),
			Hears:       make([]uint64, rapid.IntRange(0, 3).Draw(rt, "lans")),
			Claims:      make([]Bitmap, ng),
		}
		for l := range hb.Hears {
			hb.Hears[l] = rapid.Uint64().Draw(rt, "hears")
		}
		for g := range hb.Claims {
			for w := range hb.Claims[g] {
				hb.Claims[g][w] = rapid.Uint64().Draw(rt, "claims")
			}
		}
		if rapid.Bool().Draw(rt, "target") {
			hb.Target = &Target{Epoch: rapid.Uint64().Draw(rt, "epoch"), Owners: make([][Buckets]uint8, ng)}
			owner := rapid.SampledFrom([]uint8{0, 1, 2, NoOwner})
			if rapid.Bool().Draw(rt, "wide owners") {
				// Owners beyond a nibble force the byte encoding.
				owner = rapid.SampledFrom([]uint8{0, 1, 2, 20, NoOwner})
			}
			for g := range hb.Target.Owners {
				for b := range Buckets {
					hb.Target.Owners[g][b] = owner.Draw(rt, "owner")
				}
			}
		}
		// Relay entries for some of the other nodes; claims empty, exactly
		// the target's share (no bitmap on the wire) or any bitmap.
		for node := range 3 {
			if node == int(hb.Sender) || !rapid.Bool().Draw(rt, "relayed") {
				continue
			}
			e := PeerInfo{Node: uint8(node), Incarnation: rapid.Uint64().Draw(rt, "e.inc"), Seq: rapid.Uint64().Draw(rt, "e.seq"),
				State: State(rapid.IntRange(0, 2).Draw(rt, "e.state")), Ready: rapid.Bool().Draw(rt, "e.ready"),
				Member: rapid.Bool().Draw(rt, "e.member"), Leaving: rapid.Bool().Draw(rt, "e.leaving"),
				Applied: rapid.Uint64().Draw(rt, "e.applied"), Hears: make([]uint64, len(hb.Hears)), Claims: make([]Bitmap, ng)}
			for l := range e.Hears {
				e.Hears[l] = rapid.Uint64().Draw(rt, "e.hears")
			}
			for g := range e.Claims {
				switch rapid.IntRange(0, 2).Draw(rt, "e.mode") {
				case 1:
					if hb.Target != nil {
						e.Claims[g] = ownedBy(&hb.Target.Owners[g], node)
					}
				case 2:
					for w := range e.Claims[g] {
						e.Claims[g][w] = rapid.Uint64().Draw(rt, "e.claims")
					}
				}
			}
			hb.Relay = append(hb.Relay, e)
		}
		lan := rapid.IntRange(0, 1).Draw(rt, "lan")
		pkt, err := EncodeHeartbeat(testKey, lan, hb)
		if err != nil {
			rt.Fatal(err)
		}
		v, _ := NewVerifier(testKey, 21, 2)
		got, gotLAN, err := v.Decode(pkt)
		if err != nil {
			rt.Fatal(err)
		}
		if len(hb.Hears) == 0 {
			hb.Hears = nil
			for i := range hb.Relay {
				hb.Relay[i].Hears = nil
			}
		}
		if got.Relay == nil && hb.Relay != nil {
			got.Relay = []PeerInfo{}
		}
		if len(hb.Relay) == 0 {
			hb.Relay, got.Relay = nil, nil
		}
		if gotLAN != lan || !reflect.DeepEqual(got, hb) {
			rt.Fatalf("round trip:\n got %+v\nwant %+v", got, hb)
		}
	})
}
