package migrations

import "embed"

// FS holds the migrations of both engines: postgres/NNNN_name.sql and
// sqlite/NNNN_name.sql.
//
//go:embed postgres/*.sql sqlite/*.sql
var FS embed.FS
