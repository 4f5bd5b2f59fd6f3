package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/contactsync/contactsync/pkg/avrocodec"
	"github.com/contactsync/contactsync/pkg/baseline"
	"github.com/contactsync/contactsync/pkg/contact"
	"github.com/contactsync/contactsync/pkg/pipeline"
	"github.com/contactsync/contactsync/pkg/pipeline/ingest"
)

// KafkaSourcePrefix names a topic as a baseline source: kafka://TOPIC, or
// kafka:// alone for the side's own input topic (the offline CDC topic, the
// online events topic).
const KafkaSourcePrefix = "kafka://"

// kafkaSource reads the current contents of an input topic: every record
// key's latest value up to the end each partition had when the source was
// opened (read_committed: aborted transactions are not contents), decoded
// as the ingest stage decodes the topic. A tombstone or a delete event
// deletes its key. It reads the topic twice, streaming: first to learn
// where each key's latest record is (keys and positions only), then to
// hand out those records, partition by partition in offset order, so that
// a run (and a resumed run) sees them in the same order.
type kafkaSource struct {
	ctx    context.Context
	cfg    Config
	topic  string
	system string
	decode ingest.Decoder
	// ends and starts are each partition's offsets at opening.
	starts, ends map[int32]int64
	partitions   []int32
	latest       map[string]keyAt
	// The second pass: the partition being read, its client and what its
	// last poll returned.
	next    int
	cl      *kgo.Client
	reached int64 // the offset read up to in the current partition
	fetched []*kgo.Record
	pending []baseline.Record
	done    int64
	total   int64
}

type keyAt struct {
	partition int32
	offset    int64
}

// openKafkaSource opens spec (kafka://TOPIC) as the records of system,
// telling progress how far its first pass is.
func openKafkaSource(ctx context.Context, cfg Config, spec, system string, progress func(baseline.Progress)) (*kafkaSource, string, error) {
	topic := strings.TrimPrefix(spec, KafkaSourcePrefix)
	format, topicSystem, err := topicFormat(cfg, topic, system)
	if err != nil {
		return nil, "", err
	}
	if topic == "" {
		topic = topicOfSystem(cfg, system)
	}
	var codec *avrocodec.Codec
	if format == pipeline.FormatChange {
		if codec, err = newCodec(ctx, cfg); err != nil {
			return nil, "", err
		}
	}
	decoders, err := newDecoders(cfg, codec)
	if err != nil {
		return nil, "", err
	}
	s := &kafkaSource{ctx: ctx, cfg: cfg, topic: topic, system: system, decode: decoders[format], latest: map[string]keyAt{}}
	if topicSystem != "" && topicSystem != system {
		return nil, "", fmt.Errorf("topic %s holds %s records, not %s", topic, topicSystem, system)
	}
	if err := s.offsets(); err != nil {
		return nil, "", err
	}
	if err := s.learnLatest(progress); err != nil {
		return nil, "", err
	}
	// The fingerprint names the contents: a resumed run must read the same.
	var ends []string
	for _, p := range s.partitions {
		ends = append(ends, fmt.Sprintf("%d:%d-%d", p, s.starts[p], s.ends[p]))
	}
	return s, "kafka:" + topic + "@" + strings.Join(ends, ","), nil
}

// topicFormat is how the topology says topic is encoded, and the system
// its records belong to ("" for a topic of every system's changes).
func topicFormat(cfg Config, topic, system string) (format, topicSystem string, err error) {
	if topic == "" {
		topic = topicOfSystem(cfg, system)
		if topic == "" {
			return "", "", fmt.Errorf("%s alone names a system's input topic, and %s has none: name the topic", KafkaSourcePrefix, system)
		}
	}
	for _, s := range sourcesOf(cfg) {
		if s.Topic == topic {
			return s.Format, s.System, nil
		}
	}
	if topic == cfg.Topics.Changes {
		return pipeline.FormatChange, "", nil
	}
	var names []string
	for _, s := range sourcesOf(cfg) {
		names = append(names, s.Topic)
	}
	return "", "", fmt.Errorf("topic %q is not an input of the pipeline (%s) nor its changes topic (%s)", topic, strings.Join(names, ", "), cfg.Topics.Changes)
}

// topicOfSystem is the input topic of system, or "".
func topicOfSystem(cfg Config, system string) string {
	for _, s := range sourcesOf(cfg) {
		if s.System == system {
			return s.Topic
		}
	}
	return ""
}

func (s *kafkaSource) offsets() error {
	cl, err := KafkaClient(s.cfg)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	starts, err := adm.ListStartOffsets(s.ctx, s.topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return fmt.Errorf("kafka: start offsets of %s: %w", s.topic, err)
	}
	// The last stable offset: what read_committed can read now.
	ends, err := adm.ListCommittedOffsets(s.ctx, s.topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return fmt.Errorf("kafka: end offsets of %s: %w", s.topic, err)
	}
	if len(ends[s.topic]) == 0 {
		return fmt.Errorf("kafka: topic %s does not exist", s.topic)
	}
	s.starts, s.ends = map[int32]int64{}, map[int32]int64{}
	for p, o := range ends[s.topic] {
		start, _ := starts.Lookup(s.topic, p)
		s.starts[p], s.ends[p] = start.Offset, o.Offset
		if o.Offset > start.Offset {
			s.partitions = append(s.partitions, p)
			s.total += o.Offset - start.Offset
		}
	}
	slices.Sort(s.partitions)
	return nil
}

// consumer reads one partition from its start at opening.
func (s *kafkaSource) consumer(p int32) (*kgo.Client, error) {
	return KafkaClient(s.cfg,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{s.topic: {p: kgo.NewOffset().At(s.starts[p])}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Control records are kept so that a partition ending in a
		// transaction marker is seen to end.
		kgo.KeepControlRecords(),
	)
}

// poll returns the next records of cl's partition below end, nil at end.
func (s *kafkaSource) poll(cl *kgo.Client, p int32, reached *int64) ([]*kgo.Record, error) {
	for *reached < s.ends[p] {
		fetches := cl.PollFetches(s.ctx)
		if err := s.ctx.Err(); err != nil {
			return nil, fmt.Errorf("kafka: %w", err)
		}
		var ferr error
		fetches.EachError(func(_ string, _ int32, err error) { ferr = errors.Join(ferr, err) })
		if ferr != nil {
			return nil, fmt.Errorf("kafka: read %s/%d: %w", s.topic, p, ferr)
		}
		var out []*kgo.Record
		for _, r := range fetches.Records() {
			if r.Offset >= s.ends[p] {
				*reached = s.ends[p]
				break
			}
			*reached = r.Offset + 1
			if !r.Attrs.IsControl() {
				out = append(out, r)
			}
		}
		if len(out) > 0 {
			return out, nil
		}
	}
	return nil, nil
}

// learnLatest is the first pass: where each key's latest record is.
func (s *kafkaSource) learnLatest(progress func(baseline.Progress)) error {
	var read int64
	for _, p := range s.partitions {
		cl, err := s.consumer(p)
		if err != nil {
			return err
		}
		reached := s.starts[p]
		for {
			recs, err := s.poll(cl, p, &reached)
			if err != nil || recs == nil {
				cl.Close()
				if err != nil {
					return err
				}
				break
			}
			for _, r := range recs {
				if r.Key != nil {
					s.latest[string(r.Key)] = keyAt{partition: p, offset: r.Offset}
				}
			}
			read += int64(len(recs))
			if progress != nil {
				progress(baseline.Progress{Phase: "keys of " + s.topic, Records: read, Done: read, Total: s.total})
			}
		}
	}
	return nil
}

// Next implements baseline.Source.
func (s *kafkaSource) Next() (baseline.Record, error) {
	for len(s.pending) == 0 {
		if len(s.fetched) == 0 {
			if err := s.fetch(); err != nil {
				return baseline.Record{}, err
			}
			continue
		}
		r := s.fetched[0]
		s.fetched = s.fetched[1:]
		s.done++
		if r.Key != nil {
			if at := s.latest[string(r.Key)]; at.partition != r.Partition || at.offset != r.Offset {
				continue // a later record of its key follows
			}
		}
		if len(r.Value) == 0 {
			continue // a tombstone: the key's record was deleted
		}
		changes, err := s.decode(r)
		if err != nil {
			return baseline.Record{}, fmt.Errorf("%s/%d@%d: %w: %w", r.Topic, r.Partition, r.Offset, baseline.ErrBadRecord, err)
		}
		for _, c := range changes {
			if c.Op != contact.OpUpsert || (c.SourceSystem != "" && c.SourceSystem != s.system) {
				continue // a delete event, or another system's change
			}
			s.pending = append(s.pending, baseline.Record{ID: c.SourceRecordID, Values: c.Values,
				Changed: c.SourceTime.UTC(), ReferenceSource: c.ReferenceSource})
		}
	}
	rec := s.pending[0]
	s.pending = s.pending[1:]
	return rec, nil
}

func (s *kafkaSource) fetch() error {
	for {
		if s.cl == nil {
			if s.next >= len(s.partitions) {
				return io.EOF
			}
			cl, err := s.consumer(s.partitions[s.next])
			if err != nil {
				return err
			}
			s.cl, s.reached = cl, s.starts[s.partitions[s.next]]
		}
		recs, err := s.poll(s.cl, s.partitions[s.next], &s.reached)
		if err != nil {
			return err
		}
		if recs != nil {
			s.fetched = recs
			return nil
		}
		s.cl.Close()
		s.cl = nil
		s.next++
	}
}

// Progress implements baseline.Sizer: records of the second pass.
func (s *kafkaSource) Progress() (done, total int64) { return s.done, s.total }

func (s *kafkaSource) close() {
	if s.cl != nil {
		s.cl.Close()
	}
}
