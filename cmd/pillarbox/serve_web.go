package main

import "net/http"

// webHandler is what the [http] and [https] listeners serve besides ACME
// challenges. A placeholder: the web part replaces this file.
func webHandler(w *wiring) http.Handler { return http.NotFoundHandler() }
