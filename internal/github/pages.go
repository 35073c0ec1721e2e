package github

import gogithub "github.com/google/go-github/v60/github"

// allPages lists every page: it calls list, which asks for the page *page
// names, from the first until GitHub's Link header names no next one, and
// returns the items of all of them.
func allPages[T any](page *int, list func() ([]T, *gogithub.Response, error)) ([]T, error) {
	var out []T
	for {
		items, resp, err := list()
		if err != nil {
			return nil, err
		}
		out = append(out, items...)
		if resp.NextPage == 0 {
			return out, nil
		}
		*page = resp.NextPage
	}
}
