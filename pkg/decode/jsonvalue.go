package decode

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxJSONDepth bounds the nesting of objects and arrays in a JSON input.
const MaxJSONDepth = 64

// parseObject reads one JSON object, keeping numbers exact (json.Number):
// money and ids must never pass through float64.
func parseObject(b []byte) (map[string]any, error) {
	// encoding/json would silently turn broken UTF-8 into U+FFFD, changing
	// a name without anyone noticing; refuse it instead.
	if !utf8.Valid(b) {
		return nil, errorf(ReasonJSON, "not valid UTF-8")
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, errorf(ReasonJSON, "empty value")
	}
	if err := checkJSONShape(b); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, errorf(ReasonJSON, "%s", jsonProblem(err))
	}
	if len(bytes.TrimSpace(b[dec.InputOffset():])) != 0 {
		return nil, errorf(ReasonJSON, "trailing data after the JSON value")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errorf(ReasonJSON, "top level is %s, not an object", typeName(v))
	}
	return m, nil
}

// checkJSONShape refuses what encoding/json would accept but should not be:
// nesting deeper than MaxJSONDepth (no event of ours nests more than a few
// levels; a deep one only costs memory and stack), and an escaped lone
// UTF-16 surrogate ("\ud800"), which encoding/json silently turns into
// U+FFFD, changing a value as broken UTF-8 would. A syntax error is left to
// the decoder to report.
func checkJSONShape(b []byte) error {
	depth, inString := 0, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			switch c {
			case '"':
				inString = false
			case '\\':
				if i+1 < len(b) && b[i+1] == 'u' {
					n, ok := surrogateEscapes(b[i:])
					if !ok {
						return errorf(ReasonJSON, "lone UTF-16 surrogate escape at byte %d", i)
					}
					i += n - 1
					continue
				}
				i++ // the escaped character
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			if depth++; depth > MaxJSONDepth {
				return errorf(ReasonJSON, "nested deeper than %d levels", MaxJSONDepth)
			}
		case '}', ']':
			depth--
		}
	}
	return nil
}

// surrogateEscapes reads the \uXXXX escape at the start of b and returns how
// many bytes it and its pair take; ok is false for a lone surrogate. An
// escape that is not four hex digits is the decoder's to reject.
func surrogateEscapes(b []byte) (n int, ok bool) {
	hex4 := func(b []byte) (rune, bool) {
		if len(b) < 6 || b[0] != '\\' || b[1] != 'u' {
			return 0, false
		}
		v, err := strconv.ParseUint(string(b[2:6]), 16, 16)
		return rune(v), err == nil
	}
	r, valid := hex4(b)
	switch {
	case !valid:
		return 2, true
	case r >= 0xDC00 && r <= 0xDFFF:
		return 0, false
	case r >= 0xD800 && r <= 0xDBFF:
		low, valid := hex4(b[6:])
		if !valid || low < 0xDC00 || low > 0xDFFF {
			return 0, false
		}
		return 12, true
	}
	return 6, true
}

// jsonProblem describes a JSON syntax error without echoing the input.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated JSON"
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at byte %d", se.Offset)
	}
	return "invalid JSON"
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// idString reads an identifier that may be a JSON string or number; ok is
// false when it is absent, null or blank, and wrongType when it is
// something no system uses as an id (a boolean, an object).
func idString(v any) (id string, ok, wrongType bool) {
	switch x := v.(type) {
	case nil:
		return "", false, false
	case string:
		s := strings.TrimSpace(x)
		return s, s != "", false
	case json.Number:
		return x.String(), true, false
	}
	return "", false, true
}

// maxExponent bounds a JSON number's exponent: 1e999999999 written out in
// full would be a billion digits.
const maxExponent = 100

// plainDecimal writes a JSON number as a plain decimal string, exactly: the
// exponent moves the decimal point, no digit is ever rounded.
func plainDecimal(n json.Number) (string, error) {
	s := n.String()
	i := strings.IndexAny(s, "eE")
	if i < 0 {
		return s, nil
	}
	e, err := strconv.Atoi(s[i+1:])
	if err != nil || e > maxExponent || e < -maxExponent {
		return "", fmt.Errorf("number out of range")
	}
	mant, sign := s[:i], ""
	if strings.HasPrefix(mant, "-") {
		mant, sign = mant[1:], "-"
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	digits, point := intPart+frac, len(intPart)+e
	if point <= 0 {
		return sign + "0." + strings.Repeat("0", -point) + digits, nil
	}
	if point > len(digits) {
		digits += strings.Repeat("0", point-len(digits))
	}
	whole := strings.TrimLeft(digits[:point], "0")
	if whole == "" {
		whole = "0"
	}
	if point == len(digits) {
		return sign + whole, nil
	}
	return sign + whole + "." + digits[point:], nil
}

// connectDecimal decodes Kafka Connect's Decimal: big-endian two's
// complement bytes, base64 in JSON, with the scale from the schema.
func connectDecimal(b64 string, scale int) (string, error) {
	if scale < 0 || scale > maxExponent {
		return "", fmt.Errorf("decimal scale out of range")
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return "", fmt.Errorf("decimal is not base64")
	}
	if len(raw) > 64 {
		return "", fmt.Errorf("decimal out of range")
	}
	n := new(big.Int).SetBytes(raw)
	if len(raw) > 0 && raw[0]&0x80 != 0 { // negative: subtract 2^(8*len)
		n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(8*len(raw))))
	}
	if scale == 0 {
		return n.String(), nil
	}
	r := new(big.Rat).SetFrac(n, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil))
	return r.FloatString(scale), nil
}

// intParam reads a schema parameter that Connect writes as a string ("2")
// and other producers as a number.
func intParam(v any) (int, bool) {
	switch x := v.(type) {
	case string:
		n, err := strconv.Atoi(x)
		return n, err == nil
	case json.Number:
		n, err := strconv.Atoi(x.String())
		return n, err == nil
	}
	return 0, false
}

// epochDays turns a day count since 1970-01-01 (io.debezium.time.Date,
// Connect's Date) into YYYY-MM-DD.
func epochDays(n json.Number) (string, error) {
	d, err := n.Int64()
	if err != nil {
		return "", fmt.Errorf("not a whole number of days")
	}
	if d < -719162 || d > 2932896 { // years 1..9999
		return "", fmt.Errorf("day number out of range")
	}
	return time.Unix(0, 0).UTC().AddDate(0, 0, int(d)).Format(time.DateOnly), nil
}

// Debezium's and Connect's logical types that this package reads.
const (
	typeDate          = "io.debezium.time.Date"
	typeConnectDate   = "org.apache.kafka.connect.data.Date"
	typeNano          = "io.debezium.time.NanoTimestamp"
	typeMicro         = "io.debezium.time.MicroTimestamp"
	typeMilli         = "io.debezium.time.Timestamp"
	typeConnectMilli  = "org.apache.kafka.connect.data.Timestamp"
	typeZoned         = "io.debezium.time.ZonedTimestamp"
	typeDecimal       = "org.apache.kafka.connect.data.Decimal"
	typeVariableScale = "io.debezium.data.VariableScaleDecimal"
)

// epochTime reads a timestamp number in the unit its logical type names,
// or, without a schema, in the unit its magnitude implies (microseconds for
// Debezium's default, milliseconds for Connect's; they differ by a factor
// of 1000, so the ranges do not overlap for any plausible date).
func epochTime(n json.Number, logical string) (time.Time, error) {
	v, err := n.Int64()
	if err != nil {
		return time.Time{}, fmt.Errorf("timestamp is not an integer")
	}
	switch logical {
	case typeNano:
		return time.Unix(0, v).UTC(), nil
	case typeMicro:
		return time.UnixMicro(v).UTC(), nil
	case typeMilli, typeConnectMilli:
		return time.UnixMilli(v).UTC(), nil
	}
	abs := v
	if abs < 0 {
		abs = -abs
	}
	switch {
	case abs >= 1e17:
		return time.Unix(0, v).UTC(), nil
	case abs >= 1e14:
		return time.UnixMicro(v).UTC(), nil
	}
	return time.UnixMilli(v).UTC(), nil
}

// parseTime reads an RFC 3339 timestamp (Debezium's ZonedTimestamp and the
// online events' format), with or without fractional seconds.
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
	if err != nil {
		return time.Time{}, fmt.Errorf("not an RFC 3339 timestamp")
	}
	return t.UTC(), nil
}
