// Package config is eidp's one configuration struct and how it is loaded:
// built-in defaults that run on a laptop, then an optional TOML file, then
// EIDP_* environment variables, then command-line flags, each overriding the
// one before. Every setting is declared once in a table (name, environment
// variable, flag, default, help), so the help text, the environment and the
// file can never disagree. Validate rejects unknown keys and impossible
// combinations with a message naming the setting and what to change.
package config
