package stripe

import (
	"strconv"
	"strings"
)

// Stripe states every amount as an integer in the currency's minor unit
// (docs.stripe.com/currencies). Most currencies have two decimals; these
// are the exceptions as Stripe lists them. Stripe's list differs from ISO
// 4217 in places (MGA is zero-decimal at Stripe), so the decimal written to
// the online event is the amount's true value and ingest converts it to its
// own minor units.
var (
	zeroDecimal = map[string]bool{
		"BIF": true, "CLP": true, "DJF": true, "GNF": true, "JPY": true, "KMF": true, "KRW": true, "MGA": true,
		"PYG": true, "RWF": true, "UGX": true, "VND": true, "VUV": true, "XAF": true, "XOF": true, "XPF": true,
	}
	threeDecimal = map[string]bool{"BHD": true, "JOD": true, "KWD": true, "OMR": true, "TND": true}
)

// Decimals is the number of decimals of a Stripe amount in currency (an
// ISO code in either case).
func Decimals(currency string) int {
	switch c := strings.ToUpper(currency); {
	case zeroDecimal[c]:
		return 0
	case threeDecimal[c]:
		return 3
	}
	return 2
}

// DecimalAmount renders a Stripe amount (minor units) as an exact decimal
// string: 2550 usd -> "25.50", 500 jpy -> "500", 5125 kwd -> "5.125".
func DecimalAmount(minor int64, currency string) string {
	digits := Decimals(currency)
	neg := minor < 0
	s := strconv.FormatInt(minor, 10)
	if neg {
		s = s[1:]
	}
	if digits > 0 {
		for len(s) <= digits {
			s = "0" + s
		}
		s = s[:len(s)-digits] + "." + s[len(s)-digits:]
	}
	if neg {
		s = "-" + s
	}
	return s
}
