// Package avrocodec encodes the pipeline's records as Avro in the Confluent
// wire format (magic byte, 4-byte schema id, Avro binary). Schema ids come
// from a schema registry when one is configured, else from the ids fixed in
// the schemas module, so a small install needs no registry at all.
package avrocodec

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/schemas"
)

// topLevel are the schemas that travel on topics.
var topLevel = []string{schemas.ContactChange, schemas.MatchedChange, schemas.SinkRecord, schemas.KickOut, schemas.ReviewItem, schemas.AuditRecord}

// Codec encodes and decodes every record type of the pipeline. It is safe
// for concurrent use.
type Codec struct {
	codecs map[string]*goavro.Codec // schema name -> codec
	bounds map[string]*blockBound   // schema name -> its length check
	ids    map[string]int           // schema name -> wire id
	names  map[int]string           // wire id -> schema name
	// writers holds the codecs of earlier versions of a schema, by wire
	// id: a record is read with the schema it was written with, and the
	// fields added since take their defaults when it is read.
	writers map[int]writer
	header  sr.ConfluentHeader
}

// Option configures New.
type Option func(*options)

type options struct {
	ctx      context.Context
	registry *sr.Client
}

// WithRegistry registers the schemas in a Confluent-compatible registry
// under the record-name subject (e.g. org.contactsync.ContactChange) and
// uses the ids it returns.
func WithRegistry(ctx context.Context, cl *sr.Client) Option {
	return func(o *options) { o.ctx, o.registry = ctx, cl }
}

// maxBlock bounds the item count and byte length goavro accepts for one
// array, map or bytes block. goavro pre-allocates by the count it reads, so
// its default (2^31) lets a ten-byte poison record demand gigabytes; no
// record of ours comes near this, and Kafka caps messages at ~1 MiB anyway.
// A constant still lets a small record claim 2^20 items: decode also bounds
// every count by the bytes that remain (blockbound.go).
const maxBlock = 1 << 20

var limitOnce sync.Once

// New compiles the embedded schemas and settles their ids.
func New(opts ...Option) (*Codec, error) {
	// goavro's limits are package globals: only ever lower them.
	limitOnce.Do(func() {
		goavro.MaxBlockCount = min(goavro.MaxBlockCount, maxBlock)
		goavro.MaxBlockSize = min(goavro.MaxBlockSize, maxBlock)
	})
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	c := &Codec{codecs: map[string]*goavro.Codec{}, bounds: map[string]*blockBound{}, ids: map[string]int{}, names: map[int]string{},
		writers: map[int]writer{}}
	for _, name := range topLevel {
		text, err := schemas.Resolve(name)
		if err != nil {
			return nil, err
		}
		codec, err := goavro.NewCodec(text)
		if err != nil {
			return nil, fmt.Errorf("compile schema %s: %w", name, err)
		}
		if c.bounds[name], err = newBlockBound(text); err != nil {
			return nil, fmt.Errorf("compile schema %s: %w", name, err)
		}
		id := schemas.EmbeddedIDs[name]
		if o.registry != nil {
			ss, err := o.registry.CreateSchema(o.ctx, schemas.Namespace+"."+name, sr.Schema{Schema: text, Type: sr.TypeAvro})
			if err != nil {
				return nil, fmt.Errorf("register schema %s: %w", name, err)
			}
			id = ss.ID
		}
		c.codecs[name], c.ids[name], c.names[id] = codec, id, name
		if o.registry != nil {
			if err := c.addRegisteredVersions(o.ctx, o.registry, name); err != nil {
				return nil, err
			}
		}
	}
	if o.registry == nil {
		for id := range schemas.LegacyIDs {
			name, text, err := schemas.Legacy(id)
			if err != nil {
				return nil, err
			}
			if err := c.addWriter(id, name, text); err != nil {
				return nil, err
			}
		}
	}
	return c, nil
}

// addRegisteredVersions makes the earlier versions of a schema that the
// registry holds readable.
func (c *Codec) addRegisteredVersions(ctx context.Context, cl *sr.Client, name string) error {
	versions, err := cl.Schemas(ctx, schemas.Namespace+"."+name)
	if err != nil {
		return fmt.Errorf("versions of schema %s: %w", name, err)
	}
	for _, v := range versions {
		if v.ID == c.ids[name] {
			continue
		}
		if err := c.addWriter(v.ID, name, v.Schema.Schema); err != nil {
			return err
		}
	}
	return nil
}

func (c *Codec) addWriter(id int, name, text string) error {
	if _, taken := c.names[id]; taken {
		return fmt.Errorf("schema id %d of an earlier %s is also the id of %s", id, name, c.names[id])
	}
	codec, err := goavro.NewCodec(text)
	if err != nil {
		return fmt.Errorf("compile earlier schema %s (id %d): %w", name, id, err)
	}
	bound, err := newBlockBound(text)
	if err != nil {
		return fmt.Errorf("compile earlier schema %s (id %d): %w", name, id, err)
	}
	c.names[id], c.writers[id] = name, writer{codec: codec, bound: bound}
	return nil
}

// writer is an earlier version of a schema that records may still carry.
type writer struct {
	codec *goavro.Codec
	bound *blockBound
}

// SchemaID returns the wire id of a schema name.
func (c *Codec) SchemaID(name string) int { return c.ids[name] }

func (c *Codec) encode(name string, native map[string]any) ([]byte, error) {
	b, err := c.header.AppendEncode(make([]byte, 0, 256), c.ids[name], nil)
	if err != nil {
		return nil, err
	}
	b, err = c.codecs[name].BinaryFromNative(b, native)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", name, err)
	}
	return b, nil
}

// ErrWrongSchema is returned when a record carries another schema's id.
var ErrWrongSchema = errors.New("record has another schema")

func (c *Codec) decode(name string, b []byte) (map[string]any, error) {
	id, body, err := c.header.DecodeID(b)
	if err != nil {
		return nil, fmt.Errorf("decode %s: wire header: %w", name, err)
	}
	if got, ok := c.names[id]; !ok || got != name {
		return nil, fmt.Errorf("decode %s: schema id %d (%q): %w", name, id, got, ErrWrongSchema)
	}
	codec, bound := c.codecs[name], c.bounds[name]
	if w, ok := c.writers[id]; ok {
		codec, bound = w.codec, w.bound
	}
	if err := bound.check(body); err != nil {
		return nil, fmt.Errorf("decode %s: %w", name, err)
	}
	v, rest, err := codec.NativeFromBinary(body)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", name, err)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("decode %s: %d trailing bytes", name, len(rest))
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("decode %s: not a record", name)
	}
	return m, nil
}

// EncodeChange encodes a ContactChange.
func (c *Codec) EncodeChange(ch contact.Change) ([]byte, error) {
	return c.encode(schemas.ContactChange, changeToNative(ch))
}

// DecodeChange decodes a ContactChange.
func (c *Codec) DecodeChange(b []byte) (contact.Change, error) {
	m, err := c.decode(schemas.ContactChange, b)
	if err != nil {
		return contact.Change{}, err
	}
	return changeFromNative(m)
}

// EncodeMatched encodes a MatchedChange.
func (c *Codec) EncodeMatched(m contact.Matched) ([]byte, error) {
	return c.encode(schemas.MatchedChange, map[string]any{
		"change":       changeToNative(m.Change),
		"person_id":    m.Match.PersonID,
		"decision":     string(m.Match.Decision),
		"score":        m.Match.Score,
		"explanation":  m.Match.Explanation,
		"candidates":   stringsToNative(m.Match.Candidates),
		"links":        mapToNative(m.Links),
		"household_id": optional(m.Match.HouseholdID),
	})
}

// DecodeMatched decodes a MatchedChange.
func (c *Codec) DecodeMatched(b []byte) (contact.Matched, error) {
	n, err := c.decode(schemas.MatchedChange, b)
	if err != nil {
		return contact.Matched{}, err
	}
	r := reader{m: n}
	ch, err := changeFromNative(r.record("change"))
	if err != nil {
		return contact.Matched{}, err
	}
	out := contact.Matched{
		Change: ch,
		Match: contact.Match{
			PersonID:    r.str("person_id"),
			Decision:    contact.Decision(r.str("decision")),
			Score:       r.float("score"),
			Explanation: r.str("explanation"),
			Candidates:  r.strs("candidates"),
			HouseholdID: r.optStr("household_id"), // absent in records written before it: none
		},
		Links: r.strMap("links"),
	}
	return out, r.err
}

// EncodeSink encodes a SinkRecord, straight to Avro's binary form (as
// EncodeAudit; sinkNative through goavro gives the same record), with map
// entries sorted by key, so equal records are equal bytes.
func (c *Codec) EncodeSink(s contact.SinkRecord) ([]byte, error) {
	b, err := c.header.AppendEncode(make([]byte, 0, 256), c.ids[schemas.SinkRecord], nil)
	if err != nil {
		return nil, err
	}
	b = avroString(b, s.EventID)
	b = avroString(b, s.CausationID)
	b = avroString(b, s.PersonID)
	b = avroString(b, s.TargetSystem)
	b = avroString(b, string(s.Entity))
	b = avroString(b, string(s.Op))
	b = avroOptionalString(b, s.TargetRecordID)
	b = avroOptionalString(b, s.ReferenceSource)
	b = avroStringMap(b, s.Set)
	b = avroArray(b, s.Clear, func(b []byte, f contact.Field) []byte { return avroString(b, string(f)) })
	if g := s.Gift; g == nil {
		b = avroLong(b, 0) // union branch null
	} else {
		b = avroLong(b, 1)
		b = avroString(b, g.GiftID)
		b = avroLong(b, g.AmountMinor)
		b = avroString(b, g.Currency)
		b = avroTimestampMillis(b, g.ReceivedAt)
		b = avroOptionalString(b, g.Campaign)
		b = avroOptionalString(b, g.Fund)
		b = avroOptionalString(b, g.PaymentMethod)
	}
	b = avroStringMap(b, s.Links)
	b = avroTimestampMillis(b, s.SourceTime)
	b = avroString(b, s.Reason)
	return avroOptionalString(b, s.HouseholdID), nil
}

// sinkNative is a SinkRecord as goavro's native form.
func sinkNative(s contact.SinkRecord) map[string]any {
	set := make(map[string]any, len(s.Set))
	for f, v := range s.Set {
		set[string(f)] = v
	}
	return map[string]any{
		"event_id":         s.EventID,
		"causation_id":     s.CausationID,
		"person_id":        s.PersonID,
		"target_system":    s.TargetSystem,
		"entity":           string(s.Entity),
		"op":               string(s.Op),
		"target_record_id": optional(s.TargetRecordID),
		"reference_source": optional(s.ReferenceSource),
		"set":              set,
		"clear":            fieldsToNative(s.Clear),
		"gift":             giftToNative(s.Gift),
		"links":            mapToNative(s.Links),
		"source_ts":        s.SourceTime,
		"reason":           s.Reason,
		"household_id":     optional(s.HouseholdID),
	}
}

// DecodeSink decodes a SinkRecord.
func (c *Codec) DecodeSink(b []byte) (contact.SinkRecord, error) {
	n, err := c.decode(schemas.SinkRecord, b)
	if err != nil {
		return contact.SinkRecord{}, err
	}
	r := reader{m: n}
	s := contact.SinkRecord{
		EventID:         r.str("event_id"),
		CausationID:     r.str("causation_id"),
		PersonID:        r.str("person_id"),
		TargetSystem:    r.str("target_system"),
		Entity:          contact.Entity(r.str("entity")),
		Op:              contact.SinkOp(r.str("op")),
		TargetRecordID:  r.optStr("target_record_id"),
		ReferenceSource: r.optStr("reference_source"),
		Clear:           toFields(r.strs("clear")),
		Gift:            r.gift("gift"),
		Links:           r.strMap("links"),
		SourceTime:      r.time("source_ts"),
		Reason:          r.str("reason"),
		HouseholdID:     r.optStr("household_id"), // absent in records written before it: none
	}
	if set := r.strMap("set"); len(set) > 0 {
		s.Set = make(contact.Values, len(set))
		for k, v := range set {
			s.Set[contact.Field(k)] = v
		}
	}
	return s, r.err
}

// EncodeKickOut encodes a KickOut.
func (c *Codec) EncodeKickOut(k contact.KickOut) ([]byte, error) {
	headers := make([]any, len(k.Headers))
	for i, h := range k.Headers {
		headers[i] = map[string]any{"key": h.Key, "value": nonNilBytes(h.Value)}
	}
	return c.encode(schemas.KickOut, map[string]any{
		"id":                k.ID,
		"reason":            k.Reason,
		"stage":             k.Stage,
		"error":             k.Error,
		"topic":             k.Topic,
		"partition":         k.Partition,
		"offset":            k.Offset,
		"key":               optionalBytes(k.Key),
		"value":             optionalBytes(k.Value),
		"headers":           headers,
		"event_id":          optional(k.EventID),
		"person_id":         optional(k.PersonID),
		"explanation":       optional(k.Explanation),
		"first_seen":        k.FirstSeen,
		"last_seen":         k.LastSeen,
		"replay_count":      int32(k.ReplayCount),
		"original_event_id": optional(k.OriginalEventID),
		"value_size":        map[string]any{"long": k.ValueSize},
		"value_sha256":      optional(k.ValueSHA256),
		"truncated":         k.Truncated,
	})
}

// DecodeKickOut decodes a KickOut.
func (c *Codec) DecodeKickOut(b []byte) (contact.KickOut, error) {
	n, err := c.decode(schemas.KickOut, b)
	if err != nil {
		return contact.KickOut{}, err
	}
	r := reader{m: n}
	k := contact.KickOut{
		ID:              r.str("id"),
		Reason:          r.str("reason"),
		Stage:           r.str("stage"),
		Error:           r.str("error"),
		Topic:           r.str("topic"),
		Partition:       int32(r.int64("partition")),
		Offset:          r.int64("offset"),
		Key:             r.optBytes("key"),
		Value:           r.optBytes("value"),
		EventID:         r.optStr("event_id"),
		PersonID:        r.optStr("person_id"),
		Explanation:     r.optStr("explanation"),
		FirstSeen:       r.time("first_seen"),
		LastSeen:        r.time("last_seen"),
		ReplayCount:     int(r.int64("replay_count")),
		OriginalEventID: r.optStr("original_event_id"),
		ValueSHA256:     r.optStr("value_sha256"),
	}
	// Absent in records written before they existed: such a value is whole.
	k.ValueSize = int64(len(k.Value))
	if n, ok := r.union("value_size").(int64); ok {
		k.ValueSize = n
	}
	k.Truncated, _ = r.m["truncated"].(bool)
	for _, h := range r.list("headers") {
		hr := reader{m: asRecord(h)}
		k.Headers = append(k.Headers, contact.Header{Key: hr.str("key"), Value: hr.bytes("value")})
		if hr.err != nil && r.err == nil {
			r.err = hr.err
		}
	}
	return k, r.err
}

// EncodeReview encodes a ReviewItem.
func (c *Codec) EncodeReview(it contact.ReviewItem) ([]byte, error) {
	return c.encode(schemas.ReviewItem, map[string]any{
		"id":            it.ID,
		"person_id":     it.PersonID,
		"target_system": it.TargetSystem,
		"reason":        it.Reason,
		"proposed":      valuesToMap(it.Proposed),
		"current":       valuesToMap(it.Current),
		"change":        changeToNative(it.Change),
		"created":       it.Created,
	})
}

// DecodeReview decodes a ReviewItem.
func (c *Codec) DecodeReview(b []byte) (contact.ReviewItem, error) {
	n, err := c.decode(schemas.ReviewItem, b)
	if err != nil {
		return contact.ReviewItem{}, err
	}
	r := reader{m: n}
	ch, err := changeFromNative(r.record("change"))
	if err != nil {
		return contact.ReviewItem{}, err
	}
	it := contact.ReviewItem{
		ID:           r.str("id"),
		PersonID:     r.str("person_id"),
		TargetSystem: r.str("target_system"),
		Reason:       r.str("reason"),
		Proposed:     mapToValues(r.strMap("proposed")),
		Current:      mapToValues(r.strMap("current")),
		Change:       ch,
		Created:      r.time("created"),
	}
	return it, r.err
}

func changeToNative(ch contact.Change) map[string]any {
	values := make(map[string]any, len(contact.Fields)+1)
	for _, f := range contact.Fields {
		v, ok := ch.Values[f.Name]
		switch {
		case !ok:
			values[string(f.Name)] = nil
		case f.Kind == contact.Bool:
			values[string(f.Name)] = goavro.Union("boolean", v == "true")
		default:
			values[string(f.Name)] = goavro.Union("string", v)
		}
	}
	// Every other value is a custom field's, already in its canonical
	// string form (ingest validated it against the declared fields).
	custom := map[string]any{}
	for f, v := range ch.Values {
		if _, builtin := contact.Lookup(f); !builtin {
			custom[string(f)] = v
		}
	}
	values["custom"] = custom
	return map[string]any{
		"event_id":         ch.EventID,
		"source_system":    ch.SourceSystem,
		"source_record_id": ch.SourceRecordID,
		"reference_source": optional(ch.ReferenceSource),
		"origin":           string(ch.Origin),
		"op":               string(ch.Op),
		"source_ts":        ch.SourceTime,
		"values":           values,
		"cleared":          fieldsToNative(ch.Cleared),
		"gift":             giftToNative(ch.Gift),
	}
}

func changeFromNative(m map[string]any) (contact.Change, error) {
	r := reader{m: m}
	ch := contact.Change{
		EventID:         r.str("event_id"),
		SourceSystem:    r.str("source_system"),
		SourceRecordID:  r.str("source_record_id"),
		ReferenceSource: r.optStr("reference_source"),
		Origin:          contact.Origin(r.str("origin")),
		Op:              contact.Op(r.str("op")),
		SourceTime:      r.time("source_ts"),
		Cleared:         toFields(r.strs("cleared")),
		Gift:            r.gift("gift"),
	}
	values := r.record("values")
	for _, f := range contact.Fields {
		u, _ := values[string(f.Name)].(map[string]any)
		for _, v := range u { // a union holds one branch, or is nil
			switch x := v.(type) {
			case string:
				if ch.Values == nil {
					ch.Values = contact.Values{}
				}
				ch.Values[f.Name] = x
			case bool:
				if ch.Values == nil {
					ch.Values = contact.Values{}
				}
				ch.Values[f.Name] = fmt.Sprint(x)
			}
		}
	}
	// Records written before custom fields existed have no map: none.
	custom, _ := values["custom"].(map[string]any)
	for k, v := range custom {
		if s, ok := v.(string); ok {
			if ch.Values == nil {
				ch.Values = contact.Values{}
			}
			ch.Values[contact.Field(k)] = s
		}
	}
	return ch, r.err
}

func giftToNative(g *contact.Gift) any {
	if g == nil {
		return nil
	}
	return goavro.Union(schemas.Namespace+"."+schemas.GiftEvent, map[string]any{
		"gift_id":        g.GiftID,
		"amount_minor":   g.AmountMinor,
		"currency":       g.Currency,
		"received_at":    g.ReceivedAt,
		"campaign":       optional(g.Campaign),
		"fund":           optional(g.Fund),
		"payment_method": optional(g.PaymentMethod),
	})
}

func optional(s string) any {
	if s == "" {
		return nil
	}
	return goavro.Union("string", s)
}

func optionalBytes(b []byte) any {
	if b == nil {
		return nil
	}
	return goavro.Union("bytes", b)
}

func nonNilBytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func stringsToNative(xs []string) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

func fieldsToNative(fs []contact.Field) []any {
	out := make([]any, len(fs))
	for i, f := range fs {
		out[i] = string(f)
	}
	return out
}

func mapToNative(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func valuesToMap(v contact.Values) map[string]any {
	out := make(map[string]any, len(v))
	for k, x := range v {
		out[string(k)] = x
	}
	return out
}

func mapToValues(m map[string]string) contact.Values {
	if len(m) == 0 {
		return nil
	}
	out := make(contact.Values, len(m))
	for k, v := range m {
		out[contact.Field(k)] = v
	}
	return out
}

func toFields(xs []string) []contact.Field {
	if len(xs) == 0 {
		return nil
	}
	out := make([]contact.Field, len(xs))
	for i, x := range xs {
		out[i] = contact.Field(x)
	}
	return out
}

func asRecord(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// reader reads a decoded Avro record, remembering the first type mismatch
// (which only a schema/code disagreement can cause).
type reader struct {
	m   map[string]any
	err error
}

func (r *reader) fail(field string, v any) {
	if r.err == nil {
		r.err = fmt.Errorf("avro field %s: unexpected %T", field, v)
	}
}

func (r *reader) str(f string) string {
	s, ok := r.m[f].(string)
	if !ok && r.m[f] != nil {
		r.fail(f, r.m[f])
	}
	return s
}

func (r *reader) union(f string) any {
	v := r.m[f]
	if v == nil {
		return nil
	}
	u, ok := v.(map[string]any)
	if !ok {
		r.fail(f, v)
		return nil
	}
	for _, x := range u {
		return x
	}
	return nil
}

func (r *reader) optStr(f string) string {
	s, _ := r.union(f).(string)
	return s
}

func (r *reader) optBytes(f string) []byte {
	b, _ := r.union(f).([]byte)
	return b
}

func (r *reader) bytes(f string) []byte {
	b, _ := r.m[f].([]byte)
	return b
}

func (r *reader) float(f string) float64 {
	x, _ := r.m[f].(float64)
	return x
}

func (r *reader) int64(f string) int64 {
	switch x := r.m[f].(type) {
	case int32:
		return int64(x)
	case int64:
		return x
	}
	r.fail(f, r.m[f])
	return 0
}

func (r *reader) time(f string) time.Time {
	t, ok := r.m[f].(time.Time)
	if !ok {
		r.fail(f, r.m[f])
	}
	return t.UTC()
}

func (r *reader) list(f string) []any {
	xs, _ := r.m[f].([]any)
	return xs
}

func (r *reader) strs(f string) []string {
	xs := r.list(f)
	if len(xs) == 0 {
		return nil
	}
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i], _ = x.(string)
	}
	return out
}

func (r *reader) strMap(f string) map[string]string {
	m, _ := r.m[f].(map[string]any)
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k], _ = v.(string)
	}
	return out
}

func (r *reader) record(f string) map[string]any {
	m, ok := r.m[f].(map[string]any)
	if !ok {
		r.fail(f, r.m[f])
	}
	return m
}

func (r *reader) gift(f string) *contact.Gift {
	g, ok := r.union(f).(map[string]any)
	if !ok {
		return nil
	}
	gr := reader{m: g}
	out := &contact.Gift{
		GiftID:        gr.str("gift_id"),
		AmountMinor:   gr.int64("amount_minor"),
		Currency:      gr.str("currency"),
		ReceivedAt:    gr.time("received_at"),
		Campaign:      gr.optStr("campaign"),
		Fund:          gr.optStr("fund"),
		PaymentMethod: gr.optStr("payment_method"),
	}
	if gr.err != nil && r.err == nil {
		r.err = gr.err
	}
	return out
}
