// The two declarations MetalLB v0.16.2's speaker needs from
// github.com/metallb/frr-k8s v0.0.27 that v0.0.25 lacks.  The module proxy
// refuses v0.0.27, so bench/metallb/build.sh builds against v0.0.25 with this
// file added to its api/v1beta1 package and one field added to Advertise
// (see build.sh).  Only the speaker's frr-k8s BGP mode fills them in; the
// benchmark runs the speaker's layer 2 alone, so no value ever reaches an
// API server.  Not part of ironlb.

package v1beta1

// AsPathPrependPrefixes: prefixes announced with the local AS prepended
// AsPathPrepend times.
type AsPathPrependPrefixes struct {
	AsPathPrepend uint8    `json:"asPathPrepend,omitempty"`
	Prefixes      []string `json:"prefixes,omitempty"`
}
