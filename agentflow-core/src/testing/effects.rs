//! Side effects exactly once, with real processes: worker processes post to a fake vendor over
//! HTTP from a journaled step, and are killed with SIGKILL or raced against each other, in every
//! durability mode. The vendor records every post with its idempotency key and answers lookups
//! by key (what a reconcile hook asks).
//!
//! A saver's crate provides a worker binary (one of its examples) that opens its saver and
//! calls [`worker_main`], and tests that call the scenarios with an [`EffectsWorker`]:
//!
//! - [`kill_between_effect_and_result`]: the vendor accepts the post and never answers; the
//!   worker is killed. A new process resuming the thread finds the step's outcome ambiguous:
//!   with a reconcile hook it finds the post by its key and does not post again; without one it
//!   posts again with the same key.
//! - [`kill_after_result`]: killed after the step's result was recorded: never posted again.
//! - [`racing_resumers`]: two processes resume one paused checkpoint at once: one post; a
//!   process that finds the step claimed fails with a conflict before posting.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::checkpoint::Checkpointer;
use crate::{BoxError, Durability, END, NodeError, RunConfig, RunInput, START, State, StateGraph};

/// The claim lease the workers use: short, so that a resume after a kill waits little.
pub const WORKER_LEASE: Duration = Duration::from_millis(1000);

/// The state of the workers' graph.
#[derive(State, Clone, Default, Debug, PartialEq, Serialize, Deserialize)]
pub struct Posting {
    /// The vendor's receipt of the post.
    pub receipt: String,
}

/// What the vendor does with posts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Answers at once.
    Now,
    /// Records the post, then never answers (the caller is killed or times out).
    Never,
    /// Records the post, answers after a while.
    After(Duration),
}

#[derive(Default)]
struct VendorBook {
    /// (idempotency key, receipt) of every post, in arrival order.
    posts: Vec<(String, String)>,
    lookups: usize,
}

/// A fake vendor API on loopback: `POST /post?key=K` records a post and answers its receipt,
/// `GET /lookup?key=K` answers the receipt of the first post with key `K`, or 404.
pub struct FakeVendor {
    addr: std::net::SocketAddr,
    book: Arc<Mutex<VendorBook>>,
    answer: Arc<Mutex<Answer>>,
    server: tokio::task::JoinHandle<()>,
}

impl FakeVendor {
    /// Starts the vendor on a free port.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake vendor");
        let addr = listener.local_addr().expect("the vendor's address");
        let book = Arc::new(Mutex::new(VendorBook::default()));
        let answer = Arc::new(Mutex::new(Answer::Now));
        let (b, a) = (book.clone(), answer.clone());
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, b.clone(), a.clone()));
            }
        });
        FakeVendor {
            addr,
            book,
            answer,
            server,
        }
    }

    /// Where workers reach it (`host:port`).
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// How the next posts are answered.
    pub fn answer(&self, answer: Answer) {
        *self.answer.lock().unwrap() = answer;
    }

    /// Every post so far: (idempotency key, receipt).
    pub fn posts(&self) -> Vec<(String, String)> {
        self.book.lock().unwrap().posts.clone()
    }

    /// How many lookups were asked.
    pub fn lookups(&self) -> usize {
        self.book.lock().unwrap().lookups
    }
}

impl Drop for FakeVendor {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// One request: its method and path (requests carry no body).
async fn read_request(stream: &mut TcpStream) -> Option<(String, String)> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buffer.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 || buffer.len() > 64 * 1024 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&buffer);
    let mut first = text.lines().next()?.split_whitespace();
    Some((first.next()?.to_owned(), first.next()?.to_owned()))
}

fn key_of(path: &str) -> String {
    path.split_once("key=")
        .map(|(_, k)| k.split('&').next().unwrap_or_default().to_owned())
        .unwrap_or_default()
}

async fn serve(mut stream: TcpStream, book: Arc<Mutex<VendorBook>>, answer: Arc<Mutex<Answer>>) {
    let Some((method, path)) = read_request(&mut stream).await else {
        return;
    };
    let key = key_of(&path);
    let (status, body) = if method == "POST" && path.starts_with("/post") {
        let receipt = {
            let mut b = book.lock().unwrap();
            let receipt = format!("receipt-{}", b.posts.len() + 1);
            b.posts.push((key, receipt.clone()));
            receipt
        };
        let answer = *answer.lock().unwrap();
        match answer {
            Answer::Now => {}
            Answer::Never => {
                // Hold the connection: the caller waits until it is killed.
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return;
            }
            Answer::After(wait) => tokio::time::sleep(wait).await,
        }
        (200, receipt)
    } else if method == "GET" && path.starts_with("/lookup") {
        let mut b = book.lock().unwrap();
        b.lookups += 1;
        match b.posts.iter().find(|(k, _)| *k == key) {
            Some((_, receipt)) => (200, receipt.clone()),
            None => (404, String::new()),
        }
    } else {
        (400, String::new())
    };
    let response = format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// A request to the vendor at `addr`: its status and body.
async fn call(addr: &str, method: &str, path: &str) -> Result<(u16, String), BoxError> {
    let mut stream = TcpStream::connect(addr).await?;
    let request =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").ok_or("no HTTP response")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("no HTTP status")?;
    Ok((status, body.to_owned()))
}

fn append(path: &Path, line: &str) -> Result<(), NodeError> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(NodeError::terminal)?;
    writeln!(file, "{line}").map_err(NodeError::terminal)?;
    file.sync_data().map_err(NodeError::terminal)
}

/// The workers' graph: one node, `post`, that posts to the vendor in a journaled step (looking
/// an earlier post up by key first when `reconcile`), logs `posted` to `log`, then sleeps
/// `after`.
pub fn posting_graph(vendor: String, log: PathBuf, reconcile: bool, after: Duration) -> StateGraph<Posting> {
    let mut graph = StateGraph::<Posting>::new();
    graph.add_node("post", move |_, ctx| {
        let (vendor, log) = (vendor.clone(), log.clone());
        async move {
            append(&log, "post")?;
            let v = vendor.clone();
            let effect = move |key: String| async move {
                let (status, body) = call(&v, "POST", &format!("/post?key={key}"))
                    .await
                    .map_err(NodeError::retryable)?;
                match status {
                    200 => Ok(body),
                    other => Err(NodeError::terminal(format!("the vendor answered {other}"))),
                }
            };
            let receipt: String = if reconcile {
                let lookup = |key: String| async move {
                    let (status, body) = call(&vendor, "GET", &format!("/lookup?key={key}"))
                        .await
                        .map_err(NodeError::retryable)?;
                    Ok((status == 200).then_some(body))
                };
                ctx.step_reconciled("post", lookup, effect).await?
            } else {
                ctx.step("post", effect).await?
            };
            append(&log, "posted")?;
            tokio::time::sleep(after).await;
            Ok(PostingUpdate::default().receipt(receipt))
        }
    });
    graph.add_edge(START, "post");
    graph.add_edge("post", END);
    graph
}

/// The durability mode named `sync`, `async` or `exit` (how workers take it as an argument).
pub fn parse_durability(name: &str) -> Result<Durability, BoxError> {
    Ok(match name {
        "sync" => Durability::Sync,
        "async" => Durability::Async,
        "exit" => Durability::Exit,
        other => return Err(format!("unknown durability `{other}`").into()),
    })
}

/// The worker's body: `args` are
/// `<vendor> <log> <thread> <start|pause|resume> <sync|async|exit> <reconcile|plain> <after-ms>`.
/// Returns the final state as JSON; a run that lost a race fails with an error that says
/// `conflict`.
pub async fn worker_main(saver: Arc<dyn Checkpointer>, args: &[String]) -> Result<String, BoxError> {
    let [vendor, log, thread, action, mode, reconcile, after_ms] = args else {
        return Err(
            "usage: <vendor> <log> <thread> <start|pause|resume> <sync|async|exit> \
                    <reconcile|plain> <after-ms>"
                .into(),
        );
    };
    let after = Duration::from_millis(after_ms.parse()?);
    let graph = posting_graph(vendor.clone(), log.into(), reconcile == "reconcile", after)
        .compile()?
        .with_shared_checkpointer(saver)
        .with_durability(parse_durability(mode)?)
        .with_intent_lease(WORKER_LEASE);
    let config = RunConfig::new().thread_id(thread.as_str());
    let out = match action.as_str() {
        "start" => graph.invoke(PostingUpdate::default(), config).await,
        "pause" => {
            graph
                .invoke(PostingUpdate::default(), config.interrupt_before(["post"]))
                .await
        }
        "resume" => graph.invoke(RunInput::Continue, config).await,
        other => return Err(format!("unknown action `{other}`").into()),
    };
    match out {
        Ok(out) => Ok(serde_json::to_string(&out.state)?),
        Err(e) if e.is_conflict() => Err(format!("conflict: {e}").into()),
        Err(e) => Err(e.into()),
    }
}

/// How to start a worker: the program and the arguments that open its saver.
#[derive(Clone, Debug)]
pub struct EffectsWorker {
    /// The worker binary (see [`crash::Worker::example`](super::crash::Worker::example)).
    pub program: PathBuf,
    /// Arguments before the scenario's own.
    pub saver_args: Vec<String>,
    /// A directory for the logs.
    pub dir: PathBuf,
}

/// How a worker process ended.
#[derive(Debug)]
pub struct Ended {
    /// Whether it exited successfully.
    pub success: bool,
    /// Its standard output (the final state).
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

impl EffectsWorker {
    fn command(
        &self,
        vendor: &FakeVendor,
        thread: &str,
        action: &str,
        mode: Durability,
        reconcile: bool,
        after_ms: u64,
    ) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.saver_args)
            .arg(vendor.address())
            .arg(self.log(thread))
            .arg(thread)
            .arg(action)
            .arg(durability_name(mode))
            .arg(if reconcile { "reconcile" } else { "plain" })
            .arg(after_ms.to_string());
        cmd
    }

    fn log(&self, thread: &str) -> PathBuf {
        self.dir.join(format!("{thread}.log"))
    }

    fn logged(&self, thread: &str, line: &str) -> usize {
        std::fs::read_to_string(self.log(thread))
            .unwrap_or_default()
            .lines()
            .filter(|l| *l == line)
            .count()
    }

    /// Runs a worker to its end.
    async fn run(
        &self,
        vendor: &FakeVendor,
        thread: &str,
        action: &str,
        mode: Durability,
        reconcile: bool,
    ) -> Ended {
        run_process(self.command(vendor, thread, action, mode, reconcile, 0)).await
    }

    /// Starts a worker, waits until `ready` holds, then kills it with SIGKILL.
    async fn kill_when(
        &self,
        vendor: &FakeVendor,
        thread: &str,
        mode: Durability,
        reconcile: bool,
        after_ms: u64,
        ready: impl Fn() -> bool,
    ) {
        let cmd = self.command(vendor, thread, "start", mode, reconcile, after_ms);
        kill_process_when(cmd, &format!("{mode:?}"), ready).await;
    }
}

/// The name of `mode` that [`parse_durability`] reads.
pub fn durability_name(mode: Durability) -> &'static str {
    match mode {
        Durability::Sync => "sync",
        Durability::Async => "async",
        Durability::Exit => "exit",
    }
}

/// Runs `cmd` (its output piped) to its end, in a blocking task so that a test can run several
/// at once and keep serving its fakes meanwhile.
pub async fn run_process(mut cmd: Command) -> Ended {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("spawn the worker"))
        .await
        .expect("wait for the worker");
    Ended {
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Starts `cmd`, waits (up to 30 s) until `ready` holds, then kills the process with SIGKILL.
/// Panics, naming `label`, if the process exits before `ready` holds.
pub async fn kill_process_when(mut cmd: Command, label: &str, ready: impl Fn() -> bool) {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn the worker");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready() {
        if let Ok(Some(status)) = child.try_wait() {
            let mut stderr = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
            }
            panic!("{label}: the worker exited early ({status}): {stderr}");
        }
        assert!(Instant::now() < deadline, "{label}: the worker never got there");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().expect("SIGKILL the worker");
    let status = child.wait().expect("reap the worker");
    assert!(!status.success(), "{label}: killed, not finished: {status}");
}

fn fresh_thread(mode: Durability) -> String {
    format!("effects-{mode:?}-{}", uuid::Uuid::new_v4()).to_lowercase()
}

/// Killed after the vendor accepted the post and before its result was recorded, in `mode`:
/// a new process resuming the thread (once the dead runner's lease expired) reconciles and does
/// not post again (`reconcile`), or posts again with the same key (plain `ctx.step`). Either
/// way the step then completes and is never run again.
pub async fn kill_between_effect_and_result(worker: &EffectsWorker, mode: Durability, reconcile: bool) {
    std::fs::create_dir_all(&worker.dir).expect("log directory");
    let vendor = FakeVendor::start().await;
    let thread = fresh_thread(mode);
    vendor.answer(Answer::Never);
    worker
        .kill_when(&vendor, &thread, mode, reconcile, 0, || vendor.posts().len() == 1)
        .await;
    vendor.answer(Answer::Now);
    tokio::time::sleep(WORKER_LEASE + Duration::from_millis(200)).await;

    let resumed = worker.run(&vendor, &thread, "resume", mode, reconcile).await;
    assert!(resumed.success, "{mode:?}: the resume failed: {}", resumed.stderr);
    let posts = vendor.posts();
    if reconcile {
        assert_eq!(
            posts.len(),
            1,
            "{mode:?}: reconciled, not posted again: {posts:?}"
        );
        assert_eq!(vendor.lookups(), 1, "{mode:?}: looked up once");
        assert!(
            resumed.stdout.contains("receipt-1"),
            "{mode:?}: {}",
            resumed.stdout
        );
    } else {
        assert_eq!(posts.len(), 2, "{mode:?}: posted again: {posts:?}");
        assert_eq!(posts[0].0, posts[1].0, "{mode:?}: with the same idempotency key");
        assert!(
            resumed.stdout.contains("receipt-2"),
            "{mode:?}: {}",
            resumed.stdout
        );
    }
    assert_eq!(worker.logged(&thread, "posted"), 1);

    // Completed: a further resume runs nothing.
    let again = worker.run(&vendor, &thread, "resume", mode, reconcile).await;
    assert!(again.success, "{mode:?}: {}", again.stderr);
    assert_eq!(vendor.posts(), posts, "{mode:?}: never posted again");
}

/// Killed after the step's result was recorded (the node sleeps after it), in `mode`: the
/// resumed node gets the recorded receipt and never posts again, without waiting for a lease.
pub async fn kill_after_result(worker: &EffectsWorker, mode: Durability) {
    std::fs::create_dir_all(&worker.dir).expect("log directory");
    let vendor = FakeVendor::start().await;
    let thread = fresh_thread(mode);
    worker
        .kill_when(&vendor, &thread, mode, false, 60_000, || {
            worker.logged(&thread, "posted") == 1
        })
        .await;
    assert_eq!(vendor.posts().len(), 1);
    let resumed = worker.run(&vendor, &thread, "resume", mode, false).await;
    assert!(resumed.success, "{mode:?}: the resume failed: {}", resumed.stderr);
    assert!(
        resumed.stdout.contains("receipt-1"),
        "{mode:?}: {}",
        resumed.stdout
    );
    assert_eq!(vendor.posts().len(), 1, "{mode:?}: never posted again");
    assert_eq!(worker.logged(&thread, "post"), 2, "{mode:?}: the node ran again");
}

/// Two processes resume one paused checkpoint at once, in `mode`, while the vendor takes its
/// time to answer: one post; every process that did not finish failed with a conflict.
pub async fn racing_resumers(worker: &EffectsWorker, mode: Durability) {
    std::fs::create_dir_all(&worker.dir).expect("log directory");
    let vendor = FakeVendor::start().await;
    let thread = fresh_thread(mode);
    let paused = worker.run(&vendor, &thread, "pause", mode, false).await;
    assert!(paused.success, "{mode:?}: {}", paused.stderr);
    assert!(vendor.posts().is_empty());
    vendor.answer(Answer::After(Duration::from_millis(1500)));
    let (a, b) = tokio::join!(
        worker.run(&vendor, &thread, "resume", mode, false),
        worker.run(&vendor, &thread, "resume", mode, false)
    );
    assert_eq!(vendor.posts().len(), 1, "{mode:?}: one post: {a:?} {b:?}");
    let finished = [&a, &b].iter().filter(|e| e.success).count();
    assert!(finished >= 1, "{mode:?}: a runner finished: {a:?} {b:?}");
    for ended in [&a, &b] {
        if !ended.success {
            assert!(
                ended.stderr.contains("conflict"),
                "{mode:?}: lost with a conflict: {ended:?}"
            );
        }
    }
}
