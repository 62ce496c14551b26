//! Shared helpers for the archive stories: a data directory with the `kyso` binary pointed at
//! it, signed PDFs to archive, and real Garage servers started through `.ci/garage.sh`.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The shared folder (fixtures), as .ci/env finds it.
pub fn shared_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("KYSO_SHARED") {
        return PathBuf::from(p);
    }
    let beside = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
    if beside.join("fixtures").is_dir() {
        beside
    } else {
        PathBuf::from("/work/shared")
    }
}

/// A 1-page PDF signed by pyHanko, made unique by an appended comment (as an incremental
/// update would), so every document has its own content address.
pub fn signed_pdf(n: usize) -> Vec<u8> {
    let base = std::fs::read(shared_dir().join("fixtures/external/pyhanko/valid-bb.pdf"))
        .expect("signed fixture valid-bb.pdf in the shared folder");
    let mut b = base;
    b.extend_from_slice(format!("\n% kyso archive test document {n}\n").as_bytes());
    b
}

/// A data directory and the environment `kyso` runs with.
pub struct Kyso {
    pub dir: tempfile::TempDir,
    pub env: BTreeMap<String, String>,
}

impl Kyso {
    /// A fresh data directory on the local store, quick retries.
    pub fn new() -> Kyso {
        let dir = tempfile::tempdir().unwrap();
        let mut env = BTreeMap::new();
        env.insert(
            "KYSO_DATA_DIR".into(),
            dir.path().join("data").display().to_string(),
        );
        env.insert("KYSO_ARCHIVE_RETRY_BASE_MS".into(), "50".into());
        env.insert("KYSO_ARCHIVE_RETRY_MAX_MS".into(), "400".into());
        env.insert("KYSO_ARCHIVE_POLL_MS".into(), "50".into());
        env.insert("KYSO_ARCHIVE_TIMEOUT_MS".into(), "10000".into());
        // A prefix of its own, so stories sharing one bucket never see each other's objects.
        env.insert(
            "KYSO_ARCHIVE_PREFIX".into(),
            format!("t{:016x}", random_u64()),
        );
        Kyso { dir, env }
    }

    /// Pointed at a Garage bucket.
    pub fn on_garage(garage: &Garage) -> Kyso {
        let mut k = Kyso::new();
        k.env.extend(garage.env.clone());
        k
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn set(&mut self, k: &str, v: &str) -> &mut Self {
        self.env.insert(k.into(), v.into());
        self
    }

    /// A `kyso` command with this environment (and no KYSO_* leaking in from outside).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_kyso"));
        for (k, _) in std::env::vars() {
            if k.starts_with("KYSO_") && k != "KYSO_SHARED" {
                c.env_remove(k);
            }
        }
        c.envs(&self.env).args(args);
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Runs and insists on success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "kyso {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Writes documents `range` to files and returns their paths.
    pub fn write_docs(&self, range: std::ops::Range<usize>) -> Vec<PathBuf> {
        let dir = self.dir.path().join("docs");
        std::fs::create_dir_all(&dir).unwrap();
        range
            .map(|n| {
                let p = dir.join(format!("doc-{n}.pdf"));
                std::fs::write(&p, signed_pdf(n)).unwrap();
                p
            })
            .collect()
    }

    /// `kyso archive put` for files; returns the keys it printed.
    pub fn put(&self, files: &[PathBuf], kind: &str) -> Vec<String> {
        let mut args = vec!["archive", "put", "--kind", kind, "--commune", "xa-ta-phin"];
        let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
        args.extend(names.iter().map(String::as_str));
        self.ok(&args)
            .lines()
            .map(|l| l.split(' ').nth(2).unwrap().to_owned())
            .collect()
    }

    /// `kyso archive status --json`.
    pub fn status(&self) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["archive", "status", "--json"])).unwrap()
    }

    pub fn counts(&self) -> (u64, u64, u64) {
        let s = self.status();
        (
            s["pending"].as_u64().unwrap(),
            s["failed"].as_u64().unwrap(),
            s["archived"].as_u64().unwrap(),
        )
    }
}

/// A long-running `kyso` process (the archive worker) whose stderr is read as it comes, by a
/// thread: a pipe nobody reads fills after 64 KiB and then blocks the process on its next log
/// line, which looks exactly like a stalled worker.
pub struct Background {
    child: std::process::Child,
    log: std::sync::Arc<std::sync::Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Background {
    pub fn spawn(mut command: Command) -> Background {
        use std::io::BufRead;
        let mut child = command
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = std::sync::Arc::clone(&log);
        let reader = std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        Background {
            child,
            log,
            reader: Some(reader),
        }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// What it wrote to stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Sends SIGTERM and waits; returns its exit status and everything it wrote to stderr.
    pub fn terminate(mut self) -> (std::process::ExitStatus, String) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let status = self.child.wait().unwrap();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        (status, self.log())
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP server on loopback that accepts connections and reads requests but never answers:
/// an S3 endpoint that is up but stuck (starting, overloaded, behind a broken proxy).
pub struct SilentServer {
    pub port: u16,
}

impl SilentServer {
    pub fn start() -> SilentServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                std::thread::spawn(move || {
                    use std::io::Read;
                    let mut buf = [0u8; 8192];
                    while matches!(conn.read(&mut buf), Ok(n) if n > 0) {}
                });
            }
        });
        SilentServer { port }
    }
}

/// A single-node Garage server (started and stopped by `.ci/garage.sh`): the test's own, or
/// the one `.ci/run` started (named by `KYSO_TEST_GARAGE_ENV`) for stories that do not disturb it.
pub struct Garage {
    state: tempfile::TempDir,
    owned: bool,
    pub env: BTreeMap<String, String>,
}

fn parse_env(text: &str) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for line in text.lines() {
        if let Some((k, v)) = line.trim_start_matches("export ").split_once('=')
            && k.starts_with("KYSO_ARCHIVE_")
        {
            env.insert(k.to_owned(), v.to_owned());
        }
    }
    env
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/garage.sh")
}

impl Garage {
    /// Starts a fresh instance with a bucket and key. Garage must be installed
    /// (`.ci/garage.sh install`, which `.ci/run` does).
    pub fn start() -> Garage {
        let state = tempfile::tempdir().unwrap();
        let mut g = Garage {
            state,
            owned: true,
            env: BTreeMap::new(),
        };
        let out = g.script(&["start"]);
        assert!(
            out.status.success(),
            "cannot start Garage (install it with `bash .ci/garage.sh install`): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        g.env = parse_env(&std::fs::read_to_string(g.state_dir().join("env")).unwrap());
        g
    }

    /// The instance `.ci/run` started, when there is one; otherwise a fresh one.
    pub fn shared() -> Garage {
        if let Some(file) = std::env::var_os("KYSO_TEST_GARAGE_ENV")
            && let Ok(text) = std::fs::read_to_string(&file)
        {
            return Garage {
                state: tempfile::tempdir().unwrap(),
                owned: false,
                env: parse_env(&text),
            };
        }
        Garage::start()
    }

    pub fn state_dir(&self) -> PathBuf {
        self.state.path().join("garage")
    }

    fn script(&self, args: &[&str]) -> Output {
        Command::new("bash")
            .arg(script())
            .args(args)
            .env("GARAGE_STATE", self.state_dir())
            .output()
            .unwrap()
    }

    /// Stops the server process; data and settings stay.
    pub fn pause(&self) {
        let out = self.script(&["pause"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts it again with the same data, ports and key.
    pub fn resume(&self) {
        let out = self.script(&["resume"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The blocks Garage keeps on disk.
    pub fn data_dir(&self) -> PathBuf {
        self.state_dir().join("data")
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        if self.owned {
            let _ = self.script(&["stop"]);
        }
    }
}

/// The settings `kyso` derives from this environment (for library-level checks).
pub fn settings_of(k: &Kyso) -> kyso::config::Settings {
    let mut s = kyso::config::Settings::default();
    let env = k.env.clone();
    s.apply_env(|name| env.get(name).cloned()).unwrap();
    s
}

/// Every outbox row: (key, state).
pub fn outbox_rows(k: &Kyso) -> Vec<(String, String)> {
    let s = settings_of(k);
    let reg = kyso::registry::Registry::open(&s.registry_path()).unwrap();
    kyso::archive::Outbox::new(&s)
        .all(&reg.db())
        .unwrap()
        .into_iter()
        .map(|i| (i.key.to_string(), i.state.as_str().to_owned()))
        .collect()
}

/// Every object in the store under the archive prefix.
pub fn store_keys(k: &Kyso) -> Vec<(String, u64)> {
    use kyso::archive::ArchiveStore;
    let s = settings_of(k);
    let store = kyso::archive::AnyStore::open(&s).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(store.list(&format!("{}/", s.archive.prefix)))
        .unwrap()
}

/// A random number (seeded from the OS through std's hasher keys).
pub fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

/// Signing and archiving killed with SIGKILL at random moments, `rounds` times; then every
/// document reported recorded must be pending or archived, a drain must archive all of them,
/// their bytes must verify, and the store must hold exactly what the registry lists.
pub fn kill_loop(k: &Kyso, rounds: usize) {
    use std::io::Read;
    use std::process::Stdio;
    use std::time::Duration;
    let per_round = 8;
    let files = k.write_docs(0..rounds * per_round);
    let mut reported: Vec<String> = Vec::new();
    let mut kills = 0;
    for r in 0..rounds {
        let chunk = &files[r * per_round..(r + 1) * per_round];
        let mut args: Vec<String> = [
            "archive",
            "put",
            "--kind",
            "signature",
            "--commune",
            "xa-ta-phin",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(chunk.iter().map(|p| p.display().to_string()));
        let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut producer = k
            .command(&arg_refs)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut worker = k
            .command(&["archive", "run"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(random_u64() % 400));
        // Mostly both at once; sometimes only one of them, leaving the other to finish.
        match random_u64() % 4 {
            0 => {
                producer.kill().unwrap();
                kills += 1;
            }
            1 => {
                worker.kill().unwrap();
                kills += 1;
            }
            _ => {
                producer.kill().unwrap();
                worker.kill().unwrap();
                kills += 2;
            }
        }
        let _ = producer.wait();
        let mut out = String::new();
        producer
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        // A line is printed only after the document is durable and committed.
        reported.extend(
            out.lines()
                .filter_map(|l| l.split(' ').nth(2))
                .map(str::to_owned),
        );
        let _ = worker.kill();
        let _ = worker.wait();
    }
    assert!(kills >= rounds, "only {kills} kills");
    assert!(
        !reported.is_empty(),
        "no document was ever reported recorded; the kills came too early"
    );

    // After the crashes: every reported document is known and pending, failed or archived.
    let rows: std::collections::HashMap<String, String> = outbox_rows(k).into_iter().collect();
    for key in &reported {
        let state = rows
            .get(key)
            .unwrap_or_else(|| panic!("reported document {key} is missing from the registry"));
        assert!(
            ["pending", "failed", "archived"].contains(&state.as_str()),
            "{key}: {state}"
        );
    }

    // Restart: the backlog drains, every byte verifies, registry and store agree.
    let out = k.run(&["archive", "drain", "--passes", "5"]);
    assert!(
        out.status.success(),
        "drain after kills: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    eprintln!(
        "{rounds} rounds, {kills} kills, {} documents reported recorded, {} rows; final drain: {}",
        reported.len(),
        rows.len(),
        String::from_utf8_lossy(&out.stdout).trim()
    );
    let (pending, failed, archived) = k.counts();
    assert_eq!((pending, failed), (0, 0));
    assert_eq!(archived as usize, rows.len());
    let verify = k.ok(&["archive", "verify"]);
    assert!(verify.contains(": 0 bad"), "{verify}");
    let registry_keys: std::collections::BTreeSet<String> =
        outbox_rows(k).into_iter().map(|(key, _)| key).collect();
    let stored: Vec<String> = store_keys(k).into_iter().map(|(key, _)| key).collect();
    let stored_set: std::collections::BTreeSet<String> = stored.iter().cloned().collect();
    assert_eq!(stored.len(), stored_set.len(), "duplicate objects");
    assert_eq!(registry_keys, stored_set, "registry and store disagree");
    for key in &reported {
        assert!(stored_set.contains(key), "{key} reported but not archived");
    }
    // Nothing ever recorded that the test did not submit.
    let submitted: std::collections::BTreeSet<Vec<u8>> =
        (0..rounds * per_round).map(signed_pdf).collect();
    assert!(registry_keys.len() <= submitted.len());
}
