package config

import (
	"fmt"

	"golang.org/x/net/idna"
)

// hostProfile maps host names as a resolver looks them up (UTS #46, nontransitional: what
// browsers and Python's idna package do), and refuses what is not a valid DNS name: STD3
// characters only, checked hyphens and joiners, the bidi rule, label and name lengths.
var hostProfile = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.CheckHyphens(true),
	idna.CheckJoiners(true), idna.VerifyDNSLength(true), idna.Transitional(false))

// hostToASCII is the deliberation.HostMapper of this deployment: a Unicode host name becomes its
// A-labels, so "api.deepİnfra.com" is compared, and called, as "api.xn--deepinfra-9jf.com". The
// result must map to itself: the profile encodes what it cannot validate (U+FFFD for a byte that
// is not UTF-8) into A-labels that it then refuses, and such a name is no host.
func hostToASCII(host string) (string, error) {
	ascii, err := hostProfile.ToASCII(host)
	if err != nil {
		return "", err
	}
	if again, err := hostProfile.ToASCII(ascii); err != nil || again != ascii {
		return "", fmt.Errorf("idna: %q does not map to itself", ascii)
	}
	return ascii, nil
}
