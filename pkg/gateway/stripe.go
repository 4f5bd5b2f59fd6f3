package gateway

import (
	"net/http"
	"regexp"

	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/stripe"
)

// serveStripe handles a webhook of a source of kind stripe: Stripe's
// signature, then Stripe's event mapped to the online event format
// (pkg/stripe), which is checked against the source's binding and stored
// like any other event. The event id is Stripe's, so a redelivery is
// recognised downstream (and by the dedupe cache).
func (h *Handler) serveStripe(w http.ResponseWriter, r *http.Request, src *boundSource, body []byte) {
	err := stripe.Verify(src.secrets, r.Header.Get(stripe.HeaderSignature), body, h.opts.Now(), h.opts.Tolerance)
	if !h.verified(w, r, src, err, stripe.Messages) {
		return
	}
	if !h.allow(w, src) {
		return
	}
	m, err := stripe.Map(body, stripe.Options{System: src.System})
	switch {
	case err != nil:
		// Stripe signed it, so it is kept: it goes to Kafka as it came, and
		// ingest kicks it out with its raw bytes and the reason, where an
		// operator sees it. Answering an error would only have Stripe
		// retry it for days.
		h.opts.Log.Warn("stripe event not mappable; stored for ingest to kick out", zap.String("source", src.Name),
			zap.String("event_id", m.EventID), zap.Error(err))
		h.accept(w, r, src, event{EventID: m.EventID, Problem: "stripe: " + err.Error()}, body)
		return
	case m.Ignored != "":
		h.opts.Metrics.Ignored.WithLabelValues(src.Name, metricType(m.StripeType)).Inc()
		h.opts.Log.Debug("stripe event ignored", zap.String("source", src.Name), zap.String("event_id", m.EventID),
			zap.String("type", m.StripeType), zap.String("why", m.Ignored))
		h.respond(w, src.Name, http.StatusOK, map[string]string{"status": "ignored"})
		return
	}
	ev, rej := parseEvent(m.Event, src)
	if rej != nil {
		h.opts.Log.Info("webhook rejected", zap.String("source", src.Name), zap.String("reason", rej.code))
		h.reject(w, src.Name, *rej)
		return
	}
	h.accept(w, r, src, ev, m.Event)
}

var stripeTypeRE = regexp.MustCompile(`^[a-z0-9_.]{1,64}$`)

// metricType bounds the type label to names shaped like Stripe's.
func metricType(t string) string {
	if stripeTypeRE.MatchString(t) {
		return t
	}
	return "other"
}
