// The usual net/http graceful shutdown, as the Go chapter describes it,
// made runnable so that the chapter's Go figures come from a program in
// this repository (scripts/go-figures.sh measures it).
//
// It follows the pattern line for line: signal.NotifyContext for SIGINT
// and SIGTERM, the server in a goroutine, a fresh 10 s context for
// Shutdown, a goroutine that calls os.Exit(1) on a second signal, then the
// database's Close. Two changes let the repository's scripts drive it like
// the Rust steps:
//   - it listens first and then serves in the goroutine (net.Listen, then
//     srv.Serve, which is what ListenAndServe does inside), so that it can
//     log the real address once it accepts: PORT=0 picks a free port;
//   - it speaks the steps' contract where the scripts need it: HOST, PORT,
//     SHUTDOWN_TIMEOUT (a Go duration), the log phrases `server starting
//     addr=IP:PORT`, `slow request started`, `shutting down`, `shutdown
//     timed out`, `forced shutdown`, `database closed`, `server stopped`,
//     and GET /health and GET /slow?ms=N.
//
// Standard library only.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

// database stands in for the service's store: what matters here is when
// Close runs, and whether it runs at all.
type database struct{}

func openDatabase() *database { return &database{} }

func (db *database) Close() { log.Println("database closed") }

func routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "ok")
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		ms, err := strconv.Atoi(r.URL.Query().Get("ms"))
		if err != nil || ms < 0 {
			http.Error(w, `{"error": "ms must be a number of milliseconds"}`, http.StatusBadRequest)
			return
		}
		log.Printf("slow request started ms=%d", ms)
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
			fmt.Fprint(w, "done")
		case <-r.Context().Done():
			// The client went away, or the server closed the connection.
		}
	})
	return mux
}

// config reads the environment; a bad value is one line on standard error
// and exit status 2, as in the Rust steps.
func config() (addr string, shutdownTimeout time.Duration) {
	fail := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, format+"\n", args...)
		os.Exit(2)
	}
	host := os.Getenv("HOST")
	if host == "" {
		host = "127.0.0.1"
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n > 65535 {
		fail("PORT: %q is not a port number", port)
	}
	shutdownTimeout = 10 * time.Second
	if text := os.Getenv("SHUTDOWN_TIMEOUT"); text != "" {
		parsed, err := time.ParseDuration(text)
		if err != nil || parsed <= 0 {
			fail("SHUTDOWN_TIMEOUT: %q is not a positive Go duration (10s, 500ms)", text)
		}
		shutdownTimeout = parsed
	}
	return net.JoinHostPort(host, port), shutdownTimeout
}

// ANCHOR: main
func main() {
	addr, shutdownTimeout := config()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	db := openDatabase()
	srv := &http.Server{Handler: routes()}

	listener, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "cannot listen on %s: %v\n", addr, err)
		os.Exit(2)
	}
	go func() {
		err := srv.Serve(listener)
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Fatalf("serve: %v", err)
		}
	}()
	log.Printf("server starting addr=%s", listener.Addr())

	<-ctx.Done() // the first SIGINT or SIGTERM
	log.Println("shutting down")

	go func() { // a second signal forces the exit
		again := make(chan os.Signal, 1)
		signal.Notify(again, os.Interrupt, syscall.SIGTERM)
		<-again
		log.Println("forced shutdown")
		os.Exit(1)
	}()

	// The signal context is already cancelled: the drain needs a fresh one.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Printf("shutdown timed out: %v", err)
	}
	db.Close()
	log.Println("server stopped")
}

// ANCHOR_END: main
