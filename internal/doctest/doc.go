// Package doctest reads the examples out of Switchboard's Markdown docs and
// compares what a command printed with what a doc shows. It owns the marker
// language (HTML comments that start with "doctest:") and the comparison of
// output; running the examples against real nodes is the job of the test
// that uses it (e2e/docs_test.go), which owns processes and ports.
//
// A doc is a list of [Step]s: fenced blocks, and the directives around them.
// A directive written just before a fence says what to do with it:
//
//	<!-- doctest: run -->                  run it (sh with bash, js with node, go with go run)
//	<!-- doctest: run bg=NAME -->          run it in the background, checked later
//	<!-- doctest: run comments -->         its "# {...}" comment lines are its output
//	                                       (with more="why": it prints more after them)
//	<!-- doctest: run env="K=V" -->        with that in its environment
//	<!-- doctest: output -->               the output of the block run last
//	<!-- doctest: output ignore="Date" -->  the same, without those header lines (curl -i)
//	<!-- doctest: output tail -->          the last lines of that output (after a banner)
//	<!-- doctest: output wrapped -->       the same, with the doc's indented lines (and those
//	                                       starting with ] or }) joined to the line before
//	<!-- doctest: output json any="K,…" --> the same, the doc's JSON laid out for reading,
//	                                       with the values of fields K (a version, an
//	                                       uptime, counters) anything
//	<!-- doctest: output of=NAME -->       the output of the background run NAME, so far
//	<!-- doctest: file path=NAME -->       written to NAME in the doc's directory
//	<!-- doctest: serve -->                the command that starts a node: the test starts one
//	<!-- doctest: transcript [bg=NAME] -->  "$ command" lines, each followed by its output
//	<!-- doctest: transcript fails -->     the same, each command failing, with what it
//	                                       printed on stdout and stderr (grpcurl's ERROR:)
//	<!-- doctest: websocket -->            "→ frame" sent, "← frame" expected, on a WebSocket
//	<!-- doctest: flags reason="..." -->   too long to run: its switchboard command lines are
//	                                       parsed by the CLI (with --help), not run
//	<!-- doctest: browser until=JS -->     a js or html block run in Chromium on a page of the
//	                                       node (page=PATH); the body is what its console shows
//	                                       first, until= what it must come to render
//	<!-- doctest: skip reason="..." -->    not run, for the reason given
//
// Others stand alone: "node ARGS" starts a fresh node, "stop" stops it, "sh"
// runs the script in its body (setup a reader does by hand, such as a
// publication that a transcript shows arriving), "wait name=NAME for=TEXT"
// waits until a background run printed TEXT, and "check name=NAME" compares
// its output with the body. "redis as=HOST:PORT" starts a redis-server and
// "nats as=HOST:PORT[,HOST:PORT,HOST:PORT]" an embedded NATS with JetStream
// (a cluster of three for three addresses); the doc's addresses stand for
// theirs in every later block, so a doc shows the broker URL a reader
// types (redis://redis.internal:6379/0) and the test runs it.
//
// A fence that looks runnable (sh, js, ts or go, or a transcript starting
// with "$ ") and has no directive is an error, so a new example is run or
// skipped with its reason, never forgotten.
package doctest
