//! The deployment files agree with the steps' settings and with each other:
//! each supervisor's grace period outlasts the pre-stop delay, the drain
//! deadline, the time the step may take to exit after that deadline, and a
//! margin; the stop signal is one the step drains on; the container's
//! entrypoint is in exec form so the step itself receives that signal; and
//! the Kubernetes manifest keeps its one database on a volume that
//! outlives the pod.

use std::{fs, time::Duration};

use libtest2_mimic::Trial;
use yaml_rust2::{Yaml, YamlLoader};

/// This file's tests, for `tests/steps.rs` to run.
pub(crate) fn trials() -> Vec<Trial> {
    trials![
        dockerfile_runs_step7_as_pid_1_within_dockers_grace_period,
        kubernetes_grace_period_exceeds_delay_plus_timeout,
        systemd_stop_timeout_exceeds_delay_plus_timeout,
        systemd_service_is_notify_on_the_kept_socket,
    ]
}

/// From step 5 on the process exits at most this long after its drain
/// deadline, whatever is in flight: the bound the steps promise.
const EXIT_AFTER_DEADLINE: Duration = Duration::from_millis(250);

/// Room for a slow or busy machine between the process's last moment and
/// the supervisor's SIGKILL.
const MARGIN: Duration = Duration::from_secs(1);

fn read(path: &str) -> String {
    fs::read_to_string(path).unwrap_or_else(|err| panic!("{path}: {err}"))
}

fn duration(text: &str) -> Duration {
    humantime::parse_duration(text.trim().trim_matches('"'))
        .unwrap_or_else(|err| panic!("{text:?} is not a duration: {err}"))
}

/// The value after `key` on the first line (comments skipped) that has it.
fn value_after<'a>(file: &'a str, key: &str) -> Option<&'a str> {
    file.lines()
        .map(str::trim)
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| line.split_once(key).map(|(_, rest)| rest.trim()))
}

fn assert_drain_signal(signal: &str, file: &str) {
    assert!(
        matches!(signal, "SIGTERM" | "SIGINT"),
        "{file}: stop signal {signal} is not one the steps drain on"
    );
}

/// Everything that happens between the supervisor's signal and the end of
/// the process, with the margin, must end before the supervisor's SIGKILL.
fn assert_fits(file: &str, grace: Duration, delay: Duration, timeout: Duration) {
    let needed = delay + timeout + EXIT_AFTER_DEADLINE + MARGIN;
    assert!(
        needed < grace,
        "{file}: delay {delay:?} + drain {timeout:?} + exit {EXIT_AFTER_DEADLINE:?} \
         + margin {MARGIN:?} = {needed:?}, not below the grace period {grace:?}"
    );
}

// ANCHOR: docker
fn dockerfile_runs_step7_as_pid_1_within_dockers_grace_period() {
    let file = read("deploy/Dockerfile");
    let entrypoint = value_after(&file, "ENTRYPOINT").expect("ENTRYPOINT");
    assert!(
        entrypoint.starts_with('[') && entrypoint.ends_with(']'),
        "ENTRYPOINT must be exec form, got {entrypoint}"
    );
    // The image runs its step as /usr/local/bin/bookmarks; BIN says which.
    assert_eq!(entrypoint, r#"["/usr/local/bin/bookmarks"]"#, "ENTRYPOINT");
    assert_eq!(value_after(&file, "ARG BIN="), Some("step7"), "ARG BIN=");
    assert_drain_signal(
        value_after(&file, "STOPSIGNAL").expect("STOPSIGNAL"),
        "Dockerfile",
    );

    let env = |name: &str| {
        duration(
            value_after(&file, &format!("{name}="))
                .unwrap_or_else(|| panic!("no {name}"))
                .trim_end_matches('\\'),
        )
    };
    // `docker stop` waits 10 s before SIGKILL unless told otherwise.
    let docker_stop = Duration::from_secs(10);
    assert_fits(
        "Dockerfile",
        docker_stop,
        env("SHUTDOWN_DELAY"),
        env("SHUTDOWN_TIMEOUT"),
    );
}
// ANCHOR_END: docker

/// The manifest's documents, by kind; exactly one of each kind asked for.
struct Manifest(Vec<Yaml>);

impl Manifest {
    fn load(path: &str) -> Manifest {
        let docs = YamlLoader::load_from_str(&read(path))
            .unwrap_or_else(|err| panic!("{path} is not YAML: {err}"));
        Manifest(docs)
    }

    fn one(&self, kind: &str) -> &Yaml {
        let mut found = self
            .0
            .iter()
            .filter(|doc| doc["kind"].as_str() == Some(kind));
        let doc = found
            .next()
            .unwrap_or_else(|| panic!("no {kind} in the manifest"));
        assert!(found.next().is_none(), "more than one {kind}");
        doc
    }
}

fn text<'a>(node: &'a Yaml, what: &str) -> &'a str {
    node.as_str()
        .unwrap_or_else(|| panic!("{what}: expected a string, got {node:?}"))
}

fn number(node: &Yaml, what: &str) -> i64 {
    node.as_i64()
        .unwrap_or_else(|| panic!("{what}: expected a number, got {node:?}"))
}

fn list<'a>(node: &'a Yaml, what: &str) -> &'a [Yaml] {
    node.as_vec()
        .unwrap_or_else(|| panic!("{what}: expected a list, got {node:?}"))
}

// ANCHOR: kubernetes
fn kubernetes_grace_period_exceeds_delay_plus_timeout() {
    let manifest = Manifest::load("deploy/kubernetes.yaml");
    let deployment = manifest.one("Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    let containers = list(&pod["containers"], "containers");
    assert_eq!(containers.len(), 1, "one container");
    let container = &containers[0];
    let env = |name: &str| {
        let var = list(&container["env"], "env")
            .iter()
            .find(|var| var["name"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("no env {name}"));
        text(&var["value"], name)
    };

    // The budget. A preStop hook runs inside the grace period too.
    let grace = number(
        &pod["terminationGracePeriodSeconds"],
        "terminationGracePeriodSeconds",
    );
    let delay = duration(env("SHUTDOWN_DELAY"));
    let timeout = duration(env("SHUTDOWN_TIMEOUT"));
    let pre_stop = &container["lifecycle"]["preStop"];
    let pre_stop_sleep = match pre_stop["sleep"]["seconds"].as_i64() {
        Some(seconds) => Duration::from_secs(seconds as u64),
        None => Duration::ZERO,
    };
    assert!(
        pre_stop["exec"].is_badvalue(),
        "an exec preStop hook's time is not counted here; use the sleep action"
    );
    assert!(
        !(delay + pre_stop_sleep).is_zero(),
        "behind a Service, a delay covers the endpoint removal's propagation"
    );
    assert_fits(
        "kubernetes.yaml",
        Duration::from_secs(grace as u64),
        pre_stop_sleep + delay,
        timeout,
    );

    // One database, on a volume that outlives the pod.
    assert_eq!(number(&deployment["spec"]["replicas"], "replicas"), 1);
    assert_eq!(
        text(&deployment["spec"]["strategy"]["type"], "strategy"),
        "Recreate",
        "a rollout must stop the old pod before the new one opens the file"
    );
    let database = env("DATABASE_URL");
    let mount = list(&container["volumeMounts"], "volumeMounts")
        .iter()
        .find(|mount| database.starts_with(&format!("{}/", text(&mount["mountPath"], "mountPath"))))
        .unwrap_or_else(|| panic!("{database} is on no mounted volume"));
    let volume_name = text(&mount["name"], "volumeMounts.name");
    let volume = list(&pod["volumes"], "volumes")
        .iter()
        .find(|volume| volume["name"].as_str() == Some(volume_name))
        .unwrap_or_else(|| panic!("no volume {volume_name}"));
    let claim = text(
        &volume["persistentVolumeClaim"]["claimName"],
        "the database's volume must be a persistentVolumeClaim",
    );
    assert_eq!(
        text(
            &manifest.one("PersistentVolumeClaim")["metadata"]["name"],
            "claim"
        ),
        claim
    );

    // An image the node may already have is used as it is.
    assert_eq!(
        text(&container["imagePullPolicy"], "imagePullPolicy"),
        "IfNotPresent"
    );

    // Reachable by the probes and the Service, which use the pod's IP.
    assert_eq!(env("HOST"), "0.0.0.0");
    let port: i64 = env("PORT").parse().expect("PORT is a number");
    let container_port = number(&container["ports"][0]["containerPort"], "containerPort");
    assert_eq!(container_port, port);
    let service = manifest.one("Service");
    assert_eq!(
        number(&service["spec"]["ports"][0]["targetPort"], "targetPort"),
        port
    );
    assert_eq!(
        service["spec"]["selector"], deployment["spec"]["template"]["metadata"]["labels"],
        "the Service selects the pod"
    );

    // Readiness on /ready (503 from the signal on), liveness on /health.
    for (probe, path) in [("readinessProbe", "/ready"), ("livenessProbe", "/health")] {
        let get = &container[probe]["httpGet"];
        assert_eq!(text(&get["path"], probe), path, "{probe}");
        assert_eq!(number(&get["port"], probe), port, "{probe}");
    }

    // The pod runs as the image's user, so the volume is writable for it.
    let dockerfile = read("deploy/Dockerfile");
    let image_uid: i64 = value_after(&dockerfile, "--uid")
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|uid| uid.parse().ok())
        .expect("useradd --uid N in the Dockerfile");
    let security = &pod["securityContext"];
    assert_eq!(number(&security["runAsUser"], "runAsUser"), image_uid);
    assert_eq!(number(&security["fsGroup"], "fsGroup"), image_uid);
}
// ANCHOR_END: kubernetes

// ANCHOR: systemd
fn systemd_stop_timeout_exceeds_delay_plus_timeout() {
    let file = read("deploy/bookmarks.service");
    assert_drain_signal(
        value_after(&file, "KillSignal=").expect("KillSignal"),
        "bookmarks.service",
    );
    let stop = duration(value_after(&file, "TimeoutStopSec=").expect("TimeoutStopSec"));
    let delay = duration(value_after(&file, "SHUTDOWN_DELAY=").expect("SHUTDOWN_DELAY"));
    let timeout = duration(value_after(&file, "SHUTDOWN_TIMEOUT=").expect("SHUTDOWN_TIMEOUT"));
    assert_fits("bookmarks.service", stop, delay, timeout);
    assert!(value_after(&file, "ExecStart=").unwrap().ends_with("step9"));
}

/// The service serves the socket unit's socket, tells systemd when it is
/// ready (step 9 sends READY=1), and sets no port of its own that the
/// socket would silently override.
fn systemd_service_is_notify_on_the_kept_socket() {
    let service = read("deploy/bookmarks.service");
    let socket = read("deploy/bookmarks.socket");
    assert_eq!(value_after(&service, "Type="), Some("notify"));
    assert_eq!(value_after(&service, "NotifyAccess="), Some("main"));
    assert_eq!(value_after(&service, "Sockets="), Some("bookmarks.socket"));
    assert_eq!(value_after(&service, "Requires="), Some("bookmarks.socket"));
    assert_eq!(value_after(&service, "After="), Some("bookmarks.socket"));
    for setting in ["HOST=", "PORT="] {
        assert_eq!(
            value_after(&service, setting),
            None,
            "{setting} would be ignored"
        );
    }
    let port = value_after(&socket, "ListenStream=").expect("ListenStream");
    assert!(port.parse::<u16>().is_ok(), "ListenStream={port}: a port");
    // Accept=yes would start a process per connection: step9 serves all.
    assert!(matches!(value_after(&socket, "Accept="), None | Some("no")));
    let backlog: u32 = value_after(&socket, "Backlog=")
        .expect("Backlog")
        .parse()
        .expect("a number");
    assert!(backlog >= 128, "Backlog={backlog}: room to queue a restart");
}
// ANCHOR_END: systemd
