//! The tutorial's tests, in one binary, so that they wait side by side:
//! most of their time is spent waiting for a drain, a deadline or a grace
//! period, and cargo runs test binaries one after the other.
//!
//! - Each step stopped as users stop it, on the real binary: by real
//!   signals, every check that `tools::matrix` declares for a step, named
//!   `stepN::what_a_user_sees`, and the same for the one-file example
//!   (`graceful_shutdown::…`); as PID 1 of a PID namespace (`pid1::…`);
//!   behind HAProxy (`rollout::…`); in a container under podman
//!   (`container::…`). The workbook's lessons run the very same checks on
//!   the learner's binaries.
//! - The rest, a file each: the routes (`api::…`), broken and slow clients
//!   (`clients::…`), bad settings (`config::…`), SIGKILL under load
//!   (`crash::…`), the deployment files (`deploy::…`), the example's routes
//!   (`example::…`), the visit buffer (`visits::…`), and no server left
//!   behind by a killed test binary (`orphans::…`).
//!
//! A filter picks them by name: `cargo test --test steps step3::` runs
//! step 3's checks, `cargo test --test steps clients::` the client tests;
//! `cargo test --test steps -- --list` lists them all. The harness is
//! `libtest2-mimic`, which takes trials from a table (the checks) and lets
//! a test report itself ignored at run time (a missing podman); it never
//! captures output, so `--nocapture` changes nothing.

/// The trials of the module it is used in, named as the standard harness
/// would name its `#[test]`s (`clients::sweep::idle_timeout_…`):
/// `trials![a, async b, async(multi_thread) c, #[ignore = "why"] d]`. An
/// `async` test runs on a tokio runtime of its own, as under
/// `#[tokio::test]`; an ignored one runs only when asked (`--ignored`). A
/// test function left out of the list is dead code, which the build
/// warns of.
macro_rules! trials {
    (@collect [$($done:expr,)*]) => {
        vec![$($done),*]
    };
    (@collect [$($done:expr,)*] #[ignore = $why:literal] $test:ident $(, $($rest:tt)*)?) => {
        trials!(@collect [
            $($done,)*
            crate::trial(module_path!(), stringify!($test), Some($why), $test),
        ] $($($rest)*)?)
    };
    (@collect [$($done:expr,)*] async(multi_thread) $test:ident $(, $($rest:tt)*)?) => {
        trials!(@collect [
            $($done,)*
            crate::trial(module_path!(), stringify!($test), None, || {
                crate::block_on(tokio::runtime::Builder::new_multi_thread(), $test())
            }),
        ] $($($rest)*)?)
    };
    (@collect [$($done:expr,)*] async $test:ident $(, $($rest:tt)*)?) => {
        trials!(@collect [
            $($done,)*
            crate::trial(module_path!(), stringify!($test), None, || {
                crate::block_on(tokio::runtime::Builder::new_current_thread(), $test())
            }),
        ] $($($rest)*)?)
    };
    (@collect [$($done:expr,)*] $test:ident $(, $($rest:tt)*)?) => {
        trials!(@collect [
            $($done,)*
            crate::trial(module_path!(), stringify!($test), None, $test),
        ] $($($rest)*)?)
    };
    ($($tests:tt)*) => {
        trials!(@collect [] $($tests)*)
    };
}

#[cfg(unix)]
mod api;
#[cfg(unix)]
mod clients;
#[cfg(unix)]
mod config;
#[cfg(unix)]
mod container;
#[cfg(unix)]
mod crash;
#[cfg(unix)]
mod deploy;
#[cfg(unix)]
mod example;
#[cfg(unix)]
mod orphans;
#[cfg(unix)]
mod pid1;
#[cfg(unix)]
mod rollout;
#[cfg(unix)]
mod visits;

/// Begins the message of a panic a test causes on purpose (a handler's bug,
/// to see it answered 500), which is then not printed: the standard
/// harness would have kept it out of sight with the rest of a passing
/// test's output, and this one captures nothing.
#[cfg(unix)]
const ON_PURPOSE: &str = "on purpose: ";

fn main() {
    #[cfg(unix)]
    {
        use tools::matrix::{EXAMPLE, STEPS};
        // When `orphans::…` started this binary to kill it, that is all it does.
        orphans::hold_a_server_if_asked();
        let report = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |panic| {
            let message = panic.payload().downcast_ref::<String>();
            if !message.is_some_and(|message| message.starts_with(ON_PURPOSE)) {
                report(panic);
            }
        }));
        // A plain run (no filter, no --list) checks the example, which is
        // built by the first check that needs it: cargo takes a second or
        // more even when there is nothing to build, and a dozen checks
        // would wait. Begun now, that overlaps the checks that come first;
        // an error is reported by each check of the example.
        if std::env::args()
            .skip(1)
            .all(|arg| arg.starts_with("--") && arg != "--list")
        {
            std::thread::spawn(|| EXAMPLE.try_path());
        }
        let mut binaries = STEPS.to_vec();
        binaries.push(EXAMPLE);
        let more = [
            api::trials(),
            clients::trials(),
            config::trials(),
            container::trials(),
            crash::trials(),
            deploy::trials(),
            example::trials(),
            orphans::trials(),
            pid1::trials(),
            rollout::trials(),
            visits::trials(),
        ]
        .into_iter()
        .flatten()
        .collect();
        tools::matrix::run_checks_with(&binaries, more);
    }
}

/// Test `name` of module `module` (`steps::clients::sweep`) as a trial
/// named `clients::sweep::name`; with `ignored`, it runs only when asked.
#[cfg(unix)]
fn trial(
    module: &str,
    name: &str,
    ignored: Option<&'static str>,
    test: fn(),
) -> libtest2_mimic::Trial {
    let module = module.split_once("::").map_or("", |(_, module)| module);
    libtest2_mimic::Trial::test(format!("{module}::{name}"), move |context| {
        if let Some(reason) = ignored {
            context.ignore_for(reason)?;
        }
        test();
        Ok(())
    })
}

/// Runs an async test to its end on a runtime of its own, made by
/// `builder`, as `#[tokio::test]` does.
#[cfg(unix)]
fn block_on(mut builder: tokio::runtime::Builder, test: impl Future<Output = ()>) {
    builder
        .enable_all()
        .build()
        .expect("a tokio runtime for the test")
        .block_on(test);
}
