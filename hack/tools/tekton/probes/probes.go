// Package probes is the /health and /readiness server of the Tekton binaries in the local build plane: the
// same always-OK handlers as upstream's cmd/controller, on 127.0.0.1:$PROBES_PORT (upstream: every interface,
// and knative's sharedmain adds a second server fixed to :8080, which two planes on one host cannot share).
package probes

import (
	"log"
	"net/http"
	"os"
	"time"
)

// Serve listens until the process exits; a port that cannot be bound is fatal, as upstream.
func Serve() {
	port := os.Getenv("PROBES_PORT")
	if port == "" {
		port = "8080"
	}
	mux := http.NewServeMux()
	ok := func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }
	mux.HandleFunc("/health", ok)
	mux.HandleFunc("/readiness", ok)
	server := &http.Server{Addr: "127.0.0.1:" + port, Handler: mux, ReadHeaderTimeout: time.Minute}
	log.Printf("Readiness and health check server listening on %s", server.Addr)
	log.Fatal(server.ListenAndServe())
}
