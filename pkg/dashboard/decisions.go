package dashboard

import (
	"net/http"

	"github.com/contactsync/contactsync/pkg/review"
)

// Deciding what the matcher could not: a match.ambiguous kick-out's record
// beside its candidates, and a person's decision on it.

func (s *Server) decisionRoutes(api *http.ServeMux) {
	api.HandleFunc("GET /api/kickouts/{id}/candidates", s.handleCandidates)
	api.HandleFunc("POST /api/kickouts/{id}/decide", s.handleDecide)
	api.HandleFunc("GET /api/persons/{id}/records", s.handlePersonRecords)
	api.HandleFunc("POST /api/persons/{id}/split", s.handleSplit)
}

func (s *Server) handlePersonRecords(w http.ResponseWriter, r *http.Request) {
	v, err := s.svc.PersonRecords(r.Context(), r.PathValue("id"))
	s.reply(w, r, map[string]any{"person_id": r.PathValue("id"), "records": v}, err)
}

func (s *Server) handleSplit(w http.ResponseWriter, r *http.Request) {
	var req review.SplitRequest
	if !readJSON(w, r, &req) {
		return
	}
	res, err := s.svc.Split(r.Context(), r.PathValue("id"), who(r), req)
	s.reply(w, r, res, err)
}

func (s *Server) handleCandidates(w http.ResponseWriter, r *http.Request) {
	v, err := s.svc.Candidates(r.Context(), r.PathValue("id"))
	s.reply(w, r, v, err)
}

func (s *Server) handleDecide(w http.ResponseWriter, r *http.Request) {
	var req review.DecideRequest
	if !readJSON(w, r, &req) {
		return
	}
	res, err := s.svc.Decide(r.Context(), r.PathValue("id"), who(r), req)
	s.reply(w, r, res, err)
}
