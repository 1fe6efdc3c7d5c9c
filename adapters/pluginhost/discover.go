package pluginhost

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	transcoderv1 "github.com/colony-live/colony/plugins/transcoder/v1"
)

// discover lists the plugin executables in dir: regular files named
// colony-transcoder-<name> with an execute bit, by name.
func discover(dir string) (map[string]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("pluginhost: reading plugin directory: %w", err)
	}
	found := map[string]string{}
	for _, e := range entries {
		name, ok := strings.CutPrefix(e.Name(), transcoderv1.BinaryPrefix)
		if !ok || name == "" || strings.ContainsAny(name, ". ") {
			continue // not a plugin, or a backup / checksum file beside it
		}
		path := filepath.Join(dir, e.Name())
		fi, err := os.Stat(path) // follows symlinks
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			continue
		}
		found[name] = path
	}
	return found, nil
}

func sortedNames(m map[string]string) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
