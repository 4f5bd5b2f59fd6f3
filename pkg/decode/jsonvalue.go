package decode

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// parseObject reads one JSON object, keeping numbers exact (json.Number):
// money and ids must never pass through float64.
func parseObject(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, errorf(ReasonJSON, "%s", jsonProblem(err))
	}
	if dec.More() {
		return nil, errorf(ReasonJSON, "trailing data after the JSON value")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errorf(ReasonJSON, "top level is %s, not an object", typeName(v))
	}
	return m, nil
}

// jsonProblem describes a JSON syntax error without echoing the input.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	switch {
	case strings.Contains(err.Error(), "unexpected EOF"), err.Error() == "EOF":
		return "truncated JSON"
	case asSyntax(err, &se):
		return fmt.Sprintf("invalid JSON at byte %d", se.Offset)
	}
	return "invalid JSON"
}

func asSyntax(err error, target **json.SyntaxError) bool {
	se, ok := err.(*json.SyntaxError)
	if ok {
		*target = se
	}
	return ok
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

// idString reads an identifier that may be a JSON string or number.
func idString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		s := strings.TrimSpace(x)
		return s, s != ""
	case json.Number:
		return x.String(), true
	}
	return "", false
}

// plainDecimal renders a JSON number as a plain decimal string, exactly.
func plainDecimal(n json.Number) (string, error) {
	s := n.String()
	i := strings.IndexAny(s, "eE")
	if i < 0 {
		return s, nil
	}
	// Bound the exponent: 1e999999999 would make big.Rat build a
	// billion-digit power of ten.
	if e, err := strconv.Atoi(s[i+1:]); err != nil || e > 40 || e < -40 {
		return "", fmt.Errorf("number out of range")
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return "", fmt.Errorf("not a number")
	}
	return ratString(r), nil
}

// ratString renders an exact rational with a finite decimal expansion.
func ratString(r *big.Rat) string {
	if r.IsInt() {
		return r.Num().String()
	}
	// A decimal's denominator divides 10^k for some k ≤ its bit length.
	for k := 1; k <= 4*r.Denom().BitLen()+1; k++ {
		s := r.FloatString(k)
		back, _ := new(big.Rat).SetString(s)
		if back.Cmp(r) == 0 {
			return s
		}
	}
	return r.FloatString(18)
}

// connectDecimal decodes Kafka Connect's Decimal: big-endian two's
// complement bytes, base64 in JSON, with the scale from the schema.
func connectDecimal(b64 string, scale int) (string, error) {
	if scale < 0 || scale > 40 {
		return "", fmt.Errorf("decimal scale out of range")
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return "", fmt.Errorf("decimal is not base64")
	}
	if len(raw) == 0 {
		return "0", nil
	}
	n := new(big.Int).SetBytes(raw)
	if raw[0]&0x80 != 0 { // negative: subtract 2^(8*len)
		n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(8*len(raw))))
	}
	r := new(big.Rat).SetFrac(n, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil))
	if scale == 0 {
		return n.String(), nil
	}
	return r.FloatString(scale), nil
}

// epochDays turns Debezium's io.debezium.time.Date into YYYY-MM-DD.
func epochDays(n json.Number) (string, error) {
	d, err := n.Int64()
	if err != nil || d < -719162 || d > 2932896 { // years 1..9999
		return "", fmt.Errorf("day number out of range")
	}
	return time.Unix(0, 0).UTC().AddDate(0, 0, int(d)).Format(time.DateOnly), nil
}

// epochTime reads a timestamp number in the unit its Debezium type names,
// or, without a schema, in the unit its magnitude implies.
func epochTime(n json.Number, logical string) (time.Time, error) {
	v, err := n.Int64()
	if err != nil {
		return time.Time{}, fmt.Errorf("timestamp is not an integer")
	}
	switch logical {
	case "io.debezium.time.NanoTimestamp":
		return time.Unix(0, v).UTC(), nil
	case "io.debezium.time.MicroTimestamp":
		return time.UnixMicro(v).UTC(), nil
	case "io.debezium.time.Timestamp", "org.apache.kafka.connect.data.Timestamp":
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
