//go:build !linux

package ufw

// nftChainLoaded cannot tell off Linux: iptables runs (see nft_linux.go).
func nftChainLoaded(string) (loaded, known bool) { return false, false }
