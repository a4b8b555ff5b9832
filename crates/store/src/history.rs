//! Call history in SQLite (WAL, migrations through `user_version`).
//!
//! One row per call, written when the call starts (state `ringing`, then
//! `active`) and completed when it ends (`ended`), so a crash mid-call loses
//! nothing: the next start marks such rows `interrupted`, with a reason. A database that cannot be
//! opened or read (a disk error, a file that is not ours) is moved aside —
//! not deleted — and a fresh one is made; the caller gets a sentence to show.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::settings_file::Loaded;

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("the call history could not be opened at {path}: {reason}")]
    Open { path: PathBuf, reason: String },
    #[error("the call history could not be read or written: {0}")]
    Db(#[from] rusqlite::Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    In,
    Out,
}

impl Direction {
    fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }
}

/// Which calls to list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HistoryFilter {
    #[default]
    All,
    /// Incoming calls never answered (declined, given up, Do Not Disturb).
    Missed,
    /// Incoming calls that were answered.
    Incoming,
    Outgoing,
}

/// One finished call, as it is written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallRecord {
    pub call_id: String,
    pub account: String,
    pub remote: String,
    pub remote_name: Option<String>,
    pub direction: Direction,
    /// ms since the Unix epoch.
    pub started_at: u64,
    pub connected_at: Option<u64>,
    pub ended_at: u64,
    pub end_reason: String,
    pub end_code: Option<u16>,
    pub missed: bool,
}

/// A stored call with its row id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    pub id: i64,
    #[serde(flatten)]
    pub record: CallRecord,
}

/// Most rows one `list` returns.
pub const MAX_LIMIT: u32 = 1000;

/// Each step takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &["CREATE TABLE calls (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        call_id TEXT NOT NULL,
        account TEXT NOT NULL,
        remote TEXT NOT NULL,
        remote_name TEXT,
        direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
        started_at INTEGER NOT NULL,
        connected_at INTEGER,
        ended_at INTEGER NOT NULL,
        end_reason TEXT NOT NULL,
        end_code INTEGER,
        missed INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX calls_started ON calls (started_at DESC);",
    // Rows are written when a call starts; the ones of before were all finished.
    "ALTER TABLE calls ADD COLUMN state TEXT NOT NULL DEFAULT 'ended'"];

/// The end reason of a call still going on.
pub const IN_PROGRESS_REASON: &str = "In progress";
/// The end reason of a call that was going on when Homeline stopped.
pub const INTERRUPTED_REASON: &str = "Homeline stopped during this call.";

/// Where a history row stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RowState {
    /// Written at the start, not answered yet.
    Ringing,
    /// Answered and going on.
    Active,
    Ended,
    /// Homeline stopped (a crash, a power cut) before the call ended.
    Interrupted,
}

impl RowState {
    fn as_str(self) -> &'static str {
        match self {
            RowState::Ringing => "ringing",
            RowState::Active => "active",
            RowState::Ended => "ended",
            RowState::Interrupted => "interrupted",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "ringing" => RowState::Ringing,
            "active" => RowState::Active,
            "interrupted" => RowState::Interrupted,
            _ => RowState::Ended,
        }
    }
}

pub struct History {
    conn: Mutex<Connection>,
    path: Option<PathBuf>,
}

impl std::fmt::Debug for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("History").field("path", &self.path).finish_non_exhaustive()
    }
}

impl History {
    /// Open (or create, folders included) the history at `path`. An unusable
    /// database is moved aside and a fresh one made, with a warning.
    pub fn open(path: &Path) -> Result<Loaded<History>, HistoryError> {
        let fail = |reason: String| HistoryError::Open { path: path.to_path_buf(), reason };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
        }
        match Connection::open(path).map_err(|e| e.to_string()).and_then(|c| init(&c, true).map(|()| c).map_err(|e| e.to_string())) {
            Ok(conn) => Ok(Loaded { value: Self::wrap(conn, Some(path)), warning: None }),
            Err(reason) => {
                let aside = aside_path(path);
                let moved = std::fs::rename(path, &aside).is_ok();
                for suffix in ["-wal", "-shm"] {
                    let side = PathBuf::from(format!("{}{suffix}", path.display()));
                    if side.exists() {
                        let _ = std::fs::rename(&side, PathBuf::from(format!("{}{suffix}", aside.display())));
                    }
                }
                let warning = if moved {
                    format!(
                        "Your call history could not be read ({reason}); Homeline started a new one and kept the old file as {}.",
                        aside.display()
                    )
                } else {
                    format!("Your call history {} could not be read ({reason}); Homeline started a new one.", path.display())
                };
                tracing::warn!("{warning}");
                let conn = Connection::open(path).map_err(|e| fail(e.to_string()))?;
                init(&conn, true).map_err(|e| fail(e.to_string()))?;
                Ok(Loaded { value: Self::wrap(conn, Some(path)), warning: Some(warning) })
            }
        }
    }

    /// A history that lives in memory only (tests, ephemeral engines).
    pub fn in_memory() -> Result<History, HistoryError> {
        let conn = Connection::open_in_memory()?;
        init(&conn, false)?;
        Ok(Self::wrap(conn, None))
    }

    fn wrap(conn: Connection, path: Option<&Path>) -> Self {
        Self { conn: Mutex::new(conn), path: path.map(Path::to_path_buf) }
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Write one finished call; returns its id.
    pub fn record(&self, entry: &CallRecord) -> Result<i64, HistoryError> {
        self.insert(entry, RowState::Ended)
    }

    /// Write a call that has just started (its `ended_at` and `end_reason`
    /// are placeholders until [`History::complete`]); returns its id.
    pub fn start(&self, entry: &CallRecord) -> Result<i64, HistoryError> {
        let state = if entry.connected_at.is_some() { RowState::Active } else { RowState::Ringing };
        let entry = CallRecord { ended_at: entry.started_at, end_reason: IN_PROGRESS_REASON.to_owned(), end_code: None, ..entry.clone() };
        self.insert(&entry, state)
    }

    /// The started call `id` was answered at `at` (ms).
    pub fn mark_connected(&self, id: i64, at: u64) -> Result<(), HistoryError> {
        self.conn().execute(
            "UPDATE calls SET connected_at = ?2, ended_at = max(ended_at, ?2), missed = 0, state = 'active'
             WHERE id = ?1 AND state IN ('ringing', 'active')",
            params![id, to_sql(at)],
        )?;
        Ok(())
    }

    /// The started call `id` ended as `entry` says (written anew if the row
    /// was deleted meanwhile).
    pub fn complete(&self, id: i64, entry: &CallRecord) -> Result<i64, HistoryError> {
        let changed = self.conn().execute(
            "UPDATE calls SET call_id = ?2, account = ?3, remote = ?4, remote_name = ?5, direction = ?6, started_at = ?7,
                 connected_at = ?8, ended_at = ?9, end_reason = ?10, end_code = ?11, missed = ?12, state = 'ended'
             WHERE id = ?1",
            params![
                id,
                entry.call_id,
                entry.account,
                entry.remote,
                entry.remote_name,
                entry.direction.as_str(),
                to_sql(entry.started_at),
                entry.connected_at.map(to_sql),
                to_sql(entry.ended_at),
                entry.end_reason,
                entry.end_code,
                entry.missed,
            ],
        )?;
        if changed == 0 {
            return self.record(entry);
        }
        Ok(id)
    }

    /// Where row `id` stands (`None`: no such row).
    pub fn state(&self, id: i64) -> Result<Option<RowState>, HistoryError> {
        let state: Option<String> = self.conn().query_row("SELECT state FROM calls WHERE id = ?1", params![id], |r| r.get(0)).optional()?;
        Ok(state.as_deref().map(RowState::parse))
    }

    fn insert(&self, entry: &CallRecord, state: RowState) -> Result<i64, HistoryError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO calls (call_id, account, remote, remote_name, direction, started_at, connected_at, ended_at, end_reason, end_code, missed, state)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                entry.call_id,
                entry.account,
                entry.remote,
                entry.remote_name,
                entry.direction.as_str(),
                to_sql(entry.started_at),
                entry.connected_at.map(to_sql),
                to_sql(entry.ended_at),
                entry.end_reason,
                entry.end_code,
                entry.missed,
                state.as_str(),
            ],
        )?;
        Ok(conn.last_insert_rowid())
    }

    /// The newest calls first. `search` matches the number or the name
    /// (case-insensitive, anywhere in it); `limit` is capped at [`MAX_LIMIT`].
    pub fn list(&self, filter: HistoryFilter, search: Option<&str>, limit: u32) -> Result<Vec<HistoryEntry>, HistoryError> {
        let where_filter = match filter {
            HistoryFilter::All => "1",
            HistoryFilter::Missed => "missed = 1",
            HistoryFilter::Incoming => "direction = 'in' AND missed = 0",
            HistoryFilter::Outgoing => "direction = 'out'",
        };
        let pattern = search.map(str::trim).filter(|s| !s.is_empty()).map(|s| format!("%{}%", escape_like(s)));
        let sql = format!(
            "SELECT id, call_id, account, remote, remote_name, direction, started_at, connected_at, ended_at, end_reason, end_code, missed
             FROM calls WHERE {where_filter}
             AND (?1 IS NULL OR remote LIKE ?1 ESCAPE '\\' OR remote_name LIKE ?1 ESCAPE '\\')
             ORDER BY started_at DESC, id DESC LIMIT ?2"
        );
        let conn = self.conn();
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt.query_map(params![pattern, limit.min(MAX_LIMIT)], |row| {
            let direction: String = row.get(5)?;
            Ok(HistoryEntry {
                id: row.get(0)?,
                record: CallRecord {
                    call_id: row.get(1)?,
                    account: row.get(2)?,
                    remote: row.get(3)?,
                    remote_name: row.get(4)?,
                    direction: if direction == "out" { Direction::Out } else { Direction::In },
                    started_at: from_sql(row.get(6)?),
                    connected_at: row.get::<_, Option<i64>>(7)?.map(from_sql),
                    ended_at: from_sql(row.get(8)?),
                    end_reason: row.get(9)?,
                    end_code: row.get::<_, Option<i64>>(10)?.and_then(|c| u16::try_from(c).ok()),
                    missed: row.get(11)?,
                },
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Forget one call. `false`: there was no such row.
    pub fn delete(&self, id: i64) -> Result<bool, HistoryError> {
        Ok(self.conn().execute("DELETE FROM calls WHERE id = ?1", params![id])? > 0)
    }

    /// Forget every call.
    pub fn clear(&self) -> Result<(), HistoryError> {
        self.conn().execute("DELETE FROM calls", [])?;
        Ok(())
    }
}

/// WAL, then every migration step not applied yet (each in a transaction).
fn init(conn: &Connection, on_disk: bool) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(2))?;
    if on_disk {
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!("call history: journal mode is {mode}, not WAL");
        }
        conn.execute_batch("PRAGMA synchronous = NORMAL;")?;
    }
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let version = usize::try_from(version).unwrap_or(usize::MAX);
    if version > MIGRATIONS.len() {
        // A newer Homeline wrote it: read what we know, change nothing.
        tracing::warn!("call history schema {version} is newer than this build knows ({})", MIGRATIONS.len());
    }
    for (step, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        conn.execute_batch(&format!("BEGIN; {sql}; PRAGMA user_version = {}; COMMIT;", step + 1))?;
    }
    // A file that is not a database fails here at the latest.
    conn.query_row("SELECT count(*) FROM calls", [], |r| r.get::<_, i64>(0)).optional()?;
    // Calls still going on when the last run stopped: nothing will end them now.
    if version <= MIGRATIONS.len() {
        conn.execute(
            "UPDATE calls SET state = 'interrupted', end_reason = ?1, ended_at = max(ended_at, coalesce(connected_at, started_at))
             WHERE state IN ('ringing', 'active')",
            params![INTERRUPTED_REASON],
        )?;
    }
    Ok(())
}

fn escape_like(s: &str) -> String {
    s.chars().take(200).fold(String::new(), |mut out, c| {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
        out
    })
}

fn to_sql(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

fn from_sql(ms: i64) -> u64 {
    u64::try_from(ms).unwrap_or_default()
}

fn aside_path(path: &Path) -> PathBuf {
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
    PathBuf::from(format!("{}.unreadable-{stamp}", path.display()))
}

#[cfg(test)]
#[allow(clippy::panic)]
mod tests {
    use super::*;

    fn call(id: &str, remote: &str, name: Option<&str>, direction: Direction, connected: bool, started_at: u64) -> CallRecord {
        CallRecord {
            call_id: id.into(),
            account: "alice@example.com".into(),
            remote: remote.into(),
            remote_name: name.map(Into::into),
            direction,
            started_at,
            connected_at: connected.then_some(started_at + 1000),
            ended_at: started_at + 5000,
            end_reason: if connected { "Hung up".into() } else { "Declined".into() },
            end_code: if connected { None } else { Some(603) },
            missed: direction == Direction::In && !connected,
        }
    }

    fn open(path: &Path) -> Loaded<History> {
        History::open(path).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn history_survives_reopen_and_filters() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("data/sub/history.sqlite");
        {
            let loaded = open(&path);
            assert!(loaded.warning.is_none());
            let h = loaded.value;
            h.record(&call("a", "+4930111", Some("Bob Stone"), Direction::Out, true, 1_000)).unwrap_or_else(|e| panic!("{e}"));
            h.record(&call("b", "2002", None, Direction::In, true, 2_000)).unwrap_or_else(|e| panic!("{e}"));
            h.record(&call("c", "3003", Some("Carol"), Direction::In, false, 3_000)).unwrap_or_else(|e| panic!("{e}"));
        }
        let h = open(&path).value;
        let all = h.list(HistoryFilter::All, None, 50).unwrap_or_default();
        assert_eq!(all.iter().map(|e| e.record.call_id.as_str()).collect::<Vec<_>>(), ["c", "b", "a"], "newest first");
        assert_eq!(all[2].record, call("a", "+4930111", Some("Bob Stone"), Direction::Out, true, 1_000));
        let ids = |f| h.list(f, None, 50).unwrap_or_default().into_iter().map(|e| e.record.call_id).collect::<Vec<_>>();
        assert_eq!(ids(HistoryFilter::Missed), ["c"]);
        assert_eq!(ids(HistoryFilter::Incoming), ["b"]);
        assert_eq!(ids(HistoryFilter::Outgoing), ["a"]);
        assert_eq!(h.list(HistoryFilter::All, None, 1).unwrap_or_default().len(), 1);
        let user_version: i64 = h.conn().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap_or_default();
        assert_eq!(user_version, MIGRATIONS.len() as i64);
        let mode: String = h.conn().query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap_or_default();
        assert_eq!(mode, "wal");
    }

    #[test]
    fn search_by_number_or_name_and_delete_clear() {
        let h = History::in_memory().unwrap_or_else(|e| panic!("{e}"));
        let a = h.record(&call("a", "+4930111", Some("Bob Stone"), Direction::Out, true, 1_000)).unwrap_or_else(|e| panic!("{e}"));
        h.record(&call("b", "2002", None, Direction::In, true, 2_000)).unwrap_or_else(|e| panic!("{e}"));
        h.record(&call("c", "50%off", Some("Carol"), Direction::In, false, 3_000)).unwrap_or_else(|e| panic!("{e}"));
        let found = |s: &str| h.list(HistoryFilter::All, Some(s), 50).unwrap_or_default().into_iter().map(|e| e.record.call_id).collect::<Vec<_>>();
        assert_eq!(found("3011"), ["a"], "part of the number");
        assert_eq!(found("bob"), ["a"], "name, any case");
        assert_eq!(found("carol"), ["c"]);
        assert_eq!(found("%"), ["c"], "wildcards are literal");
        assert_eq!(found("  "), ["c", "b", "a"], "blank search lists all");
        assert!(found("nobody").is_empty());
        assert!(h.delete(a).unwrap_or(false));
        assert!(!h.delete(a).unwrap_or(true));
        assert_eq!(found(""), ["c", "b"]);
        h.clear().unwrap_or_else(|e| panic!("{e}"));
        assert!(found("").is_empty());
    }

    #[test]
    fn a_call_is_written_when_it_starts_and_completed_when_it_ends() {
        let h = History::in_memory().unwrap_or_else(|e| panic!("{e}"));
        let mut incoming = call("i", "2002", Some("Bob"), Direction::In, false, 1_000);
        let id = h.start(&incoming).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(h.state(id).ok().flatten(), Some(RowState::Ringing));
        let listed = h.list(HistoryFilter::All, None, 10).unwrap_or_default();
        assert_eq!((listed.len(), listed[0].record.end_reason.as_str()), (1, IN_PROGRESS_REASON));
        assert!(listed[0].record.missed, "an unanswered incoming call counts as missed until answered");
        h.mark_connected(id, 1_500).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(h.state(id).ok().flatten(), Some(RowState::Active));
        let listed = h.list(HistoryFilter::Incoming, None, 10).unwrap_or_default();
        assert_eq!(listed[0].record.connected_at, Some(1_500));
        incoming.connected_at = Some(1_500);
        incoming.missed = false;
        assert_eq!(h.complete(id, &incoming).ok(), Some(id));
        assert_eq!(h.state(id).ok().flatten(), Some(RowState::Ended));
        let listed = h.list(HistoryFilter::All, None, 10).unwrap_or_default();
        assert_eq!((listed.len(), &listed[0].record), (1, &incoming), "one row, completed");
        // Deleted while going on: the end writes it anew.
        let other = call("o", "3003", None, Direction::Out, true, 2_000);
        let gone = h.start(&other).unwrap_or_else(|e| panic!("{e}"));
        assert!(h.delete(gone).unwrap_or(false));
        assert!(h.complete(gone, &other).is_ok_and(|new| new != gone));
        assert_eq!(h.list(HistoryFilter::All, None, 10).unwrap_or_default().len(), 2);
    }

    #[test]
    fn calls_going_on_when_homeline_stopped_are_marked_interrupted_on_the_next_start() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("history.sqlite");
        let (ringing, active, done) = {
            let h = open(&path).value;
            let ringing = h.start(&call("r", "1", None, Direction::In, false, 1_000)).unwrap_or_else(|e| panic!("{e}"));
            let active = h.start(&call("a", "2", None, Direction::Out, false, 2_000)).unwrap_or_else(|e| panic!("{e}"));
            h.mark_connected(active, 2_500).unwrap_or_else(|e| panic!("{e}"));
            let done = h.record(&call("d", "3", None, Direction::Out, true, 3_000)).unwrap_or_else(|e| panic!("{e}"));
            (ringing, active, done)
            // Dropped without completing: as after a crash.
        };
        let h = open(&path).value;
        assert_eq!(h.state(ringing).ok().flatten(), Some(RowState::Interrupted));
        assert_eq!(h.state(active).ok().flatten(), Some(RowState::Interrupted));
        assert_eq!(h.state(done).ok().flatten(), Some(RowState::Ended));
        let rows = h.list(HistoryFilter::All, None, 10).unwrap_or_default();
        let row = |id: &str| rows.iter().find(|r| r.record.call_id == id).map(|r| r.record.clone()).unwrap_or_else(|| panic!("{id} missing"));
        assert_eq!(row("a").end_reason, INTERRUPTED_REASON);
        assert_eq!((row("a").connected_at, row("a").ended_at), (Some(2_500), 2_500), "it lasted at least until it connected");
        assert!(row("r").missed, "an incoming call never answered stays missed");
        assert_eq!(row("d").end_reason, "Hung up");
    }

    #[test]
    fn a_corrupt_database_is_moved_aside_and_a_fresh_one_made() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("history.sqlite");
        std::fs::write(&path, vec![0x42u8; 8192]).unwrap_or_else(|e| panic!("{e}"));
        let loaded = open(&path);
        let warning = loaded.warning.unwrap_or_default();
        assert!(warning.contains("could not be read"), "{warning}");
        loaded.value.record(&call("x", "1", None, Direction::Out, true, 1)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(loaded.value.list(HistoryFilter::All, None, 10).unwrap_or_default().len(), 1);
        let kept = std::fs::read_dir(dir.path())
            .unwrap_or_else(|e| panic!("{e}"))
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().contains("unreadable"))
            .count();
        assert_eq!(kept, 1, "the bad file is kept for the user");
    }
}
