package web

import "embed"

// Files holds the pages under static/. Package server serves static/ at the
// root of the node, so static/index.html is GET /.
//
//go:embed static
var Files embed.FS
