package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/contactsync/contactsync/pkg/review"
)

// The handlers are thin: parse, call the Service, write JSON.

func (s *Server) handleMe(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"who": who(r), "max_export_kickouts": MaxExportKickOuts,
		"person_pages": s.people != nil})
}

func (s *Server) handleSummary(w http.ResponseWriter, r *http.Request) {
	from, err := parseTimeBound(r.URL.Query().Get("from"), false)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	to, err := parseTimeBound(r.URL.Query().Get("to"), true)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	sum, err := s.svc.Summary(r.Context(), from, to)
	s.reply(w, r, sum, err)
}

func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	f, err := filterFromQuery(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	res, err := s.svc.List(r.Context(), f)
	s.reply(w, r, res, err)
}

func (s *Server) handleShow(w http.ResponseWriter, r *http.Request) {
	d, err := s.svc.Show(r.Context(), r.PathValue("id"))
	s.reply(w, r, d, err)
}

// replayRequest is the body of a replay: an edited payload, or nothing to
// replay the record as it is.
type replayRequest struct {
	Payload *string `json:"payload"`
}

func (s *Server) handleReplay(w http.ResponseWriter, r *http.Request) {
	var req replayRequest
	if !readJSON(w, r, &req) {
		return
	}
	res, err := s.svc.Replay(r.Context(), r.PathValue("id"), who(r), req.Payload)
	s.reply(w, r, res, err)
}

// reasonRequest carries a person's reason for a decision.
type reasonRequest struct {
	Why string `json:"why"`
}

func (s *Server) handleResolve(w http.ResponseWriter, r *http.Request) {
	var req reasonRequest
	if !readJSON(w, r, &req) {
		return
	}
	err := s.svc.Resolve(r.Context(), r.PathValue("id"), who(r), req.Why)
	s.reply(w, r, map[string]string{"id": r.PathValue("id"), "status": review.KickOutResolved}, err)
}

// bulkRequest selects kick-outs to replay: ids, or a filter over the open
// ones. DryRun only counts them.
type bulkRequest struct {
	IDs    []string `json:"ids"`
	Reason string   `json:"reason"`
	Stage  string   `json:"stage"`
	System string   `json:"system"`
	Query  string   `json:"q"`
	From   string   `json:"from"`
	To     string   `json:"to"`
	DryRun bool     `json:"dry_run"`
}

func (b bulkRequest) selection() (review.Selection, error) {
	f := review.Filter{Reason: b.Reason, Stage: b.Stage, System: b.System, Query: b.Query}
	var err error
	if f.From, err = parseTimeBound(b.From, false); err != nil {
		return review.Selection{}, err
	}
	if f.To, err = parseTimeBound(b.To, true); err != nil {
		return review.Selection{}, err
	}
	return review.Selection{IDs: b.IDs, Filter: f}, nil
}

func (s *Server) handleReplayMany(w http.ResponseWriter, r *http.Request) {
	var req bulkRequest
	if !readJSON(w, r, &req) {
		return
	}
	sel, err := req.selection()
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	res, err := s.svc.ReplayMany(r.Context(), sel, who(r), req.DryRun)
	s.reply(w, r, res, err)
}

func (s *Server) handleReviews(w http.ResponseWriter, r *http.Request) {
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	items, err := s.svc.Reviews(r.Context(), r.URL.Query().Get("status"), limit)
	s.reply(w, r, map[string]any{"items": items}, err)
}

// handleDecision serves approve and reject: both take a reason and are
// audited with who decided.
func (s *Server) handleDecision(decide func(ctx context.Context, id, who, why string) (review.ReviewView, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req reasonRequest
		if !readJSON(w, r, &req) {
			return
		}
		v, err := decide(r.Context(), r.PathValue("id"), who(r), req.Why)
		s.reply(w, r, v, err)
	}
}

func (s *Server) handleAudit(w http.ResponseWriter, r *http.Request) {
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	entries, err := s.svc.Audit(r.Context(), limit)
	s.reply(w, r, map[string]any{"items": entries}, err)
}

// reply writes v, or the error with the status it maps to. Only client
// errors show their message; a failure is logged and reported generically.
func (s *Server) reply(w http.ResponseWriter, r *http.Request, v any, err error) {
	if err == nil {
		writeJSON(w, http.StatusOK, v)
		return
	}
	status := statusOf(err)
	if status >= 500 {
		s.log.Error("dashboard request failed", zap.String("method", r.Method), zap.String("path", r.URL.Path),
			zap.String("who", who(r)), zap.Error(err))
		writeError(w, status, "the request failed; the server log has the details")
		return
	}
	writeError(w, status, err.Error())
}

func statusOf(err error) int {
	switch {
	case errors.Is(err, review.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, review.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, review.ErrConflict), errors.Is(err, review.ErrWrongStatus), errors.Is(err, review.ErrBusy):
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}

// maxBody bounds a request body: an edited record is at most what Kafka
// carries by default.
const maxBody = 1 << 20

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	// An empty body is allowed: it means "no options".
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, "request body: "+err.Error())
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// filterFromQuery reads the queue filters of a list request.
func filterFromQuery(q url.Values) (review.Filter, error) {
	f := review.Filter{Status: q.Get("status"), Reason: q.Get("reason"), Stage: q.Get("stage"),
		System: q.Get("system"), Query: strings.TrimSpace(q.Get("q"))}
	if f.Status != "" && !slices.Contains(review.KickOutStatuses, f.Status) {
		return f, fmt.Errorf("status %q is not one of %v", f.Status, review.KickOutStatuses)
	}
	var err error
	if f.From, err = parseTimeBound(q.Get("from"), false); err != nil {
		return f, err
	}
	if f.To, err = parseTimeBound(q.Get("to"), true); err != nil {
		return f, err
	}
	for name, dst := range map[string]*int{"offset": &f.Offset, "limit": &f.Limit} {
		if v := q.Get(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return f, fmt.Errorf("%s %q is not a non-negative number", name, v)
			}
			*dst = n
		}
	}
	return f, nil
}

// parseTimeBound reads a time bound: RFC 3339, or a date (YYYY-MM-DD, UTC).
// A date as the end of a range includes that whole day.
func parseTimeBound(s string, end bool) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := time.Parse("2006-01-02", s)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q is neither a date (2006-01-02) nor RFC 3339", s)
	}
	if end {
		d = d.AddDate(0, 0, 1)
	}
	return d, nil
}
