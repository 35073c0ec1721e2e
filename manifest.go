// Package stagebot holds what the binary embeds from the repository root:
// the GitHub App manifest, and the quickstart that bot demo deploys.
package stagebot

import (
	"embed"
	"io/fs"
)

// AppManifest is app-manifest.yml: the permissions and events the bot needs.
//
//go:embed app-manifest.yml
var AppManifest []byte

//go:embed examples/quickstart
var quickstart embed.FS

// Quickstart is examples/quickstart, as path -> content.
func Quickstart() map[string]string {
	files := map[string]string{}
	root := "examples/quickstart"
	fs.WalkDir(quickstart, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := quickstart.ReadFile(p)
		files[p[len(root)+1:]] = string(b)
		return err
	})
	return files
}
