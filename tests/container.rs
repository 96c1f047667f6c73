//! The steps in a real container, stopped as users stop them: `podman
//! stop -t N` sends the image's STOPSIGNAL (SIGTERM) to the container's
//! PID 1 and SIGKILL once N seconds have passed, as `docker stop` and the
//! kubelet do. Each test builds deploy/Dockerfile's image for one step,
//! runs it, stops it, and asserts what a user sees: the answer a client
//! got, the exit code `podman inspect` reports (137 is the SIGKILL), how
//! long `podman stop` took, the container's log and the database on its
//! volume.
//!
//! It needs podman (Debian: `apt-get install podman runc`) and the base
//! image scripts/container-base.sh makes, since no image registry is
//! reached here; `.ci/run` installs and makes both. Where either is
//! missing, or podman cannot start a container, each test is reported
//! *ignored* with the reason, never passed (libtest2-mimic, as in
//! tests/pid1.rs).
//!
//! The images run cargo's debug build of each step, which links against
//! this machine's C library: the base is the same Debian release (bookworm).

use std::{
    collections::HashMap,
    env, fs,
    hash::{DefaultHasher, Hash, Hasher},
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    sync::{Arc, Mutex, OnceLock},
    time::{Duration, Instant},
};

use libtest2_mimic::{RunContext, RunError, RunResult, Trial};
use nix::sys::resource::{Resource, getrlimit};
use tools::{
    client::{post_json, slow_request_in_flight},
    harness::{Launch, Server, built_binary},
};

/// What scripts/container-base.sh imports: a minimal Debian bookworm.
const BASE_IMAGE: &str = "localhost/debian:bookworm-slim";
/// The tests' images, one tag per step: `localhost/bookmarks-test:step2`.
const TEST_IMAGE: &str = "localhost/bookmarks-test";
/// Marks every image these tests build, so that leftovers can be found;
/// its value says what the image was built from.
const INPUT_LABEL: &str = "bookmarks-test.input";
const DOCKERFILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/Dockerfile");
/// The grace period of the stops that should end long before it: Docker's
/// default, so that a test shows a clean stop takes a fraction of it.
const DOCKER_GRACE: u64 = 10;
/// The grace period of the stops that use it up: short, for a fast suite.
const SHORT_GRACE: u64 = 2;

/// The trials of this file, for `tests/steps.rs` to run with the rest: they
/// mostly wait (for a grace period, a drain, podman), beside the others.
pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test(
            "container::step2_as_pid_1_drains_on_podman_stop",
            step2_as_pid_1_drains_on_podman_stop,
        ),
        Trial::test(
            "container::step3_deadline_ends_the_drain_before_the_sigkill",
            step3_deadline_ends_the_drain_before_the_sigkill,
        ),
        Trial::test(
            "container::step4_second_signal_forces_the_cut_off",
            step4_second_signal_forces_the_cut_off,
        ),
        Trial::test(
            "container::step1_as_pid_1_waits_out_the_grace_period",
            step1_as_pid_1_waits_out_the_grace_period,
        ),
        Trial::test(
            "container::step1_behind_init_stops_at_once",
            step1_behind_init_stops_at_once,
        ),
        Trial::test(
            "container::shell_form_entrypoint_waits_out_the_grace_period",
            shell_form_entrypoint_waits_out_the_grace_period,
        ),
        Trial::test(
            "container::shell_form_behind_init_stops_at_once_undrained",
            shell_form_behind_init_stops_at_once_undrained,
        ),
    ]
}

// ANCHOR: drain
/// Step 2 as PID 1: `podman stop` with Docker's 10 s lets the request in
/// flight finish, the database is closed (no `-wal` file left on the
/// volume, the row written is there), exit 0, long before the 10 s.
fn step2_as_pid_1_drains_on_podman_stop(context: RunContext<'_>) -> RunResult {
    let podman = podman(&context)?;
    let mut container = Container::start(podman, &podman.image("step2"), &[]);
    assert_eq!(container.pid_1(), "bookmarks", "the step itself is PID 1");
    let created = post_json(
        &container.logs.url("/bookmarks"),
        &serde_json::json!({"url": "https://example.com/", "title": "kept"}),
    );
    assert_eq!(created.map(|(status, _)| status), Ok(201));
    let request = slow_request_in_flight(&container.logs, 1000, Duration::from_secs(10));

    let took = container.stop(DOCKER_GRACE);

    assert_eq!(request.join().unwrap(), Ok((200, "done".into())));
    assert_eq!(container.exit_code(), 0);
    assert!(
        took < Duration::from_secs(DOCKER_GRACE / 2),
        "podman stop took {took:?}, with 1 s of request left to drain"
    );
    let logs = container.logs_after_exit();
    assert!(logs.iter().any(|line| line.contains("database closed")));
    assert!(logs.last().unwrap().contains("server stopped"), "{logs:#?}");
    let database = container.logs.db_path.clone();
    assert!(!wal_file(&database).exists(), "the database was closed");
    assert_eq!(bookmarks_in(&database), 1);
    Ok(())
}
// ANCHOR_END: drain

// ANCHOR: deadline
/// Step 3 with `SHUTDOWN_TIMEOUT=1s` and a request that would take a
/// minute: its own deadline ends it, exit 1, inside `podman stop -t 3`.
/// 3 s is the budget the deployment files keep (tests/deploy.rs): the
/// drain's 1 s, the 250 ms the step may take to exit after it, a second
/// of margin.
fn step3_deadline_ends_the_drain_before_the_sigkill(context: RunContext<'_>) -> RunResult {
    let podman = podman(&context)?;
    let mut container = Container::start(
        podman,
        &podman.image("step3"),
        &["--env", "SHUTDOWN_TIMEOUT=1s"],
    );
    let request = slow_request_in_flight(&container.logs, 60_000, Duration::from_secs(10));

    let took = container.stop(3);

    // 1 rather than SIGKILL's 137: the step ended itself.
    assert_eq!(container.exit_code(), 1);
    assert!(
        took >= Duration::from_secs(1),
        "not before the deadline: {took:?}"
    );
    assert!(
        request.join().unwrap().is_err(),
        "the stuck request was cut off"
    );
    let logs = container.logs_after_exit();
    for needle in ["shutdown timed out", "abandoned", "database closed"] {
        assert!(
            logs.iter().any(|line| line.contains(needle)),
            "{needle}: {logs:#?}"
        );
    }
    assert!(logs.last().unwrap().contains("server stopped"), "{logs:#?}");
    Ok(())
}
// ANCHOR_END: deadline

// ANCHOR: second_signal
/// Step 4 with a stuck request and a 30 s deadline: a second `podman kill
/// -s INT` cuts the drain short, exit 1, in well under the deadline.
fn step4_second_signal_forces_the_cut_off(context: RunContext<'_>) -> RunResult {
    let podman = podman(&context)?;
    let mut container = Container::start(
        podman,
        &podman.image("step4"),
        &["--env", "SHUTDOWN_TIMEOUT=30s"],
    );
    let request = slow_request_in_flight(&container.logs, 60_000, Duration::from_secs(40));

    let first = Instant::now();
    container.kill("INT");
    container
        .logs
        .wait_for_log("shutting down", Duration::from_secs(5));
    container.kill("INT");

    // Bounds for a busy machine, where each podman command can take a
    // second; the deadline is 30 s away.
    assert_eq!(container.wait_exit(Duration::from_secs(10)), 1);
    let took = first.elapsed();
    assert!(took < Duration::from_secs(10), "forced out after {took:?}");
    assert!(
        request.join().unwrap().is_err(),
        "the stuck request was cut off"
    );
    let logs = container.logs_after_exit();
    assert!(logs.iter().any(|line| line.contains("forced shutdown")));
    assert!(logs.last().unwrap().contains("server stopped"), "{logs:#?}");
    Ok(())
}
// ANCHOR_END: second_signal

// ANCHOR: pid1_trap
/// Step 1 has no handler, and as PID 1 the kernel drops a signal it does
/// not handle: `podman stop -t 2` waits the 2 s out, then SIGKILL, 137.
fn step1_as_pid_1_waits_out_the_grace_period(context: RunContext<'_>) -> RunResult {
    let podman = podman(&context)?;
    let mut container = Container::start(podman, &podman.image("step1"), &[]);
    assert_eq!(container.pid_1(), "bookmarks");

    let took = container.stop(SHORT_GRACE);

    assert_eq!(container.exit_code(), 137);
    assert!(took >= Duration::from_secs(SHORT_GRACE), "{took:?}");
    Ok(())
}

/// With `--init`, PID 1 is an init (catatonit, under podman) that passes
/// the SIGTERM on to step 1, no longer PID 1, which dies of it at once:
/// 143 is 128 + SIGTERM, as the init reports its child's death.
fn step1_behind_init_stops_at_once(context: RunContext<'_>) -> RunResult {
    let podman = podman(&context)?;
    let mut container = Container::start(podman, &podman.image("step1"), &["--init"]);
    // catatonit, which podman mounts as /run/podman-init.
    assert_eq!(container.pid_1(), "podman-init");

    let took = container.stop(DOCKER_GRACE);

    assert_eq!(container.exit_code(), 143);
    assert!(took < Duration::from_secs(DOCKER_GRACE / 2), "{took:?}");
    Ok(())
}
// ANCHOR_END: pid1_trap

// ANCHOR: shell_form
/// `ENTRYPOINT /usr/local/bin/bookmarks`, the shell form, runs
/// `/bin/sh -c /usr/local/bin/bookmarks`: the shell is PID 1, drops the
/// SIGTERM, and step 2, its child, never hears of it. The exec form, as in
/// deploy/Dockerfile, is the fix (`step2_as_pid_1_drains_on_podman_stop`).
fn shell_form_entrypoint_waits_out_the_grace_period(context: RunContext<'_>) -> RunResult {
    let podman = podman(&context)?;
    let mut container = Container::start(podman, &podman.shell_form_image(), &[]);
    assert_eq!(container.pid_1(), "sh");

    let took = container.stop(SHORT_GRACE);

    assert_eq!(container.exit_code(), 137);
    assert!(took >= Duration::from_secs(SHORT_GRACE), "{took:?}");
    assert_never_drained(&container.logs_after_exit());
    Ok(())
}

/// `--init` is no fix for the shell form: the init passes the SIGTERM to
/// the shell, its only child, which dies of it; the init then exits, and
/// the kernel kills what is left of the container, step 2 with it. Fast,
/// and nothing drained: no `shutting down`, no `server stopped`.
fn shell_form_behind_init_stops_at_once_undrained(context: RunContext<'_>) -> RunResult {
    let podman = podman(&context)?;
    let mut container = Container::start(podman, &podman.shell_form_image(), &["--init"]);
    assert_eq!(container.pid_1(), "podman-init");

    let took = container.stop(DOCKER_GRACE);

    assert_eq!(container.exit_code(), 143);
    assert!(took < Duration::from_secs(DOCKER_GRACE / 2), "{took:?}");
    assert_never_drained(&container.logs_after_exit());
    Ok(())
}
// ANCHOR_END: shell_form

#[track_caller]
fn assert_never_drained(logs: &[String]) {
    for needle in ["shutting down", "server stopped"] {
        assert!(
            !logs.iter().any(|line| line.contains(needle)),
            "step 2 logged {needle:?}: {logs:#?}"
        );
    }
}

fn wal_file(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push("-wal");
    name.into()
}

fn bookmarks_in(database: &Path) -> i64 {
    let connection = rusqlite::Connection::open(database).expect("open the volume's database");
    connection
        .query_row("SELECT count(*) FROM bookmarks", [], |row| row.get(0))
        .expect("count the bookmarks")
}

/// podman, once found able to run a container here, or why not.
static PODMAN: OnceLock<Result<Podman, String>> = OnceLock::new();

/// podman, or the running test marked ignored with the reason.
fn podman(context: &RunContext<'_>) -> Result<&'static Podman, RunError> {
    match PODMAN.get_or_init(Podman::find) {
        Ok(podman) => Ok(podman),
        Err(reason) => {
            eprintln!("ignored: {reason}");
            context.ignore_for(reason)?;
            // Run all the same (--include-ignored): there is nothing to run.
            Err(RunError::fail(reason))
        }
    }
}

/// podman as these tests run it.
struct Podman {
    program: PathBuf,
    /// `--ulimit` for every container and every build.
    ulimits: [String; 4],
    /// Built images, by tag: one build per tag and run, however many
    /// tests ask for it at once.
    images: Mutex<HashMap<String, Arc<OnceLock<()>>>>,
}

impl Podman {
    /// Finds podman, checks that the base image is there and that a
    /// container starts, and removes what earlier runs left behind.
    fn find() -> Result<Podman, String> {
        let program = env::var_os("PATH")
            .iter()
            .flat_map(env::split_paths)
            .map(|dir| dir.join("podman"))
            .find(|path| path.is_file())
            .ok_or("no podman on PATH (Debian: apt-get install podman runc)")?;
        let podman = Podman {
            program,
            ulimits: ulimits(),
            images: Mutex::default(),
        };
        podman
            .output(&["image", "exists", BASE_IMAGE])
            .map_err(|_| {
                format!("no image {BASE_IMAGE} in podman: scripts/container-base.sh makes it")
            })?;
        let mut run = vec!["run", "--rm", "--network", "host"];
        run.extend(podman.ulimits.iter().map(String::as_str));
        run.extend([BASE_IMAGE, "true"]);
        podman
            .output(&run)
            .map_err(|err| format!("podman cannot start a container here: {err}"))?;
        // An image built for an older binary, once untagged, and its
        // build's intermediate images are no use to anyone.
        let prune = format!("label={INPUT_LABEL}");
        let _ = podman.output(&["image", "prune", "--force", "--filter", &prune]);
        Ok(podman)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.program);
        command.args(args).stdin(Stdio::null());
        command
    }

    /// Runs `podman args…`; its standard output, or what went wrong.
    fn output(&self, args: &[&str]) -> Result<String, String> {
        let Output {
            status,
            stdout,
            stderr,
        } = self
            .command(args)
            .output()
            .map_err(|err| format!("cannot run podman: {err}"))?;
        if status.success() {
            Ok(String::from_utf8_lossy(&stdout).trim().to_owned())
        } else {
            Err(format!(
                "podman {} failed ({status}): {}",
                args.join(" "),
                String::from_utf8_lossy(&stderr).trim()
            ))
        }
    }

    /// deploy/Dockerfile built for `step`, with cargo's build of it as the
    /// binary and the base image scripts/container-base.sh made.
    fn image(&self, step: &str) -> String {
        let tag = format!("{TEST_IMAGE}:{step}");
        let binary = built_binary(step);
        let input = || {
            let base = self.output(&["image", "inspect", "--format", "{{.Id}}", BASE_IMAGE]);
            input_hash([
                fs::read(DOCKERFILE).expect("deploy/Dockerfile"),
                fs::read(&binary).unwrap_or_else(|err| panic!("{}: {err}", binary.display())),
                base.expect("the base image").into_bytes(),
            ])
        };
        self.build_once(&tag, input, |context| {
            // A link, or a copy across file systems: the build context
            // holds the one file the `prebuilt` stage copies.
            let linked = context.join(step);
            fs::hard_link(&binary, &linked)
                .or_else(|_| fs::copy(&binary, &linked).map(drop))
                .expect("the binary in the build context");
            vec![
                "--file".into(),
                DOCKERFILE.into(),
                "--build-arg".into(),
                format!("BASE={BASE_IMAGE}"),
                "--build-arg".into(),
                format!("BIN={step}"),
                "--build-arg".into(),
                "BINARY_FROM=prebuilt".into(),
            ]
        });
        tag
    }

    /// Step 2's image with its ENTRYPOINT in shell form, the one line a
    /// Dockerfile written that way differs by.
    fn shell_form_image(&self) -> String {
        let step2 = self.image("step2");
        let tag = format!("{TEST_IMAGE}:step2-shell-form");
        let dockerfile = format!("FROM {step2}\nENTRYPOINT /usr/local/bin/bookmarks\n");
        let input = || {
            let from = self.output(&["image", "inspect", "--format", "{{.Id}}", &step2]);
            input_hash([dockerfile.clone().into_bytes(), from.unwrap().into_bytes()])
        };
        self.build_once(&tag, input, |context| {
            fs::write(context.join("Dockerfile"), &dockerfile).unwrap();
            vec![]
        });
        tag
    }

    /// Builds `tag` unless an image of that tag was built from the same
    /// `input` (a hash of what it is built from, worked out once per tag
    /// and run); `arguments` writes the build context and returns the
    /// arguments for `podman build`.
    fn build_once(
        &self,
        tag: &str,
        input: impl FnOnce() -> String,
        arguments: impl FnOnce(&Path) -> Vec<String>,
    ) {
        let cell = Arc::clone(self.images.lock().unwrap().entry(tag.into()).or_default());
        cell.get_or_init(|| {
            let input = input();
            let label = format!("{{{{index .Config.Labels \"{INPUT_LABEL}\"}}}}");
            if self
                .output(&["image", "inspect", "--format", &label, tag])
                .as_deref()
                == Ok(input.as_str())
            {
                return;
            }
            let context = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
            let mut args: Vec<String> = ["build", "--quiet", "--tag", tag, "--label"]
                .map(String::from)
                .into();
            args.push(format!("{INPUT_LABEL}={input}"));
            args.extend(self.ulimits.iter().cloned());
            args.extend(arguments(context.path()));
            args.push(context.path().display().to_string());
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            if let Err(err) = self.output(&args) {
                panic!("{err}");
            }
        });
    }
}

/// What an image is built from, as a label value: a hash that changes
/// with any of `inputs` (std's SipHash, stable enough for a cache).
fn input_hash<const N: usize>(inputs: [Vec<u8>; N]) -> String {
    let mut hasher = DefaultHasher::new();
    inputs.hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

/// podman as root asks for nofile=1048576 (and nproc=1048576 once any
/// `--ulimit` is given), which may exceed this machine's hard limits, and
/// raising a hard limit needs CAP_SYS_RESOURCE, which a sandboxed root may
/// lack. So both are given, within the hard limits: nofile at most
/// 1048576, nproc at most 32768, the limit podman itself runs with here.
/// scripts/container-base.sh passes the same.
fn ulimits() -> [String; 4] {
    let hard = |resource| getrlimit(resource).map_or(u64::MAX, |(_, hard)| hard);
    let nofile = hard(Resource::RLIMIT_NOFILE).min(1_048_576);
    let nproc = hard(Resource::RLIMIT_NPROC).min(32_768);
    [
        "--ulimit".into(),
        format!("nofile={nofile}:{nofile}"),
        "--ulimit".into(),
        format!("nproc={nproc}:{nproc}"),
    ]
}

/// A running container, removed when dropped, even by a failed test.
struct Container {
    /// First, so that it is dropped first: removing the container ends
    /// the `podman logs` below.
    id: ContainerId,
    /// `podman logs --follow`, read as a step's own output: its lines, the
    /// address from its `server starting` line, and the volume.
    logs: Server,
}

/// A container, and the process that removes it.
///
/// The container is no child of ours: killed (SIGKILL, say), this test
/// binary would leave it running, and the kernel's parent-death signal
/// (`tools::harness::spawn_tied`) cannot reach it. So a shell started for
/// each container waits on a pipe from this process, and removes the
/// container once the pipe closes: when the container is dropped, or when
/// this process ends, however it ends.
struct ContainerId {
    podman: &'static Podman,
    id: String,
    remover: Child,
}

impl ContainerId {
    fn new(podman: &'static Podman, id: String) -> ContainerId {
        let remover = Command::new("/bin/sh")
            .args([
                "-c",
                "read -r _; exec \"$0\" rm --force --volumes --time 0 \"$1\"",
            ])
            .arg(&podman.program)
            .arg(&id)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start the remover of container {id}: {err}"));
        ContainerId {
            podman,
            id,
            remover,
        }
    }
}

impl Drop for ContainerId {
    fn drop(&mut self) {
        // The end of its standard input is its cue; the test ends once the
        // container is gone.
        drop(self.remover.stdin.take());
        let _ = self.remover.wait();
    }
}

impl Container {
    /// Runs `image` detached, on the host's network (the step binds a free
    /// port of 127.0.0.1), with a temporary directory as its `/data`
    /// volume, and waits for `server starting` in its log.
    #[track_caller]
    fn start(podman: &'static Podman, image: &str, options: &[&str]) -> Container {
        // The environment Launch sets goes to `podman logs`, which has no
        // use for it: the container's is given with --env below.
        let launch = Launch::binary(&format!("{image} in podman"), &podman.program);
        let volume = launch.db_path().parent().unwrap().to_owned();
        // The image's own user, uid 10001, writes the database there.
        fs::set_permissions(&volume, fs::Permissions::from_mode(0o777)).unwrap();
        let volume = format!("{}:/data", volume.display());
        let mut run = vec!["run", "--detach", "--network", "host", "--volume", &volume];
        run.extend(["--env", "HOST=127.0.0.1", "--env", "PORT=0"]);
        run.extend(podman.ulimits.iter().map(String::as_str));
        run.extend(options);
        run.push(image);
        let id = ContainerId::new(
            podman,
            podman.output(&run).unwrap_or_else(|err| panic!("{err}")),
        );
        let logs = launch.args(["logs", "--follow", &id.id]).start();
        Container { id, logs }
    }

    /// The name of the container's PID 1, as the kernel knows it: the
    /// process `podman stop` signals.
    #[track_caller]
    fn pid_1(&self) -> String {
        let pid = self
            .id
            .podman
            .output(&["inspect", "--format", "{{.State.Pid}}", &self.id.id]);
        let pid = pid.unwrap_or_else(|err| panic!("{err}"));
        let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        // `NSpid: 12345 1`: its pid here, then in the container's namespace.
        let in_namespace = status
            .lines()
            .find_map(|line| line.strip_prefix("NSpid:"))
            .and_then(|pids| pids.split_whitespace().last());
        assert_eq!(in_namespace, Some("1"), "process {pid}: {status}");
        fs::read_to_string(format!("/proc/{pid}/comm"))
            .unwrap()
            .trim()
            .to_owned()
    }

    /// `podman stop --time grace`: how long the command took.
    #[track_caller]
    fn stop(&mut self, grace: u64) -> Duration {
        let started = Instant::now();
        let grace = grace.to_string();
        let output = self
            .id
            .podman
            .output(&["stop", "--time", &grace, &self.id.id]);
        let took = started.elapsed();
        output.unwrap_or_else(|err| panic!("{err}"));
        println!(
            "{}: podman stop --time {grace} took {took:?}",
            self.logs.name
        );
        took
    }

    /// `podman kill --signal signal`.
    #[track_caller]
    fn kill(&self, signal: &str) {
        let id = &self.id.id;
        if let Err(err) = self.id.podman.output(&["kill", "--signal", signal, id]) {
            panic!("{err}");
        }
    }

    /// Waits at most `limit` for the container to exit; its exit code.
    #[track_caller]
    fn wait_exit(&mut self, limit: Duration) -> i32 {
        // `podman logs --follow` ends when the container does.
        self.logs.expect_exit(limit);
        self.exit_code()
    }

    /// The exit code of a container that has exited, as `podman inspect`
    /// reports it: 128 + the signal for one killed by a signal.
    #[track_caller]
    fn exit_code(&mut self) -> i32 {
        self.logs.expect_exit(Duration::from_secs(5));
        let format = "{{.State.Status}} {{.State.ExitCode}}";
        let state = self
            .id
            .podman
            .output(&["inspect", "--format", format, &self.id.id]);
        let state = state.unwrap_or_else(|err| panic!("{err}"));
        match state.split_once(' ') {
            Some(("exited", code)) => code.parse().unwrap(),
            _ => panic!("the container has not exited: {state}"),
        }
    }

    /// The whole log, read anew with `podman logs` once the container
    /// has exited: what a user reads afterwards.
    #[track_caller]
    fn logs_after_exit(&mut self) -> Vec<String> {
        self.logs.expect_exit(Duration::from_secs(5));
        let output = self
            .id
            .podman
            .command(&["logs", &self.id.id])
            .output()
            .expect("podman logs");
        // The step logs to standard output, which `podman logs` keeps
        // apart from standard error.
        assert!(output.status.success(), "podman logs: {output:?}");
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(String::from)
            .collect()
    }
}
