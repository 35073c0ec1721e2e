// Package stagebot holds what the binary embeds from the repository root:
// the GitHub App manifest.
package stagebot

import _ "embed"

// AppManifest is app-manifest.yml: the permissions and events the bot needs.
//
//go:embed app-manifest.yml
var AppManifest []byte
