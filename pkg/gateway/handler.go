// Package gateway is contactsync's webhook gateway: it authenticates the
// webhooks of configured online sources (HMAC-SHA256 over timestamp and
// body), binds each source to its system and topic, and acknowledges an
// event only once it is durably in Kafka.
package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
	"golang.org/x/time/rate"
)

// Publisher stores one event durably; nil means it is in Kafka.
type Publisher interface {
	Publish(ctx context.Context, r *kgo.Record) error
}

// Record headers the gateway adds (informational: ingest decides trust
// from the topic, not from headers).
const (
	HeaderRecordSource  = "cs-gateway-source"
	HeaderRecordEventID = "cs-event-id"
	// HeaderRecordProblem says why an authenticated event went to Kafka as
	// it came (a Stripe event the mapping could not read): ingest kicks it
	// out with its raw bytes and this header.
	HeaderRecordProblem = "cs-gateway-problem"
)

// HandlerOptions configures a Handler. Zero durations and sizes take the
// defaults of ConfigFromEnv.
type HandlerOptions struct {
	Sources        []Source
	Publisher      Publisher
	Deduper        Deduper // optional
	Log            *zap.Logger
	Metrics        *Metrics
	MaxBody        int64
	Tolerance      time.Duration
	ProduceTimeout time.Duration
	RetryAfter     time.Duration
	Now            func() time.Time
}

// Handler serves POST /webhooks/<source>.
type Handler struct {
	opts    HandlerOptions
	sources map[string]*boundSource
	mux     *http.ServeMux
}

type boundSource struct {
	Source
	limiter *rate.Limiter
}

// NewHandler checks opts and returns the handler.
func NewHandler(opts HandlerOptions) (*Handler, error) {
	if opts.Publisher == nil || opts.Log == nil || opts.Metrics == nil {
		return nil, errors.New("gateway handler: publisher, log and metrics are required")
	}
	if len(opts.Sources) == 0 {
		return nil, errors.New("gateway handler: no sources")
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = 256 << 10
	}
	if opts.Tolerance <= 0 {
		opts.Tolerance = 5 * time.Minute
	}
	if opts.ProduceTimeout <= 0 {
		opts.ProduceTimeout = 10 * time.Second
	}
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = 30 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	h := &Handler{opts: opts, sources: map[string]*boundSource{}, mux: http.NewServeMux()}
	for _, s := range opts.Sources {
		if len(s.secrets) == 0 {
			return nil, fmt.Errorf("gateway handler: source %s has no secrets (use LoadSources or NewSource)", s.Name)
		}
		h.sources[s.Name] = &boundSource{Source: s, limiter: rate.NewLimiter(rate.Limit(s.Rate), s.Burst)}
	}
	h.mux.HandleFunc("/webhooks/{source}", h.serveWebhook)
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.reject(w, unknownSource, rejection{http.StatusNotFound, "not_found", "webhooks are posted to /webhooks/<source>"})
	})
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// rejection is a refused request: its status and a stable code. The
// message never quotes the body.
type rejection struct {
	status        int
	code, message string
}

func (h *Handler) serveWebhook(w http.ResponseWriter, r *http.Request) {
	src, ok := h.sources[r.PathValue("source")]
	if !ok {
		h.reject(w, unknownSource, rejection{http.StatusNotFound, "unknown_source", "no webhook source of that name is configured"})
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.reject(w, src.Name, rejection{http.StatusMethodNotAllowed, "method_not_allowed", "webhooks are POSTed"})
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		h.reject(w, src.Name, rejection{http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type must be application/json"})
		return
	}
	body, rej := h.readBody(w, r)
	if rej != nil {
		h.reject(w, src.Name, *rej)
		return
	}
	if src.Kind == KindStripe {
		h.serveStripe(w, r, src, body)
		return
	}
	err := Verify(src.secrets, r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderSignature), body, h.opts.Now(), h.opts.Tolerance)
	if !h.verified(w, r, src, err, signatureErrorMessage) {
		return
	}
	if !h.allow(w, src) {
		return
	}
	ev, rej := parseEvent(body, src)
	if rej != nil {
		h.opts.Log.Info("webhook rejected", zap.String("source", src.Name), zap.String("reason", rej.code))
		h.reject(w, src.Name, *rej)
		return
	}
	h.accept(w, r, src, ev, body)
}

// allow takes one request from the source's rate limit, or answers 429.
// It is called after authentication, so that forged requests cannot use up
// a source's budget.
func (h *Handler) allow(w http.ResponseWriter, src *boundSource) bool {
	res := src.limiter.ReserveN(h.opts.Now(), 1)
	if res.OK() && res.DelayFrom(h.opts.Now()) == 0 {
		return true
	}
	wait := time.Second
	if res.OK() {
		wait = res.DelayFrom(h.opts.Now())
		res.CancelAt(h.opts.Now())
	}
	w.Header().Set("Retry-After", retryAfterSeconds(wait))
	h.reject(w, src.Name, rejection{http.StatusTooManyRequests, "rate_limited", "too many requests for this source"})
	return false
}

// readBody reads at most MaxBody bytes; a larger body is a 413 whether or
// not it announced its length.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *rejection) {
	tooLarge := &rejection{http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("the body exceeds %d bytes", h.opts.MaxBody)}
	if r.ContentLength > h.opts.MaxBody {
		return nil, tooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.MaxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, tooLarge
		}
		return nil, &rejection{http.StatusBadRequest, "body_unreadable", "the body could not be read"}
	}
	return body, nil
}

func (h *Handler) accept(w http.ResponseWriter, r *http.Request, src *boundSource, ev event, body []byte) {
	// Kafka's answer decides the response, so the produce is not cut short
	// when the client hangs up; it is bounded by the produce timeout.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), h.opts.ProduceTimeout)
	defer cancel()
	log := h.opts.Log.With(zap.String("source", src.Name), zap.String("event_id", ev.EventID))
	if h.opts.Deduper != nil && ev.EventID != "" {
		seen, err := h.opts.Deduper.Seen(ctx, src.System, ev.EventID)
		switch {
		case err != nil:
			// Produce anyway: the router absorbs a duplicate, while a
			// dropped event would be lost.
			log.Warn("dedupe cache unavailable; producing", zap.Error(err))
		case seen:
			h.opts.Metrics.Duplicates.WithLabelValues(src.Name).Inc()
			h.respond(w, src.Name, http.StatusOK, map[string]string{"status": "duplicate"})
			return
		}
	}
	rec := &kgo.Record{
		Topic: src.Topic, Key: []byte(ev.key()), Value: body,
		Headers: []kgo.RecordHeader{{Key: HeaderRecordSource, Value: []byte(src.Name)}, {Key: HeaderRecordEventID, Value: []byte(ev.EventID)}},
	}
	if ev.Problem != "" {
		rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: HeaderRecordProblem, Value: []byte(ev.Problem)})
	}
	start := time.Now()
	err := h.opts.Publisher.Publish(ctx, rec)
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	h.opts.Metrics.ProduceSeconds.WithLabelValues(src.Name, outcome).Observe(time.Since(start).Seconds())
	if err != nil {
		log.Error("event not stored in Kafka; asking the sender to retry", zap.Error(err))
		w.Header().Set("Retry-After", retryAfterSeconds(h.opts.RetryAfter))
		h.respond(w, src.Name, http.StatusServiceUnavailable, errorBody{"kafka_unavailable", "the event could not be stored; retry later"})
		return
	}
	if h.opts.Deduper != nil && ev.EventID != "" {
		if err := h.opts.Deduper.Remember(ctx, src.System, ev.EventID); err != nil {
			log.Warn("dedupe cache not updated", zap.Error(err))
		}
	}
	h.respond(w, src.Name, http.StatusOK, map[string]string{"status": "accepted"})
}

type errorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

func (h *Handler) reject(w http.ResponseWriter, source string, rej rejection) {
	h.respond(w, source, rej.status, errorBody{rej.code, rej.message})
}

func (h *Handler) respond(w http.ResponseWriter, source string, status int, v any) {
	h.opts.Metrics.Requests.WithLabelValues(source, strconv.Itoa(status)).Inc()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// retryAfterSeconds formats d as whole seconds, at least 1.
func retryAfterSeconds(d time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(d.Seconds()))))
}

// verified reports whether a request passed its source's signature check
// (err from the scheme's Verify) and otherwise answers it: 401 with the
// reason's code and message (messages, the scheme's), or 500 for an error
// the scheme does not list, which a checked source cannot produce (never
// 2xx).
func (h *Handler) verified(w http.ResponseWriter, r *http.Request, src *boundSource, err error, messages map[error]string) bool {
	if err == nil {
		return true
	}
	msg, known := messages[err]
	if !known {
		h.opts.Log.Error("webhook verification failed", zap.String("source", src.Name), zap.String("kind", src.Kind), zap.Error(err))
		h.reject(w, src.Name, rejection{http.StatusInternalServerError, "internal", "verification failed"})
		return false
	}
	h.opts.Metrics.SignatureFailures.WithLabelValues(src.Name, err.Error()).Inc()
	h.opts.Log.Info("webhook rejected", zap.String("source", src.Name), zap.String("reason", err.Error()), zap.String("remote", r.RemoteAddr))
	h.reject(w, src.Name, rejection{http.StatusUnauthorized, err.Error(), msg})
	return false
}
