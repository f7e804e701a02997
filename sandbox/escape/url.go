package escape

import "net/url"

// RedactedURL hides a URL's password, for messages and reports: a
// connection or index URL may carry a token.
func RedactedURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		return u.Redacted()
	}
	return s
}
