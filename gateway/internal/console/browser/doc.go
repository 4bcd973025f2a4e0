// Package browser holds the console's browser test (browser_test.go): headless
// Chromium through chromedp against a real gateway. Its own module keeps chromedp
// out of the gateway module's dependencies.
package browser
