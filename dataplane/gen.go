package dataplane

// The XDP object is compiled by clang through bpf2go; the generated
// vipfarm_bpfel.go and vipfarm_bpfel.o are committed so `go build` never needs
// clang. Regenerate with `make generate` (clang, llvm, libbpf-dev).
//go:generate go tool bpf2go -cc clang -cflags "-O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu -I/usr/include/aarch64-linux-gnu" -target bpfel -type settings -type vip_slot -type rule -type group_table -type node_mac -type peer_slot -type counts vipfarm ../bpf/xdp_vipfarm.c -- -I../bpf
