package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/contactsync/contactsync/pkg/app"
	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/decode"
	"github.com/contactsync/contactsync/pkg/kafkaops"
)

// offlineCreates plays the offline system taking in the sync's creates:
// for each contact create on its sink topic, the CDC row of the contact it
// makes (written by contactsync, with a new offline id). The pipeline
// links the row to the person it came from, and the person's online record
// can then be given the offline id.
func offlineCreates(ctx context.Context, a *app.App, brokers []string, sinkTopic string) ([]Input, error) {
	recs, err := readSinks(ctx, a, brokers, sinkTopic)
	if err != nil {
		return nil, err
	}
	column := map[contact.Field]string{}
	for col, f := range decode.DefaultColumns() {
		column[f] = col
	}
	var out []Input
	at := time.Now().UTC()
	for _, s := range recs {
		if s.Entity != contact.EntityContact || s.Op != contact.SinkCreate {
			continue
		}
		id := fmt.Sprintf("OFF-%05d", 9000+len(out))
		row := map[string]any{"id": id, "reference_source": s.ReferenceSource,
			"do_not_email": false, "do_not_mail": false, "do_not_phone": false}
		for f, v := range s.Set {
			col, ok := column[f]
			if !ok {
				continue
			}
			if info, _ := contact.Lookup(f); info.Kind == contact.Bool {
				row[col] = v == "true"
			} else {
				row[col] = v
			}
		}
		in := debeziumRow("c", id, nil, row, at.Add(time.Duration(len(out))*time.Millisecond), "contactsync")
		in.Note = "the offline system's create of " + s.PersonID
		out = append(out, in)
	}
	return out, nil
}

// readSinks decodes the records of a sink topic.
func readSinks(ctx context.Context, a *app.App, brokers []string, topic string) ([]contact.SinkRecord, error) {
	recs, err := kafkaops.ReadTopic(ctx, brokers, topic)
	if err != nil {
		return nil, err
	}
	out := make([]contact.SinkRecord, 0, len(recs))
	for _, r := range recs {
		s, err := a.Codec().DecodeSink(r.Value)
		if err != nil {
			return nil, fmt.Errorf("decode sink record of %s: %w", topic, err)
		}
		out = append(out, s)
	}
	return out, nil
}
