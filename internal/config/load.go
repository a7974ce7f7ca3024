package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
)

// ErrInvalid is wrapped by every configuration error.
var ErrInvalid = errors.New("invalid configuration")

// SettingError names the setting that is wrong and says what to change. Its
// message is one line, fit to print as the only output of a failed start.
type SettingError struct {
	Setting string // file key, e.g. "database_url"; empty for errors about the file itself
	Msg     string
	Err     error
}

func (e *SettingError) Error() string {
	name := e.Setting
	if s, ok := lookupSetting(e.Setting); ok {
		name = s.names()
	}
	msg := e.Msg
	if e.Err != nil {
		if msg != "" {
			msg += ": "
		}
		msg += e.Err.Error()
	}
	if name == "" {
		return msg
	}
	return "setting " + name + ": " + msg
}

func (e *SettingError) Unwrap() []error { return []error{ErrInvalid, e.Err} }

// ConfigFileEnv names the environment variable that points at a config file,
// like the --config flag.
const ConfigFileEnv = "EIDP_CONFIG"

// testEnvPrefix is reserved for the test suite: such variables are not
// settings and are not rejected as unknown.
const testEnvPrefix = "EIDP_TEST_"

// Loader reads a Config from defaults, a file, the environment and flags.
type Loader struct {
	flags      map[string]string // key → value given on the command line
	configFile string
}

// NewLoader returns a Loader; call RegisterFlags before parsing the flag set.
func NewLoader() *Loader { return &Loader{flags: map[string]string{}} }

// RegisterFlags adds --config and one flag per non-secret setting to fs.
func (l *Loader) RegisterFlags(fs *flag.FlagSet) {
	defaults := Defaults()
	fs.StringVar(&l.configFile, "config", "", "optional TOML config file (also "+ConfigFileEnv+"); keys are the setting names below")
	for _, s := range settings {
		if s.Secret {
			continue
		}
		def := s.bind(defaults)
		fs.Var(&recordedFlag{key: s.Key, l: l, def: def}, s.Flag(), s.Help+" ("+s.Env()+")")
	}
}

// recordedFlag remembers a flag's value so it can be applied last, after the
// file and the environment, whatever order they were read in.
type recordedFlag struct {
	key string
	l   *Loader
	def value
}

func (f *recordedFlag) String() string {
	if f == nil || f.def == nil {
		return ""
	}
	return f.def.String()
}

func (f *recordedFlag) Set(v string) error {
	// Parse against a scratch Config so a bad value fails at flag parsing,
	// where the flag package reports it with the flag's name.
	s, _ := lookupSetting(f.key)
	if err := s.bind(Defaults()).Set(v); err != nil {
		return err
	}
	f.l.flags[f.key] = v
	return nil
}

func (f *recordedFlag) IsBoolFlag() bool {
	_, ok := f.def.(boolValue)
	return ok
}

// Load builds the Config: defaults, then the config file (--config or
// EIDP_CONFIG), then EIDP_* variables from environ, then flags. It rejects
// unknown file keys and unknown EIDP_* variables, and runs Validate.
func (l *Loader) Load(environ []string) (*Config, error) {
	c := Defaults()
	env := map[string]string{}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if ok && strings.HasPrefix(k, "EIDP_") {
			env[k] = v
		}
	}
	file := l.configFile
	if file == "" {
		file = env[ConfigFileEnv]
	}
	if file != "" {
		if err := applyFile(c, file); err != nil {
			return nil, err
		}
	}
	if err := applyEnv(c, env); err != nil {
		return nil, err
	}
	for _, s := range settings {
		if v, ok := l.flags[s.Key]; ok {
			if err := s.bind(c).Set(v); err != nil {
				return nil, &SettingError{Setting: s.Key, Err: err}
			}
		}
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func applyEnv(c *Config, env map[string]string) error {
	known := map[string]setting{}
	for _, s := range settings {
		known[s.Env()] = s
	}
	names := make([]string, 0, len(env))
	for k := range env {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if k == ConfigFileEnv || strings.HasPrefix(k, testEnvPrefix) {
			continue
		}
		s, ok := known[k]
		if !ok {
			return &SettingError{Msg: fmt.Sprintf("unknown environment variable %s%s; run `eidp serve --help` for the settings", k, suggest(strings.ToLower(strings.TrimPrefix(k, "EIDP_"))))}
		}
		if err := s.bind(c).Set(env[k]); err != nil {
			return &SettingError{Setting: s.Key, Err: err}
		}
	}
	return nil
}

func applyFile(c *Config, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return &SettingError{Msg: "config file", Err: err}
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return &SettingError{Msg: "config file " + path, Err: err}
	}
	var m map[string]any
	if _, err := toml.Decode(string(raw), &m); err != nil {
		return &SettingError{Msg: "config file " + path + " is not valid TOML", Err: err}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s, ok := lookupSetting(k)
		if !ok {
			return &SettingError{Msg: fmt.Sprintf("config file %s: unknown setting %q%s", path, k, suggest(k))}
		}
		var text string
		switch v := m[k].(type) {
		case string:
			text = v
		case int64, bool, float64:
			text = fmt.Sprint(v)
		default:
			return &SettingError{Setting: k, Msg: fmt.Sprintf("config file %s: value must be a string, number or boolean", path)}
		}
		if err := s.bind(c).Set(text); err != nil {
			return &SettingError{Setting: k, Msg: "config file " + path, Err: err}
		}
	}
	return nil
}

// suggest names the closest known setting to a mistyped key, if one is close.
func suggest(key string) string {
	best, bestDist := "", 4
	for _, s := range settings {
		if d := editDistance(key, s.Key); d < bestDist {
			best, bestDist = s.Key, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %s?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Usage writes the settings table: key, environment variable, flag, default
// and help. Secret settings are listed without a flag.
func Usage(w io.Writer) {
	d := Defaults()
	fmt.Fprintln(w, "Settings (file key / environment variable / flag; flags override the environment, which overrides the file):")
	fmt.Fprintf(w, "  %-22s %-28s %s\n      %s\n", "(config file)", ConfigFileEnv, "--config", "optional TOML file whose keys are the setting names below; unknown keys are refused")
	for _, s := range settings {
		flagName := "--" + s.Flag()
		if s.Secret {
			flagName = "(environment or file only)"
		}
		def := s.bind(d).String()
		if s.Secret || def == "" {
			def = "-"
		}
		fmt.Fprintf(w, "  %-22s %-28s %s\n      %s (default: %s)\n", s.Key, s.Env(), flagName, s.Help, def)
	}
}
