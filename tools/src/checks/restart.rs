//! Step 9: the inherited socket, a restart that refuses nothing, notify.

use super::*;

// ANCHOR: inherited_socket_is_served
/// Step 7: a socket the test bound is handed over as fd 3 and served.
/// `HOST` names an address no interface here has, so a bind of its own
/// would fail: served means served on the inherited socket alone. After
/// the exit the socket still accepts (into its backlog): it outlives the
/// process.
pub fn inherited_socket_is_served(bin: &Binary) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a socket to hand over");
    let addr = listener.local_addr().expect("its address");
    let mut server = bin
        .launch()
        .env("HOST", "192.0.2.1")
        .with_listener(&listener)
        .try_start()
        .unwrap_or_else(|err| {
            panic!(
                "{} did not start on the socket handed over as fd 3 (LISTEN_FDS=1, LISTEN_PID \
                 its pid), with HOST=192.0.2.1, an address no interface here has, so that a \
                 socket of its own cannot be bound: {err}",
                bin.name
            )
        });
    assert_eq!(server.addr(), addr, "`server starting` names the socket");
    assert_eq!(
        get(&server.url("/health"), PROMPTLY),
        Ok((200, "ok".into()))
    );
    assert_exit_status(server.stop(PROMPTLY), 0);
    assert!(
        TcpStream::connect_timeout(&addr, PROMPTLY).is_ok(),
        "the socket closed with the process"
    );
}
// ANCHOR_END: inherited_socket_is_served

// ANCHOR: restart_refuses_none
/// Step 7: a restart on a kept socket under a steady stream of requests,
/// each on a new connection: the new process starts at the old one's
/// signal, and not one request is refused or broken.
pub fn restart_refuses_none(bin: &Binary) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a socket to hand over");
    let addr = listener.local_addr().expect("its address");
    let mut old = bin.launch().with_listener(&listener).start();

    let stop = Arc::new(AtomicBool::new(false));
    let (answers, answered) = mpsc::channel();
    let stream = thread::spawn({
        let stop = Arc::clone(&stop);
        move || {
            let mut failures = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let answer = Connection::open(addr, Duration::from_secs(5)).and_then(|mut c| {
                    c.write(&Request::get("/health"), false)?;
                    c.read_response()
                });
                match answer {
                    Ok(response) if response.status == 200 => {
                        let _ = answers.send(());
                    }
                    Ok(response) => failures.push(format!("status {}", response.status)),
                    Err(failure) => failures.push(failure.describe()),
                }
            }
            failures
        }
    });
    let wait_answers = |n: usize, when: &str| {
        for _ in 0..n {
            answered.recv_timeout(PROMPTLY).unwrap_or_else(|_| {
                panic!(
                    "a request to the socket handed over as fd 3 got no answer within \
                     {PROMPTLY:?}, {when}"
                )
            });
        }
    };
    wait_answers(
        20,
        "before any restart: the socket is not served (is one of its own bound instead?)",
    );
    old.signal(Signal::SIGTERM);
    expect_log(&mut old, &["not ready"], PROMPTLY, "the SIGTERM");
    let mut new = bin.launch().with_listener(&listener).start();
    let old_status = old.expect_exit(PROMPTLY);
    wait_answers(
        20,
        "after the restart: the new process does not serve the socket without a gap",
    );
    stop.store(true, Ordering::Relaxed);
    let failures = stream.join().expect("the client thread");
    let new_status = new.stop(PROMPTLY);

    assert_eq!(failures, Vec::<String>::new(), "requests that failed");
    assert_exit_status(old_status, 0);
    assert_exit_status(new_status, 0);
}
// ANCHOR_END: restart_refuses_none

// ANCHOR: notify_messages_in_order
/// Step 7: with `NOTIFY_SOCKET` set, the step tells its manager: `READY=1`
/// once serving, then at the signal `STOPPING=1` with an
/// `EXTEND_TIMEOUT_USEC=` of delay + deadline + the 250 ms bound, another
/// of deadline + bound when the drain begins, and a `STATUS=` line at each
/// phase. Returns the lines received, in order.
pub fn notify_messages_in_order(bin: &Binary) -> Vec<String> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).expect("bind a notify socket");
    let mut server = bin
        .launch()
        .env("NOTIFY_SOCKET", &path)
        .env("SHUTDOWN_DELAY", "100ms")
        .start();
    assert_exit_status(server.stop(PROMPTLY), 0);

    socket.set_nonblocking(true).expect("non-blocking");
    let mut lines = Vec::new();
    let mut datagram = [0; 4096];
    while let Ok(n) = socket.recv(&mut datagram) {
        let text = String::from_utf8_lossy(&datagram[..n]).into_owned();
        lines.extend(text.lines().map(str::to_owned));
    }
    let index = |wanted: &str| {
        lines
            .iter()
            .position(|line| line.starts_with(wanted))
            .unwrap_or_else(|| panic!("no {wanted} among {lines:#?}"))
    };
    let ready = index("READY=1");
    let stopping = index("STOPPING=1");
    // 100 ms of delay + 500 ms of deadline + the 250 ms bound.
    let extend = index("EXTEND_TIMEOUT_USEC=850000");
    // At the drain: 500 ms of deadline + the bound.
    let draining = index("EXTEND_TIMEOUT_USEC=750000");
    assert!(
        ready < stopping && stopping < extend && extend < draining,
        "{lines:#?}"
    );
    assert!(
        lines[..ready]
            .iter()
            .all(|line| !line.starts_with("STOPPING")),
        "{lines:#?}"
    );
    let statuses = lines
        .iter()
        .filter(|line| line.starts_with("STATUS="))
        .count();
    assert!(statuses >= 3, "a STATUS= line per phase: {lines:#?}");
    lines
}
// ANCHOR_END: notify_messages_in_order

// ANCHOR: bad_listen_fds_exits_2
/// Step 7: a malformed `LISTEN_FDS` or `LISTEN_PID` is one line on
/// standard error naming it, and exit 2.
pub fn bad_listen_fds_exits_2(bin: &Binary) {
    for (variable, value) in [("LISTEN_FDS", "three"), ("LISTEN_PID", "me")] {
        let mut server = bin
            .launch()
            .env("LISTEN_FDS", "1")
            .env("LISTEN_PID", "1")
            .env(variable, value)
            .spawn()
            .expect("spawn");
        let status = server.expect_exit(PROMPTLY);
        assert_exit_status(status, 2);
        let logs = server.logs();
        assert_eq!(logs.len(), 1, "one line: {logs:#?}");
        assert!(
            logs[0].starts_with(&format!("stderr: error: invalid {variable}=")),
            "{logs:#?}"
        );
    }
}
// ANCHOR_END: bad_listen_fds_exits_2
