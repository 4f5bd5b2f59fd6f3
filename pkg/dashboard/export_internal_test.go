package dashboard

// ExportKickOutsPaged is exportKickOuts with a small page and cap, so the
// external tests can page and cut a small queue.
var ExportKickOutsPaged = exportKickOuts
