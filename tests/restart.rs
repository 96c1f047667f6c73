//! Step 7's restart on a kept socket, on the real binary: the socket a test
//! owns is handed over as fd 3 (as systemd does), a restart under a steady
//! stream of requests refuses none, and a fake `NOTIFY_SOCKET` hears the
//! notify messages in order.

mod step7 {
    use tools::checks;

    /// The socket handed over as fd 3 is served; nothing else is bound.
    #[test]
    fn inherited_socket_is_served() {
        checks::inherited_socket_is_served("step7");
    }

    /// Old and new process on one socket: no request refused or broken.
    #[test]
    fn restart_refuses_none() {
        checks::restart_refuses_none("step7");
    }

    /// READY=1, then STOPPING=1, EXTEND_TIMEOUT_USEC= and STATUS= lines.
    #[test]
    fn notify_messages_in_order() {
        let lines = checks::notify_messages_in_order("step7");
        println!("notify: {lines:?}");
    }

    /// A malformed LISTEN_FDS or LISTEN_PID: one line, exit 2.
    #[test]
    fn bad_listen_fds_exits_2() {
        checks::bad_listen_fds_exits_2("step7");
    }
}

/// Every step with a drain shares the accept loop, and so the fix: a
/// connection still silent when the drain begins is served, not cancelled.
mod silent_connection {
    use tools::checks;

    #[test]
    fn step2() {
        checks::silent_connection_is_served("step2");
    }

    #[test]
    fn step3() {
        checks::silent_connection_is_served("step3");
    }

    #[test]
    fn step4() {
        checks::silent_connection_is_served("step4");
    }

    #[test]
    fn step5() {
        checks::silent_connection_is_served("step5");
    }

    #[test]
    fn step6() {
        checks::silent_connection_is_served("step6");
    }

    #[test]
    fn step7() {
        checks::silent_connection_is_served("step7");
    }
}
