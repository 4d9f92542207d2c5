//! The Python package's pytest suite (`python/tests/test_*.py`), run by `cargo test`.
//!
//! It makes a virtual environment in `target/pytest/venv` (once), installs numpy, scipy, pandas, pytest
//! and maturin into it from PyPI, installs `./python` with pip (the command the README gives
//! users, built with cargo's dev profile into the workspace's `target/`, which cargo does not
//! lock while tests run; cargo builds the package's dependencies again for it, since it unifies
//! their features for this one package, not the workspace), then runs pytest. Without a Python 3 with
//! `venv`, or without the package registry, it skips locally and fails under `CI`: a green CI that
//! skipped would be a lie. `AISLE_PYTHON` names the interpreter (default `python3`). The client's
//! tests run `target/debug/aisle` (`AISLE_BIN`), which `cargo test --workspace` builds.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// What the suite needs besides the package itself.
const REQUIREMENTS: [&str; 5] = ["numpy>=1.21", "scipy>=1.7", "pandas>=1.3", "pytest>=7", "maturin>=1.9,<2"];

fn run(what: &str, cmd: &mut Command) -> Result<Output, String> {
    let out = cmd.output().map_err(|e| format!("{what}: cannot start: {e}"))?;
    if out.status.success() {
        return Ok(out);
    }
    Err(format!(
        "{what}: {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

/// The environment's interpreter, made and provisioned on first use.
fn venv(target: &Path) -> Result<PathBuf, String> {
    let venv = target.join("venv");
    let python = venv.join("bin").join("python");
    let ready = venv.join(".requirements");
    if !python.exists() {
        let base = std::env::var("AISLE_PYTHON").unwrap_or_else(|_| "python3".to_owned());
        run("python -m venv", Command::new(base).args(["-m", "venv"]).arg(&venv))?;
    }
    if std::fs::read_to_string(&ready).ok().as_deref() != Some(&REQUIREMENTS.join("\n")) {
        run(
            "pip install (the suite's requirements)",
            Command::new(&python)
                .args(["-m", "pip", "install", "-q", "--disable-pip-version-check"])
                .args(REQUIREMENTS),
        )?;
        std::fs::write(&ready, REQUIREMENTS.join("\n")).map_err(|e| e.to_string())?;
    }
    Ok(python)
}

/// `PATH` with the environment's `bin/` first, where pip's build backend finds `maturin`.
fn with_venv_path(python: &Path) -> std::ffi::OsString {
    let bin = python.parent().map(Path::to_path_buf).unwrap_or_default();
    let rest = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(&rest))).unwrap_or(rest)
}

/// The `aisle` binary `cargo test --workspace` builds (for the CLI's tests), which the client's
/// tests serve with; None when it is not built (`cargo test -p aisle-python` alone), and then
/// those tests skip, except under `CI`.
fn server_binary(package: &Path) -> Option<PathBuf> {
    let binary = package.join("..").join("target").join("debug").join("aisle");
    binary.exists().then_some(binary)
}

#[test]
#[expect(clippy::print_stderr, reason = "the test says that it skipped, and why")]
fn the_python_package_passes_its_pytest_suite() {
    let package = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = package.join("..").join("target").join("pytest");
    let python = match venv(&target) {
        Ok(p) => p,
        Err(e) => {
            assert!(std::env::var_os("CI").is_none(), "CI is set, so the pytest suite must run: {e}");
            eprintln!("skipped: no Python environment for the pytest suite: {e}");
            return;
        }
    };
    let install = run(
        "pip install ./python",
        Command::new(&python)
            .args(["-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-build-isolation"])
            .arg(package)
            .env("PATH", with_venv_path(&python))
            .env("MATURIN_PEP517_ARGS", "--profile dev"),
    );
    if let Err(e) = install {
        panic!("{e}");
    }
    let tests = run(
        "pytest",
        // From outside the package folder, so that `aisle` is the installed package (with its
        // extension module), not the source folder beside the tests.
        Command::new(&python)
            .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
            .arg(package.join("tests"))
            .envs(server_binary(package).map(|b| ("AISLE_BIN", b)))
            .current_dir(&target),
    );
    if let Err(e) = tests {
        panic!("{e}");
    }
}
