package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"
)

// withEnvFile takes `-env-file FILE` out of serve's arguments and returns a
// lookup that reads the file's settings where the environment has none: the
// file `bot setup --print` writes, or any KEY=value file (blank lines, #
// comments and `export ` allowed; a value may be in single or double quotes,
// as a shell would source it). Errors name the line, never its value.
func withEnvFile(args []string, getenv func(string) string) (func(string) string, []string, error) {
	var path string
	rest := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "env-file" {
			rest = append(rest, a)
			continue
		}
		if !hasValue {
			if i+1 >= len(args) {
				return nil, nil, usageError{"bot serve: -env-file needs a file"}
			}
			i++
			value = args[i]
		}
		path = value
	}
	if path == "" {
		return getenv, rest, nil
	}
	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
		return nil, nil, fmt.Errorf("cannot start: env file %s holds the App's secrets and is readable by others (mode %04o): chmod 600 %s", path, st.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot start: env file: %w", err)
	}
	file, err := parseEnvFile(b)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot start: env file %s: %w", path, err)
	}
	return func(name string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return file[name]
	}, rest, nil
}

func parseEnvFile(b []byte) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" || strings.ContainsAny(key, " \t\"'") {
			return nil, fmt.Errorf("line %d: want KEY=value", n)
		}
		if len(value) >= 2 && (value[0] == '\'' || value[0] == '"') && value[len(value)-1] == value[0] {
			value = value[1 : len(value)-1]
		}
		out[key] = value
	}
	return out, sc.Err()
}
