// Command eidp is the one binary of the eID platform: `serve` (the default)
// runs the server; `migrate` applies database migrations; `keys` lists,
// creates and rotates role keys in the key backend; `version` prints the
// build. This package holds configuration and wiring only — every feature
// lives in its own package.
package main
